"""Template lifecycle (issue 12): ``dawn templates submit`` checks Meta's rules offline, submits
to the sandbox over HTTP, and the templates agent (in ``dawn worker``, without its poller) tracks
the template to APPROVED or REJECTED through the sandbox's signed status webhooks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dawn import cli
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from sandbox.config import SandboxConfig, WebhookConfig
from sandbox.server import SandboxServer
from tests import sender_morning as m
from whatsapp.template_rules import TemplateRuleError, check_spec

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 512


def spec(name: str, **changes: object) -> dict:
    doc = {
        "name": name, "category": "MARKETING", "header_image": "header.jpg",
        "parameters": {"advisor_name": "Asha"},
        "texts": {"en": "Good morning {{advisor_name}}, today's pack is here.",
                  "hi": "सुप्रभात {{advisor_name}}, आज का पैक यहाँ है।",
                  "mr": "सुप्रभात {{advisor_name}}, आजचा पॅक इथे आहे."},
        "footer": "Reply STOP to opt out",
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(("changes", "problem"), [
    ({"name": "Daily-Pack"}, "name: lowercase letters, digits and underscores"),
    ({"name": "x" * 513}, "name: at most 512"),
    ({"category": "AUTHENTICATION"}, "category: one of MARKETING, UTILITY"),
    ({"texts": {"en": "x" * 1025 + " {{advisor_name}} ok"}}, "texts.en: 1045 characters, at most 1024"),
    ({"texts": {"en": "{{advisor_name}}, hello"}}, "texts.en: the body may not start or end"),
    ({"texts": {"en": "Hi {{advisor_name}}{{city}} ok"}, "parameters": {"advisor_name": "A", "city": "B"}},
     "texts.en: parameters {{advisor_name}} and {{city}} touch"),
    ({"texts": {"en": "Hi {{1}} ok"}, "parameters": {}}, "texts.en: {{1}} is positional"),
    ({"texts": {"en": "Hi {{city}} ok"}}, "texts.en: parameter {{city}} has no example"),
    ({"texts": {"en": "Hi there"}}, "texts.en: parameters advisor_name are not in the text"),
    ({"texts": {"fr": "Bonjour {{advisor_name}} !"}}, "texts.fr: language must be one of"),
    ({"parameters": {"advisor_name": " "}}, "parameters.advisor_name: the example must not be empty"),
    ({"footer": "x" * 61}, "footer: text of at most 60"),
    ({"variant_of": "pack_a"}, "variant_of: a resubmission needs a new name"),
    ({"ttl_seconds": 600}, "ttl_seconds: MARKETING templates only, 43200"),
    ({"category": "UTILITY", "ttl_seconds": 86400}, "ttl_seconds: MARKETING templates only"),
])
def test_meta_rules_are_checked_before_anything_is_sent(changes: dict, problem: str) -> None:
    with pytest.raises(TemplateRuleError) as err:
        check_spec({**spec("pack_a"), **changes}, JPEG)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_a_good_spec_passes_and_a_bad_header_image_does_not() -> None:
    checked = check_spec(spec("pack_a", ttl_seconds=86400), JPEG)
    assert set(checked.texts) == {"en", "hi", "mr"} and checked.ttl_seconds == 86400
    with pytest.raises(TemplateRuleError, match="JPEG or PNG"):
        check_spec(spec("pack_a"), b"GIF89a....")


def test_a_bad_spec_on_the_command_line_is_a_clear_error_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec("Bad Name", texts={"en": "{{advisor_name}}"})))
    assert cli.main(["templates", "submit", str(path), "--database-url", "postgresql://nowhere/x"]) == 1
    out = capsys.readouterr().out
    assert "name: lowercase letters" in out and "may not start or end" in out
    assert "Traceback" not in out
    path.write_text("{not json")
    assert cli.main(["templates", "submit", str(path), "--check"]) == 1
    assert "is not JSON" in capsys.readouterr().out


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with m.morning_gateway(stack) as gw:
        yield gw


def _states(database_url: str, name: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT language, status, reason FROM template_states WHERE name = %s",
                            (name,)).fetchall()
    return {lang: (status, reason) for lang, status, reason in rows}


def _wait_for(database_url: str, name: str, status: str, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        states = _states(database_url, name)
        if len(states) == 3 and all(s == status for s, _ in states.values()):
            return states
        assert time.monotonic() < deadline, f"{name} never became {status}: {states}"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.parametrize("rejection_rate", [0.0, 1.0], ids=["approved", "rejected"])
def test_submitted_template_is_tracked_through_webhooks(
    stack: Stack, gateway: GatewayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    rejection_rate: float,
) -> None:
    config = SandboxConfig(
        webhooks=WebhookConfig(callback_url=gateway.webhook_url, app_secret=m.APP_SECRET),
        template_approval_s=2.0, template_rejection_rate=rejection_rate)
    name = f"pack_{uuid.uuid4().hex[:8]}"
    (tmp_path / "header.jpg").write_bytes(JPEG)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(name)))
    with SandboxServer(config) as sandbox:
        monkeypatch.setenv("GRAPH_API_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("WHATSAPP_WABA_ID", config.waba_id)
        monkeypatch.setenv("WHATSAPP_APP_ID", config.app_id)
        # no waba_id option: no poller, so only the webhooks can move the state
        worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                stack.embedded_kafka, f"tpl-{uuid.uuid4().hex[:8]}",
                                tmp_path / "worker.log", {"waba_id": "", "grace_s": 8.0},
                                agents="sender,reconcile,templates")
        try:
            assert cli.main(["templates", "submit", str(path), "--database-url", stack.database_url]) == 0
            assert {s for s, _ in _states(stack.database_url, name).values()} == {"PENDING"}
            if rejection_rate == 0:
                _wait_for(stack.database_url, name, "APPROVED")
                # ... and used in a morning: every advisor gets it, exactly once
                morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka,
                                 tmp_path, n=30, intent_fields={"template_name": name})
                doc = m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 90, worker)
                accepted = m.accepted_per_delivery(doc, morning.eligible)
                assert max(accepted.values()) == 1
                assert {e["template"] for e in doc["entries"]
                        if e["callback_data"] in set(morning.eligible)} == {name}
                return
            states = _wait_for(stack.database_url, name, "REJECTED")
            assert {reason for _, reason in states.values()} == {"INVALID_FORMAT"}
            # resubmitted as a variant, under a new name
            variant = f"{name}_b"
            path.write_text(json.dumps(spec(variant, variant_of=name)))
            assert cli.main(["templates", "submit", str(path), "--database-url", stack.database_url]) == 0
            with psycopg.connect(stack.database_url) as conn:
                assert conn.execute("SELECT DISTINCT variant_of FROM template_states WHERE name = %s",
                                    (variant,)).fetchall() == [(name,)]
        finally:
            worker.terminate()
            worker.wait(30)
