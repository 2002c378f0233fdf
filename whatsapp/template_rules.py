"""Meta's rules for a template submission, checked locally before anything is sent.

A rejected submission costs a day or more of review (and an edit is allowed once per 24 h), so
every rule Meta states for ``POST /{waba-id}/message_templates`` that can be checked offline is
checked here, and every problem is reported at once with where it is:

- name: lowercase letters, digits and underscores, at most 512 characters;
- category: MARKETING or UTILITY (AUTHENTICATION templates need one-time-password buttons, which a
  content pack never has);
- body: 1 to 1024 characters per language; named parameters ``{{name}}`` (lowercase letters,
  digits, underscores, starting with a letter), one example each; a parameter may not start or
  end the body, and two parameters may not touch (Meta rejects "floating" parameters);
- header image: JPEG or PNG, at most 5 MB, needed as the example Meta reviews;
- footer: at most 60 characters, no parameters;
- ``ttl_seconds`` (the message time-to-live of the Marketing Messages API): MARKETING only, 12 h
  to 30 days.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

NAME = re.compile(r"^[a-z0-9_]+$")
MAX_NAME = 512
MAX_BODY = 1024
MAX_FOOTER = 60
MAX_EXAMPLE = 200
MAX_HEADER_IMAGE = 5 * 1024 * 1024
#: Message time-to-live a MARKETING template may set for the Marketing Messages API: 12 h to 30 days.
MARKETING_TTL_S = (12 * 3600, 30 * 24 * 3600)
CATEGORIES = ("MARKETING", "UTILITY")
LANGUAGES = ("en", "hi", "mr")
_PARAMETER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_IMAGE_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class TemplateRuleError(ValueError):
    """A submission that would be rejected, with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("template spec not valid:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CheckedSpec:
    """A spec that passed every local rule."""

    name: str
    category: str
    texts: dict[str, str]  # language code -> body text
    examples: dict[str, str]  # parameter name -> example value
    header_image: bytes | None = None
    footer: str | None = None
    variant_of: str | None = None
    ttl_seconds: int | None = None


def image_type(data: bytes) -> str | None:
    return next((mime for magic, mime in _IMAGE_MAGIC.items() if data.startswith(magic)), None)


def check_spec(doc: Any, header_image: bytes | None) -> CheckedSpec:
    """The spec if Meta's offline-checkable rules hold; TemplateRuleError lists what does not."""
    if not isinstance(doc, dict):
        raise TemplateRuleError([f"a template spec is a JSON object, not {type(doc).__name__}"])
    problems: list[str] = []
    name = doc.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append("name: lowercase letters, digits and underscores only (e.g. daily_pack_v2)")
    elif len(name) > MAX_NAME:
        problems.append(f"name: at most {MAX_NAME} characters")
    category = doc.get("category", "MARKETING")
    if category not in CATEGORIES:
        problems.append(f"category: one of {', '.join(CATEGORIES)}")
    examples = doc.get("parameters") or {}
    if not isinstance(examples, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in examples.items()):
        problems.append("parameters: an object of parameter name -> example text")
        examples = {}
    for param, example in examples.items():
        if not _PARAMETER_NAME.match(param):
            problems.append(f"parameters.{param}: lowercase letters, digits and underscores, "
                            "starting with a letter")
        if not example.strip():
            problems.append(f"parameters.{param}: the example must not be empty")
        elif len(example) > MAX_EXAMPLE:
            problems.append(f"parameters.{param}: the example is longer than {MAX_EXAMPLE} characters")
    texts = doc.get("texts")
    if not isinstance(texts, Mapping) or not texts:
        problems.append(f"texts: an object of language ({', '.join(LANGUAGES)}) -> body text")
        texts = {}
    for language, text in texts.items():
        problems += _check_body(language, text, examples)
    footer = doc.get("footer")
    if footer is not None and (not isinstance(footer, str) or len(footer) > MAX_FOOTER
                               or _PARAMETER.search(footer)):
        problems.append(f"footer: text of at most {MAX_FOOTER} characters, without parameters")
    if doc.get("header_image") and header_image is None:
        problems.append("header_image: the file could not be read")
    if header_image is not None:
        if image_type(header_image) is None:
            problems.append("header_image: must be a JPEG or PNG file")
        if len(header_image) > MAX_HEADER_IMAGE:
            problems.append(f"header_image: larger than {MAX_HEADER_IMAGE // (1024 * 1024)} MB")
    variant_of = doc.get("variant_of")
    if variant_of is not None and (not isinstance(variant_of, str) or not NAME.match(variant_of)):
        problems.append("variant_of: the name of the template this one replaces")
    if variant_of is not None and variant_of == name:
        problems.append("variant_of: a resubmission needs a new name (Meta keeps rejected names)")
    ttl = doc.get("ttl_seconds")
    low, high = MARKETING_TTL_S
    if ttl is not None and (category != "MARKETING" or isinstance(ttl, bool) or not isinstance(ttl, int)
                            or not low <= ttl <= high):
        problems.append(f"ttl_seconds: MARKETING templates only, {low} to {high} seconds (12 h to 30 days)")
    if problems:
        raise TemplateRuleError(problems)
    return CheckedSpec(name=name, category=category, texts=dict(texts), examples=dict(examples),
                       header_image=header_image, footer=footer, variant_of=variant_of, ttl_seconds=ttl)


def _check_body(language: Any, text: Any, examples: Mapping[str, str]) -> list[str]:
    where = f"texts.{language}"
    if language not in LANGUAGES:
        return [f"{where}: language must be one of {', '.join(LANGUAGES)}"]
    if not isinstance(text, str) or not text.strip():
        return [f"{where}: body text required"]
    problems = []
    if len(text) > MAX_BODY:
        problems.append(f"{where}: {len(text)} characters, at most {MAX_BODY}")
    found = list(_PARAMETER.finditer(text))
    for match in found:
        param = match.group(1)
        if param.isdigit():
            problems.append(f"{where}: {{{{{param}}}}} is positional; use named parameters "
                            "like {{advisor_name}}")
        elif param not in examples:
            problems.append(f"{where}: parameter {{{{{param}}}}} has no example in parameters")
    stripped = text.strip()
    if found and (stripped.startswith("{{") or stripped.endswith("}}")):
        problems.append(f"{where}: the body may not start or end with a parameter")
    for before, after in pairwise(found):
        if not text[before.end():after.start()].strip():
            problems.append(f"{where}: parameters {before.group(0)} and {after.group(0)} touch; "
                            "put words between them")
    unused = set(examples) - {m.group(1) for m in found}
    if unused:
        problems.append(f"{where}: parameters {', '.join(sorted(unused))} are not in the text")
    return problems
