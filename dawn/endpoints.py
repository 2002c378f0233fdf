"""``<run_dir>/endpoints.json``: how other ``dawn`` commands find a running ``dawn up``.

The embedded broker listens on a port the OS picked, so a second terminal cannot guess it. ``dawn
up`` writes its addresses and process ids here once everything is ready and removes the file when
it stops; a file left by a killed ``dawn up`` is recognised as stale by its dead pid.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_NAME = "endpoints.json"


@dataclass(frozen=True)
class Endpoints:
    pid: int
    kafka_bootstrap: str
    database_url: str  # password redacted: the file is for finding services, not for secrets
    children: dict[str, int] = field(default_factory=dict)  # name -> pid of the embedded services


def path(run_dir: Path) -> Path:
    return run_dir / FILE_NAME


def write(run_dir: Path, endpoints: Endpoints) -> Path:
    """Write atomically, so a reader never sees half a file."""
    target = path(run_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(endpoints), indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def remove(run_dir: Path, pid: int) -> None:
    """Remove the file if it is ``pid``'s, so a second ``dawn up`` sharing the run dir keeps its own."""
    current = read(run_dir)
    if current is not None and current.pid == pid:
        path(run_dir).unlink(missing_ok=True)


def read(run_dir: Path) -> Endpoints | None:
    """The endpoints of the ``dawn up`` running with ``run_dir``, or None if there is none."""
    try:
        doc = json.loads(path(run_dir).read_text(encoding="utf-8"))
        endpoints = Endpoints(**doc)
    except (OSError, ValueError, TypeError):
        return None
    return endpoints if _alive(endpoints.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
