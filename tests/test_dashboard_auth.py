"""The dashboard's doors, without a broker: the login link sets a cookie that is not the token,
HttpOnly and SameSite=Strict, and every route with data refuses anyone without it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from consumers.dashboard.advisor_hub import AdvisorHub
from consumers.dashboard.app import create_app
from consumers.dashboard.board import OpsBoard

TOKEN = "the-ops-token"


class StillFeed:
    def __init__(self) -> None:
        self.board = OpsBoard()
        self.hub = AdvisorHub()
        self.lock = threading.Lock()

    def status(self) -> dict[str, Any]:
        return {"connected": True, "reconnects": 1, "undecodable": 0}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(StillFeed(), ops_token=TOKEN))


def test_login_sets_a_hardened_cookie_that_is_not_the_token(client: TestClient) -> None:
    answer = client.get(f"/login?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert client.get("/api/view").status_code == 200  # the cookie is enough
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_a_wrong_login_gets_no_cookie_and_no_data(client: TestClient, token: str) -> None:
    answer = client.get(f"/login?token={token}", follow_redirects=False)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    assert client.get("/api/view").status_code == 403
    assert client.get("/events").status_code == 403
    page = client.get("/")
    assert page.status_code == 401 and "sla-pct" not in page.text


def test_a_forged_cookie_gets_nothing(client: TestClient) -> None:
    client.cookies.set("dawn_ops", TOKEN)  # the raw token is not the session value
    assert client.get("/api/view").status_code == 403


def test_with_no_ops_token_configured_nobody_gets_in() -> None:
    client = TestClient(create_app(StillFeed(), ops_token=""))
    assert client.get("/login?token=").status_code == 403
    assert client.get("/api/view", headers={"authorization": "Bearer x"}).status_code == 403
