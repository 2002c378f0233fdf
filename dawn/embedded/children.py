"""Child processes that die with their parent.

Every embedded service is started through :func:`spawn`, which asks the Linux kernel to SIGTERM
the child if the parent dies for any reason, SIGKILL included (``PR_SET_PDEATHSIG``). ``atexit``
and signal handlers cover normal exits and Ctrl-C; the death signal covers a crashed or killed
parent, which is what leaves orphaned brokers and databases behind otherwise.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("dawn.embedded")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in a terminal goes to the parent only; the parent stops us in order


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
            user=user,
            preexec_fn=_die_with_parent,
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
