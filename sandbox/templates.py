"""Message templates as Meta keeps them: one variant per (name, language), each with its own id,
status and quality, checked on every send the way the Cloud API checks them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.config import CATEGORIES, TemplateConfig
from sandbox.graph_errors import GraphError

_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_NAMED_VAR = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_POSITIONAL_VAR = re.compile(r"\{\{\s*(\d+)\s*\}\}")
#: Meta pauses a low-quality template for 3 h, then 6 h; the third time it is disabled.
PAUSE_HOURS = (3, 6)

Params = dict[str, str] | list[str]


@dataclass
class Template:
    id: str
    name: str
    language: str
    category: str
    status: str
    quality: str
    parameter_format: str
    parameters: list[str]
    header_format: str
    paced: bool
    cards: int = 0
    components: list[dict[str, Any]] = field(default_factory=list)
    pause_count: int = 0
    read_rate: float | None = None
    reason: str = "NONE"

    def listing(self, fields: list[str] | None) -> dict[str, Any]:
        """This variant as ``GET /{waba_id}/message_templates`` lists it."""
        doc: dict[str, Any] = {
            "name": self.name, "language": self.language, "status": self.status,
            "category": self.category, "quality_score": {"score": self.quality},
            "parameter_format": self.parameter_format.upper(), "components": self.components,
        }
        if self.status == "REJECTED":
            doc["rejected_reason"] = self.reason
        if fields:
            doc = {k: v for k, v in doc.items() if k in fields}
        doc["id"] = self.id
        return doc


def template_id(name: str, language: str) -> str:
    """A stable numeric id, so a template keeps its id across sandbox restarts and resets."""
    digest = hashlib.blake2b(f"{name}:{language}".encode(), digest_size=8).digest()
    return str(10**15 + int.from_bytes(digest, "big") % (9 * 10**15))


def _config_components(cfg: TemplateConfig) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = []
    if cfg.header_format != "NONE":
        components.append({"type": "HEADER", "format": cfg.header_format})
    if cfg.parameter_format == "named":
        slots = " ".join(f"{{{{{p}}}}}" for p in cfg.parameters)
    else:
        slots = " ".join(f"{{{{{i}}}}}" for i in range(1, len(cfg.parameters) + 1))
    components.append({"type": "BODY", "text": f"Good morning {slots}, here is today's pack.".strip()})
    if cfg.cards:
        components.append({"type": "CAROUSEL", "cards": [
            {"components": [{"type": "HEADER", "format": "IMAGE"}]} for _ in range(cfg.cards)]})
    return components


class Templates:
    def __init__(self, configs: list[TemplateConfig]) -> None:
        self.variants: dict[tuple[str, str], Template] = {}
        self.by_id: dict[str, Template] = {}
        for cfg in configs:
            for language in cfg.languages:
                self._add(Template(
                    id=template_id(cfg.name, language), name=cfg.name, language=language,
                    category=cfg.category, status=cfg.status, quality=cfg.quality,
                    parameter_format=cfg.parameter_format, parameters=list(cfg.parameters),
                    header_format=cfg.header_format, paced=cfg.paced, cards=cfg.cards,
                    components=_config_components(cfg), read_rate=cfg.read_rate))

    def _add(self, template: Template) -> None:
        self.variants[(template.name, template.language)] = template
        self.by_id[template.id] = template

    def named(self, name: str, language: str = "") -> list[Template]:
        return [t for (n, lang), t in self.variants.items()
                if n == name and (not language or lang == language)]

    # -- sending ------------------------------------------------------------------------------

    def check_send(self, spec: Any) -> tuple[Template, list[str], Params]:
        """The variant a send's ``template`` object names, the media ids of its images (the
        header's, or each carousel card's; links are not ids) and the body parameters; raises
        what Meta would."""
        if not isinstance(spec, dict):
            raise GraphError(131008, "template is required for type template")
        name = spec.get("name")
        language = spec.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(name, str) or not isinstance(code, str):
            raise GraphError(131008, "template.name and template.language.code are required")
        template = self.variants.get((name, code))
        if template is None or template.status in ("PENDING", "REJECTED"):
            raise GraphError(132001, f"template name ({name}) does not exist in {code}")
        if template.status == "PAUSED":
            raise GraphError(132015, f"template {name} ({code}) is paused")
        if template.status == "DISABLED":
            raise GraphError(132016, f"template {name} ({code}) is disabled")
        components = spec.get("components") or []
        if not isinstance(components, list):
            raise GraphError(131009, "template.components must be a list")
        by_type = {str(c.get("type", "")).lower(): c for c in components if isinstance(c, dict)}
        media_id = self._check_header(template, by_type.get("header"))
        media_ids = [media_id] if media_id else []
        media_ids += self._check_carousel(template, by_type.get("carousel"))
        params = self._check_body(template, by_type.get("body"))
        return template, media_ids, params

    @staticmethod
    def _check_carousel(template: Template, carousel: dict[str, Any] | None) -> list[str]:
        """Meta answers 132012 when the cards sent do not match the approved template: a card
        count other than the template's, card indexes out of order, a header not an image."""
        if not template.cards:
            if carousel is not None:
                raise GraphError(132012, f"template {template.name} has no carousel")
            return []
        cards = carousel.get("cards") if carousel else None
        if not isinstance(cards, list) or len(cards) != template.cards:
            received = len(cards) if isinstance(cards, list) else 0
            raise GraphError(132012, f"carousel: the template has {template.cards} cards, "
                             f"received {received}")
        if sorted(c.get("card_index") if isinstance(c, dict) else None for c in cards) \
                != list(range(template.cards)):
            raise GraphError(132012, "carousel: card_index must number the cards 0 to "
                             f"{template.cards - 1}, once each")
        media_ids = []
        for card in sorted(cards, key=lambda c: c["card_index"]):
            parts = card.get("components")
            headers = [c for c in parts if isinstance(c, dict) and str(c.get("type")).lower() == "header"] \
                if isinstance(parts, list) else []
            params = headers[0].get("parameters") if headers else None
            first = params[0] if isinstance(params, list) and params else None
            image = first.get("image") if isinstance(first, dict) and first.get("type") == "image" \
                else None
            if not isinstance(image, dict) or not (image.get("id") or image.get("link")):
                raise GraphError(132012, f"carousel card {card['card_index']}: expected an IMAGE "
                                 "header parameter with an id or a link")
            if image.get("id"):
                media_ids.append(str(image["id"]))
        return media_ids

    @staticmethod
    def _check_header(template: Template, header: dict[str, Any] | None) -> str | None:
        if template.header_format != "IMAGE":
            if header is not None:
                raise GraphError(132012, f"template {template.name} has no {template.header_format} "
                                 "header parameter to fill")
            return None
        params = header.get("parameters") if header else None
        first = params[0] if isinstance(params, list) and params else None
        image = first.get("image") if isinstance(first, dict) and first.get("type") == "image" else None
        if not isinstance(image, dict) or not (image.get("id") or image.get("link")):
            raise GraphError(132012, "header: expected an IMAGE parameter with an id or a link")
        media_id = image.get("id")
        return str(media_id) if media_id else None

    @staticmethod
    def _check_body(template: Template, body: dict[str, Any] | None) -> Params:
        raw = body.get("parameters") if body else []
        if not isinstance(raw, list):
            raise GraphError(131009, "body.parameters must be a list")
        texts: list[tuple[str | None, str]] = []
        for p in raw:
            if not isinstance(p, dict) or p.get("type") != "text" or not isinstance(p.get("text"), str):
                raise GraphError(131009, "body parameters must be {type: text, text: ...}")
            if not p["text"]:
                raise GraphError(131008, "body parameter text is empty")
            texts.append((p.get("parameter_name"), p["text"]))
        expected = template.parameters
        if template.parameter_format == "positional":
            if len(texts) != len(expected) or any(name for name, _ in texts):
                raise GraphError(132000, f"body: expected {len(expected)} positional parameters, "
                                 f"received {len(texts)}")
            return [text for _, text in texts]
        named = {name: text for name, text in texts if name}
        if len(named) != len(texts) or set(named) != set(expected):
            raise GraphError(132000, f"body: expected parameters {sorted(expected)}, received "
                             f"{sorted(str(n) for n, _ in texts)}")
        return named

    # -- management -------------------------------------------------------------------------

    def create(self, body: Any, known_handles: set[str]) -> Template:
        """A new PENDING variant from a ``POST /{waba_id}/message_templates`` body."""
        if not isinstance(body, dict):
            raise GraphError(100, "the request body must be a JSON object")
        name, language, category = body.get("name"), body.get("language"), body.get("category")
        if not isinstance(name, str) or not _NAME.match(name):
            raise GraphError(100, "name must be 1-512 lowercase letters, digits and underscores")
        if not isinstance(language, str) or not language:
            raise GraphError(100, "language is required")
        if category not in CATEGORIES:
            raise GraphError(100, f"category must be one of {', '.join(CATEGORIES)}")
        if (name, language) in self.variants:
            raise GraphError(100, f"Content in this language already exists: {name} ({language})",
                             subcode=2388024)
        components = body.get("components")
        if not isinstance(components, list):
            raise GraphError(100, "components must be a list")
        by_type = {str(c.get("type", "")).upper(): c for c in components if isinstance(c, dict)}
        header_format = self._created_header(by_type.get("HEADER"), known_handles)
        named = body.get("parameter_format", "positional") == "named"
        parameters = self._created_params(by_type.get("BODY"), named)
        template = Template(
            id=template_id(name, language), name=name, language=language, category=category,
            status="PENDING", quality="UNKNOWN",
            parameter_format="named" if named else "positional", parameters=parameters,
            header_format=header_format, paced=False, components=components)
        self._add(template)
        return template

    @staticmethod
    def _created_header(header: dict[str, Any] | None, known_handles: set[str]) -> str:
        if header is None:
            return "NONE"
        fmt = str(header.get("format", "")).upper()
        if fmt == "IMAGE":
            example = header.get("example")
            handles = example.get("header_handle") if isinstance(example, dict) else None
            if not isinstance(handles, list) or not handles or handles[0] not in known_handles:
                raise GraphError(100, "an IMAGE header needs example.header_handle from the "
                                 "Resumable Upload API")
            return "IMAGE"
        if fmt == "TEXT":
            return "TEXT"
        raise GraphError(100, f"unsupported header format {fmt!r}")

    @staticmethod
    def _created_params(body: dict[str, Any] | None, named: bool) -> list[str]:
        text = body.get("text") if body else None
        if not isinstance(text, str) or not text:
            raise GraphError(100, "a BODY component with text is required")
        example = body.get("example") if body else None
        if named:
            names = list(dict.fromkeys(_NAMED_VAR.findall(text)))
            given = example.get("body_text_named_params") if isinstance(example, dict) else None
            examples = {e.get("param_name") for e in given or [] if isinstance(e, dict)}
            if names and examples != set(names):
                raise GraphError(100, "body_text_named_params must give one example per parameter")
            return names
        slots = sorted({int(n) for n in _POSITIONAL_VAR.findall(text)})
        if slots != list(range(1, len(slots) + 1)):
            raise GraphError(100, "positional parameters must be {{1}}, {{2}}, ... in sequence")
        given = example.get("body_text") if isinstance(example, dict) else None
        if slots and not (isinstance(given, list) and given and len(given[0]) == len(slots)):
            raise GraphError(100, "body_text must give one example per parameter")
        return [str(n) for n in slots]
