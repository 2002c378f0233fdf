"""Secrets stay out of reprs and printouts, phone numbers out of logs, and the README's settings
table out of date never."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dawn import logs
from dawn.cli import main
from dawn.embedded.stack import Stack
from dawn.settings import SETTINGS_DOC, Secret, Settings, SettingsError, redact_url, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"

SECRET_VARS = {
    "DATABASE_URL": "postgresql://dawn:hunter2-db@db:5432/dawn",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-hunter2-token",
    "WHATSAPP_APP_SECRET": "hunter2-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "hunter2-verify",
    "DAWN_OPS_TOKEN": "hunter2-ops",
}


@pytest.fixture
def secret_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in SECRET_VARS.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_secrets_never_show_in_repr_or_public(secret_settings: Settings) -> None:
    shown = repr(secret_settings) + str(secret_settings.public())
    for value in SECRET_VARS.values():
        assert value not in shown
        assert "hunter2" not in shown
    assert secret_settings.public()["whatsapp_access_token"] == "set"
    assert secret_settings.whatsapp_access_token.reveal() == SECRET_VARS["WHATSAPP_ACCESS_TOKEN"]


def test_secrets_are_masked_however_they_are_formatted(
    secret_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = secret_settings.whatsapp_access_token
    with caplog.at_level(logging.INFO, logger="dawn.test"):
        logging.getLogger("dawn.test").info("token %s, %r", token, token)
    percent = "%s"
    shown = [str(token), f"{token}", f"{token:>20}", percent % token, caplog.text,
             str(ValueError(f"bad token {token}"))]
    for text in shown:
        assert "hunter2" not in text
    assert str(token) == "***" and str(Secret("")) == ""
    assert type(token.reveal()) is str and token.reveal() == SECRET_VARS["WHATSAPP_ACCESS_TOKEN"]


def test_a_stack_keeps_its_database_url_out_of_repr(secret_settings: Settings) -> None:
    stack = Stack(settings=secret_settings, database_url=secret_settings.database_url.reveal())
    assert "hunter2" not in repr(stack)


def test_a_configured_database_is_handed_out_revealed(secret_settings: Settings) -> None:
    with Stack.start(secret_settings, kafka=False) as stack:
        assert stack.database_url == SECRET_VARS["DATABASE_URL"] and type(stack.database_url) is str


def test_unset_secrets_say_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env().public()["ops_token"] == "unset"


def test_urls_are_printed_without_their_password() -> None:
    assert redact_url(SECRET_VARS["DATABASE_URL"]) == "postgresql://dawn:***@db:5432/dawn"
    assert redact_url("postgresql://dawn@127.0.0.1:5432/dawn") == "postgresql://dawn@127.0.0.1:5432/dawn"


# -- the README's configuration table -------------------------------------------------------------

def test_readme_settings_table_is_generated_from_settings_doc() -> None:
    readme = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- settings-table -->\n(.*?)\n<!-- /settings-table -->", readme, re.DOTALL)
    assert match, "README lost its settings-table markers"
    assert match.group(1) == settings_table(), (
        "README's configuration table differs from dawn.settings.SETTINGS_DOC; put this between "
        f"the markers:\n{settings_table()}"
    )


def test_every_documented_variable_is_read_and_every_setting_documented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(SETTINGS_DOC) == len(fields(Settings))
    for name, _, _ in SETTINGS_DOC:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings.from_env()
    valid = {"DAWN_LOG_LEVEL": "DEBUG", "DAWN_LOG_FORMAT": "json", "DAWN_TIMEZONE": "UTC",
             "DAWN_TEMPLATE_BUFFER_DAYS": "4", "DAWN_MARKETING_MESSAGES": "auto",
             "DAWN_PRICES_INR": "marketing=7"}
    for name, _, _ in SETTINGS_DOC:
        with monkeypatch.context() as m:
            m.setenv(name, valid.get(name, "7"))
            assert Settings.from_env() != defaults, f"{name} is documented but not read"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DAWN_DEFAULT_MPS", "eighty"),
        ("DAWN_DEFAULT_MPS", "0"),
        ("DAWN_DEFAULT_MPS", "-5"),
        ("DAWN_DEFAULT_MPS", "nan"),
        ("DAWN_LOG_LEVEL", "LOUD"),
        ("DAWN_LOG_FORMAT", "xml"),
        ("DAWN_TIMEZONE", "India/Mumbai"),
        ("DAWN_TIMEZONE", "Asia"),
        ("DAWN_TIMEZONE", "../etc/passwd"),
        ("DAWN_TEMPLATE_BUFFER_DAYS", "7"),
        ("DAWN_TEMPLATE_BUFFER_DAYS", "two"),
        ("DAWN_MARKETING_MESSAGES", "always"),
        ("DAWN_PRICES_INR", "marketing"),
        ("DAWN_PRICES_INR", "marketing=-1"),
        ("DAWN_PRICES_INR", "=0.5"),
        ("DAWN_PRICES_INR", "utility=inf"),
        ("DAWN_BUDGET_DAILY_INR", "0"),
        ("DAWN_BUDGET_MONTHLY_INR", "lots"),
        ("DAWN_DASHBOARD_PORT", "70000"),
        ("DAWN_DASHBOARD_PORT", "8\u00b9"),
    ],
)
def test_a_bad_value_fails_in_from_env_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()
    assert main(["topics", "list"]) == 2  # a message, not a traceback
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_good_values_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAWN_LOG_LEVEL", "debug")
    monkeypatch.setenv("DAWN_LOG_FORMAT", "JSON")
    monkeypatch.setenv("DAWN_DEFAULT_MPS", "20")
    monkeypatch.setenv("DAWN_TIMEZONE", "UTC")
    settings = Settings.from_env()
    assert (settings.log_level, settings.log_format, settings.default_mps, settings.timezone) == (
        "DEBUG", "json", 20.0, "UTC")


# -- masked phone numbers -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to 919812345678 ok", "to 9198******78 ok"),
        ("to +919812345678", "to +9198******78"),
        ("wa_id919812345678", "wa_id9198******78"),
        ("card 4111111111111111111", "card 4111*************11"),
        ("९१९८१२३४५६७८", "९१९८******७८"),
        ("pin 123456 and 98123 45678", "pin 123456 and 9812* ***78"),
        ("to +91 98123 45678.", "to +91 98*** ***78."),
        ("to 98123-45678", "to 9812*-***78"),
        ("to +91-98123-45678", "to +91-98***-***78"),
        ("to +1 555 078 3881", "to +1 555 *** **81"),
        ("at 2026-11-22 03:12:29", "at 2026-11-22 03:12:29"),  # a date and time, not a number
        ("ids 12 34 56", "ids 12 34 56"),
    ],
)
def test_mask_phones(text: str, masked: str) -> None:
    assert logs.mask_phones(text) == masked


_DIGITS_AND_MORE = st.text(st.sampled_from("0123456789+ .x_-९"), max_size=60)


@given(st.one_of(_DIGITS_AND_MORE, st.text(max_size=60)))
def test_no_run_of_ten_digits_survives_masking(text: str) -> None:
    assert not re.search(r"\d{10,}", logs.mask_phones(text))


def test_log_lines_and_tracebacks_are_masked() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("INFO", "json", stream=stream)
    try:
        log = logging.getLogger("dawn.test")
        try:
            raise ValueError("bad number 919812345678")
        except ValueError:
            log.exception("send to %s failed", "919812345678")
    finally:
        root.handlers[:], level = before
        root.setLevel(level)
    line = stream.getvalue()
    assert "919812345678" not in line and "9198******78" in line and '"component": "test"' in line
