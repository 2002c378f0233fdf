"""The fleet file: what it accepts, and a clear error naming the file and the key otherwise."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from dawn import cli
from streams.quality.fleet import Fleet, FleetEntry, FleetFileError


def test_roles_rates_and_warm_up_are_read_and_unnamed_numbers_get_the_default(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({"default_role": "SPARE", "numbers": {
        "1": {"role": "PRIMARY", "mps": 40}, "2": {"role": "WARMING", "warmup_start": "2026-11-20"}}}))
    fleet = Fleet.load(path)
    assert fleet.entry("1") == FleetEntry("PRIMARY", 40.0)
    assert fleet.entry("2") == FleetEntry("WARMING", None, date(2026, 11, 20))
    assert fleet.entry("3") == FleetEntry("SPARE")
    assert Fleet.load(None).entry("x") == FleetEntry("PRIMARY")


@pytest.mark.parametrize(("data", "message"), [
    ({"numbers": {"1": {"role": "SPAR"}}}, "number 1: role must be one of"),
    ({"numbers": {"1": {"mps": -3}}}, "number 1: mps must be a positive number"),
    ({"numbers": {"1": {"mps": True}}}, "mps must be a positive number"),
    ({"numbers": {"1": {"role": "WARMING"}}}, "a WARMING number needs warmup_start"),
    ({"numbers": {"1": {"role": "WARMING", "warmup_start": "soon"}}}, "YYYY-MM-DD"),
    ({"numbers": {"1": {"rol": "SPARE"}}}, "unknown keys rol"),
    ({"numbers": []}, "numbers must be an object"),
    ([], "expected a JSON object"),
])
def test_mistakes_are_named(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(data))
    with pytest.raises(FleetFileError, match=message):
        Fleet.load(path)


def test_the_worker_refuses_a_bad_fleet_file_without_a_traceback(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fleet.json"
    path.write_text("{not json")
    monkeypatch.setenv("DAWN_FLEET_FILE", str(path))
    with pytest.raises(SystemExit, match=r"fleet file .*fleet.json: not JSON"):
        cli.main(["worker", "--bootstrap", "127.0.0.1:1", "--database-url", "postgresql://x@127.0.0.1:1/x"])
