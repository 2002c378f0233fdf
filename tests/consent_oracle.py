"""The consent rules as the README states them, for the property tests' oracle.

Nothing here comes from ``streams.consent``: the phrases are read from the README's "Consent
commands" table and the transitions are written from its "effect" column, so a phrase dropped
from the code, a wrong transition, or a normalisation that misses a case the README promises
shows up as a disagreement instead of being copied into the expectation.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = ("STOP", "START", "PAUSE", "RESUME")
POLITE = ("please", "कृपया")


def readme_phrases() -> dict[str, list[str]]:
    """command -> every phrase in its row of the README table (transliterations in parentheses
    included), e.g. ``| STOP | ... | stop, quit | बंद (band) | थांबवा |``."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("Consent commands"):]
    out: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] not in COMMANDS:
            continue
        phrases: list[str] = []
        for cell in cells[2:]:
            inside = re.findall(r"\(([^)]*)\)", cell)
            outside = re.sub(r"\([^)]*\)", "", cell)
            for part in [outside, *inside]:
                phrases += [p.strip() for p in part.split(",") if p.strip()]
        out[cells[0]] = phrases
    assert set(out) == set(COMMANDS), f"the README's consent table changed shape: {sorted(out)}"
    return out


def after(state: str, command: str) -> str:
    """The README's "effect" column: STOP and START from any state, PAUSE only from OPTED_IN,
    RESUME only from PAUSED; anything else leaves the state as it was."""
    if command == "STOP":
        return "STOPPED"
    if command == "START":
        return "OPTED_IN"
    if command == "PAUSE" and state == "OPTED_IN":
        return "PAUSED"
    if command == "RESUME" and state == "PAUSED":
        return "OPTED_IN"
    return state


def dress(phrase: str, *, upper: bool, punctuation: str, polite: bool, spaces: int) -> str:
    """A phrase as an advisor might type it: the README promises any case, spacing and
    punctuation, and "please"/"कृपया" around it, still count."""
    text = phrase.upper() if upper else phrase
    text = (" " * spaces).join(text.split(" ")) if spaces > 1 else text
    if polite:
        text = f"{POLITE[len(phrase) % 2]} {text}"
    return f"  {text}{punctuation} "
