"""Made-up advisors for ``dawn run`` and demos: a realistic mix, the same for the same seed.

Half English, three tenths Hindi, a fifth Marathi (roughly the platform's mix), with names written
the way those advisors write them (Devanagari for Hindi and Marathi), Indian mobile numbers, and
a registration as an AMFI distributor (ARN) or a SEBI registered investment adviser (INA...),
everyone opted in by the demo import, since a demo morning of nobody would show nothing.
"""

from __future__ import annotations

import random

from store.advisors import AdvisorRow

FIRST = {
    "EN": ("Aarav", "Ananya", "Rohan", "Priya", "Vikram", "Neha", "Arjun", "Kavya", "Siddharth", "Meera"),
    "HI": ("राहुल", "पूजा", "अमित", "सुनीता", "विकास", "अंजलि", "मनोज", "रीना", "संजय", "कविता"),
    "MR": ("प्रिया", "सचिन", "स्नेहा", "अजय", "मृणाल", "गणेश", "अश्विनी", "तुषार", "वैशाली", "निखिल"),
}
LAST = {
    "EN": ("Sharma", "Iyer", "Menon", "Rao", "Kapoor", "Nair", "Gupta", "Reddy", "Shah", "Das"),
    "HI": ("वर्मा", "शर्मा", "सिंह", "यादव", "गुप्ता", "मिश्रा", "चौहान", "त्रिपाठी", "पांडे", "जैन"),
    "MR": ("देशपांडे", "पाटील", "कुलकर्णी", "जोशी", "गायकवाड", "शिंदे", "पवार", "भोसले", "जाधव", "साठे"),
}
MIX = (("EN", 0.5), ("HI", 0.3), ("MR", 0.2))
#: Roughly the platform's mix: most are mutual fund distributors, some registered advisers.
REGISTRATIONS = (("AMFI_ARN", 0.7), ("SEBI_RIA", 0.3))


def demo_advisors(n: int, seed: int = 0) -> list[AdvisorRow]:
    """``n`` opted-in advisors ADV000001.. with unique 91XXXXXXXXXX numbers."""
    rng = random.Random(seed)
    languages = [lang for lang, _ in MIX]
    weights = [w for _, w in MIX]
    phones: set[str] = set()
    out = []
    for i in range(1, n + 1):
        language = rng.choices(languages, weights)[0]
        phone = f"91{rng.choice('6789')}{rng.randrange(10**9):09d}"
        while phone in phones:
            phone = f"91{rng.choice('6789')}{rng.randrange(10**9):09d}"
        phones.add(phone)
        name = f"{rng.choice(FIRST[language])} {rng.choice(LAST[language])}"
        kind = rng.choices([k for k, _ in REGISTRATIONS], [w for _, w in REGISTRATIONS])[0]
        number = f"ARN-{rng.randrange(1000, 300000)}" if kind == "AMFI_ARN" \
            else f"INA{rng.randrange(10**9):09d}"
        out.append(AdvisorRow(f"ADV{i:06d}", name, phone, None, language, "OPTED_IN", False, None,
                              registered_name=name, registration_type=kind,
                              registration_number=number))
    return out
