"""Child processes that die with their parent.

Every embedded service is started through :func:`spawn`, which asks the Linux kernel to SIGTERM
the child if the parent dies for any reason, SIGKILL included (``PR_SET_PDEATHSIG``). ``atexit``
and signal handlers cover normal exits and Ctrl-C; the death signal covers a crashed or killed
parent, which is what leaves orphaned brokers and databases behind otherwise.

The code between fork and exec runs in a copy of a possibly multi-threaded process, where a lock
held by another thread (the dynamic loader's, the allocator's) is never released: so ``prctl`` is
looked up once at import, and the child only calls it and ``getppid``. A parent that dies before
``prctl`` takes effect would never send the signal; the child sees it has been re-parented and
exits instead of running unowned.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("dawn.embedded")

_PR_SET_PDEATHSIG = 1
_SIGTERM = int(signal.SIGTERM)


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()


def _die_with_parent(parent_pid: int) -> None:  # runs in the child between fork and exec
    if _PRCTL is None:
        return
    _PRCTL(_PR_SET_PDEATHSIG, _SIGTERM)
    if os.getppid() != parent_pid:  # the parent is already gone: no signal will ever come
        os._exit(1)


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as ``user`` with that user's own group only.

    Popen's ``user`` alone keeps the parent's group and supplementary groups: a child of root would
    still read and traverse whatever root's group may.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn(
    argv: list[str], log_path: Path, env: dict[str, str] | None = None, user: str | None = None
) -> subprocess.Popen:
    """Start ``argv`` (as ``user`` if given) with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its whole life
    try:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            process_group=0,  # Ctrl-C in a terminal goes to the parent only; it stops us in order
            preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            **as_user(user),
        )
    finally:
        out.close()


def stop(proc: subprocess.Popen, name: str, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Ask a child to stop, wait, and kill it if it does not."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0f s; killing it", name, timeout)
        proc.kill()
        proc.wait(timeout=5)
