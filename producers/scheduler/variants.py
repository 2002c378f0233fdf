"""Which language variant of a pack an advisor gets.

Their own language when the pack has it and its template is approved in that language at Meta;
otherwise English, because sending a template/language pair Meta has not approved fails with
132001 for every recipient, which costs the morning more than a message in the wrong language.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from producers.scheduler.template_choice import pool

FALLBACK_LANGUAGE = "EN"


def choose_variant(
    pack: Mapping[str, Any], language: str, approved: Collection[tuple[str, str]] | None
) -> Mapping[str, Any] | None:
    """The pack variant for an advisor speaking ``language``, or None when no variant may be sent.

    ``approved`` holds the (template_name, template_language) pairs Meta has approved; None means
    the template states are unknown and the compliance approval of the pack is trusted as is. A
    variant may be sent when its primary or any of its backups is approved.
    """
    by_language = {v["language"]: v for v in pack["variants"]}
    for wanted in (language, FALLBACK_LANGUAGE):
        variant = by_language.get(wanted)
        if variant is not None and (approved is None or any(p in approved for p in pool(variant))):
            return variant
    return None
