"""Loading a sandbox world from JSON: ``config``'s dataclasses, with ``faults`` started from its profile.

Kept out of ``config`` because a fault profile (``faults``) aims its events at the world's numbers
and templates, so it needs the config's types; with the loader here, ``faults`` imports ``config``
and nothing imports back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig, build
from sandbox.faults import resolve_faults


def load_config(data: dict[str, Any]) -> SandboxConfig:
    """Build from parsed JSON, rejecting unknown keys; ``faults`` starts from its ``profile``."""
    data = dict(data)
    faults = data.pop("faults", {})
    config = build(SandboxConfig, data, "config")
    config.faults = resolve_faults(faults, config.numbers, config.templates)
    config.check_targets(config.faults.events)
    return config


def load_config_file(path: str | Path) -> SandboxConfig:
    """A sandbox world from a JSON file (``dawn sandbox --config``)."""
    return load_config(json.loads(Path(path).read_text(encoding="utf-8")))
