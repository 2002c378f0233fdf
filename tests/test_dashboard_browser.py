"""The ops dashboard in a real headless chromium, during a real (small, fast) morning of ``dawn
run``: the page's numbers move while the morning runs and end on the verdict ``dawn run`` reaches
from ``wa.delivery.state`` by its own count; a wrong token gets neither the page's data nor the
event stream; a screenshot of the live page is left in tests/artefacts/. Meanwhile an advisor's
WebSocket, opened before the window, follows that advisor's one delivery to delivered, in order."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from rich.console import Console
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from dawn.morning.run import MorningOptions, run_morning
from dawn.settings import Secret, Settings
from ops.tokens import mint_advisor_token

ARTEFACTS = Path(__file__).resolve().parent / "artefacts"
TOKEN = "dashboard-test-ops-token"
ADVISOR_SECRET = "dashboard-test-advisor-secret"
ADVISOR = "ADV000001"  # the first demo advisor
PROGRESS = ("QUEUED", "ACCEPTED", "HELD", "SENT", "DELIVERED", "READ")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver (.ci/run)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser() -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1700"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_until_serving(base: str, morning: threading.Thread) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and morning.is_alive():
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("the dashboard never came up")


def read(driver: Any, element_id: str) -> str:
    """An element's text, read in one script call (the page re-renders tables as it updates)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : '';", element_id)


def send_rates(driver: Any) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#numbers tr td:nth-child(4)')].map(e => e.textContent);")


def follow_advisor(url: str, morning: threading.Thread, into: list[dict[str, Any]]) -> None:
    """A real WebSocket client collecting one advisor's messages until the morning is over."""
    async def run() -> None:
        async with websockets.connect(url) as ws:
            while morning.is_alive():
                try:
                    into.append({**json.loads(await asyncio.wait_for(ws.recv(), 0.5)),
                                 "received": time.time()})
                except TimeoutError:
                    continue
                except websockets.ConnectionClosed:
                    return

    asyncio.run(run())


def test_the_dashboard_follows_a_morning_to_its_verdict(browser: Any, fresh_run_dir: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(Settings.from_env(), run_dir=fresh_run_dir, ops_token=Secret(TOKEN),
                                   advisor_token_secret=Secret(ADVISOR_SECRET))
    options = MorningOptions(advisors=60, numbers=2, window_s=15, dashboard_port=port,
                             dashboard_linger_s=4)
    outcome: dict[str, Any] = {}

    def morning() -> None:
        try:
            outcome["report"] = run_morning(options, settings, Console(file=io.StringIO()))
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=morning, daemon=True)
    thread.start()
    wait_until_serving(base, thread)
    advisor_messages: list[dict[str, Any]] = []
    ws_url = f"ws://127.0.0.1:{port}/advisor/ws?token={mint_advisor_token(ADVISOR, ADVISOR_SECRET)}"
    advisor = threading.Thread(target=follow_advisor, args=(ws_url, thread, advisor_messages))
    advisor.start()

    # A wrong token: refused at login, no cookie, so no page data and no event stream.
    browser.get(f"{base}/login?token=wrong")
    assert "forbidden" in browser.page_source
    browser.get(f"{base}/")
    assert read(browser, "sla-pct") == "" and "login link" in browser.page_source
    for path in ("/events", "/api/view"):
        assert httpx.get(f"{base}{path}").status_code == 403
        assert httpx.get(f"{base}{path}", headers={"authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(f"{base}/api/view", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200

    browser.get(f"{base}/login?token={TOKEN}")
    assert browser.current_url == f"{base}/"  # the token left the address bar
    ARTEFACTS.mkdir(exist_ok=True)
    seen: list[tuple[str, str]] = []
    sends_seen = live_seen = False
    while thread.is_alive():
        now = (read(browser, "state-DELIVERED"), read(browser, "delivered-by-deadline"))
        live_seen |= read(browser, "conn") == "live"
        sends_seen |= any(r.isdigit() and int(r) > 0 for r in send_rates(browser))
        if not seen or now != seen[-1]:
            seen.append(now)
            browser.save_screenshot(str(ARTEFACTS / "dashboard.png"))
        time.sleep(0.25)
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    advisor.join(10)

    delivered_values = [int(d) for d, _ in seen if d.isdigit()]
    assert live_seen, "the page never said it was live"
    assert sends_seen, "no number ever showed a send rate"
    assert len(set(delivered_values)) >= 3, f"the page barely moved: {seen}"
    assert delivered_values == sorted(delivered_values), "delivered went backwards"
    assert (read(browser, "delivered-by-deadline"), read(browser, "eligible"), read(browser, "sla-pct")) == (
        str(report["delivered_by_deadline"]), str(report["eligible"]), f"{report['sla_pct']:.2f}")
    assert report["eligible"] == 60
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-sends polyline")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-delivered polyline")

    # the advisor's own delivery, its states in the order they progressed, ending delivered
    assert advisor_messages[0] == {**advisor_messages[0], "type": "hello", "advisor_id": ADVISOR}
    states = [m for m in advisor_messages if m["type"] == "state"]
    assert len({m["delivery_id"] for m in states}) == 1, "another delivery reached this advisor"
    order = [PROGRESS.index(m["state"]) for m in states]
    assert order == sorted(order) and len(order) == len(set(order)), [m["state"] for m in states]
    assert states[-1]["state"] in ("DELIVERED", "READ") and len(states) >= 2
    lag = max(m["received"] - m["at"] / 1000 for m in states)
    print(f"advisor states: {[m['state'] for m in states]}, worst lag behind the state change "
          f"{lag:.3f} s")
