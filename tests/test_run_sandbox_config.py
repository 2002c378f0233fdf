"""``dawn run --sandbox-config FILE``: an operator's world, or one clear line about the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dawn.cli import main
from dawn.morning.world import given_world
from sandbox.loader import load_config_file

SAMPLE = Path(__file__).resolve().parents[1] / "sandbox" / "sample_config.json"


@pytest.mark.parametrize("content,says", [
    ("{not json", "is not JSON"),
    (json.dumps({"limits": {"burst": -1}}), "is not a sandbox world"),
    (json.dumps({"no_such_key": 1}), "is not a sandbox world"),
])
def test_a_bad_world_file_is_one_line_and_exit_2(tmp_path: Path, content: str, says: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "world.json"
    path.write_text(content)
    assert main(["run", "--sandbox-config", str(path)]) == 2
    out = capsys.readouterr()
    assert says in out.out and "Traceback" not in out.out + out.err


def test_a_missing_world_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--sandbox-config", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().out


def test_the_given_world_keeps_everything_but_where_webhooks_go() -> None:
    config = load_config_file(SAMPLE)
    given = given_world(config, callback_url="http://127.0.0.1:9/webhooks/whatsapp", app_secret="s3")
    assert given.webhooks.callback_url.endswith(":9/webhooks/whatsapp")
    assert given.webhooks.app_secret == "s3"
    assert config.access_token and given.access_token == "", "the morning's clients carry no token"
    assert given.numbers == config.numbers and given.faults == config.faults
    assert given.limits == config.limits
    assert {k: v for k, v in vars(given.webhooks).items() if k not in ("callback_url", "app_secret")} \
        == {k: v for k, v in vars(config.webhooks).items() if k not in ("callback_url", "app_secret")}
