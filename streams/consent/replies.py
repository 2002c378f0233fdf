"""The confirmation sent back after a consent command, in the advisor's language.

The reply states where the advisor now stands rather than echoing the command, so a PAUSE sent by
someone who is not subscribed gets a true answer ("you are not subscribed") instead of a false one.
It is free-form text, allowed because the advisor's own message just opened the 24-hour window.
"""

from __future__ import annotations

REPLIES: dict[str, dict[str, str]] = {
    "STOPPED": {
        "EN": "You will no longer receive your daily content from us. Send START to subscribe again.",
        "HI": "अब आपको हमारी दैनिक सामग्री नहीं भेजी जाएगी। फिर से पाने के लिए START या शुरू भेजें।",
        "MR": "आता तुम्हाला आमची दैनिक सामग्री पाठवली जाणार नाही. पुन्हा मिळवण्यासाठी START किंवा सुरू पाठवा.",
    },
    "OPTED_IN": {
        "EN": "You are subscribed to your daily content. Send STOP to unsubscribe or PAUSE to pause.",
        "HI": "आपकी दैनिक सामग्री चालू है। बंद करने के लिए STOP या बंद, रोकने के लिए PAUSE भेजें।",
        "MR": "तुमची दैनिक सामग्री सुरू आहे. बंद करण्यासाठी STOP किंवा थांबवा, विरामासाठी PAUSE पाठवा.",
    },
    "PAUSED": {
        "EN": "Your daily content is paused. Send RESUME to continue.",
        "HI": "आपकी दैनिक सामग्री रोक दी गई है। फिर से पाने के लिए RESUME भेजें।",
        "MR": "तुमची दैनिक सामग्री थांबवून ठेवली आहे. पुन्हा सुरू करण्यासाठी RESUME पाठवा.",
    },
    "NONE": {
        "EN": "You are not subscribed. Send START to subscribe.",
        "HI": "आप सदस्य नहीं हैं। सदस्यता के लिए START या शुरू भेजें।",
        "MR": "तुम्ही सदस्य नाही. सदस्य होण्यासाठी START किंवा सुरू पाठवा.",
    },
}


def reply_for(state: str, language: str) -> str:
    """The confirmation text for an advisor now in ``state``; English when the language is unknown."""
    by_language = REPLIES[state]
    return by_language.get(language, by_language["EN"])
