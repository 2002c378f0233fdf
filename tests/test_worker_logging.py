"""A worker's log lines stay masked: Faust's worker must not replace dawn's log handler."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from dawn import logs
from streams.app import create_app
from streams.worker import make_worker


def test_phone_numbers_stay_masked_once_the_worker_sets_up(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        _check(tmp_path)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _check(tmp_path: Path) -> None:
    stream = io.StringIO()
    logs.configure("INFO", "text", stream=stream)
    app = create_app("test-logging", "127.0.0.1:9", data_dir=tmp_path)
    worker = make_worker(app)
    if worker.override_logging:  # what mode does when the worker first starts
        worker._setup_logging()
    logging.getLogger("dawn.sender").warning("send to 919812345678 failed")
    assert "9198******78" in stream.getvalue()
    assert "919812345678" not in stream.getvalue()
