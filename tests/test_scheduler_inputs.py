"""What the scheduler reads besides advisors: number health, template states, pack images."""

from __future__ import annotations

import httpx
import pytest

from producers.scheduler.assignment import SenderNumber
from producers.scheduler.fleet import approved_templates, healthy_numbers, portfolio_tier
from producers.scheduler.media import MediaError, fetch_image

CONFIGURED = [SenderNumber("pn-2", 80.0), SenderNumber("pn-1", 80.0)]


def health(pnid: str, **kw) -> dict:
    return {"phone_number_id": pnid, "status": "CONNECTED", "role": "PRIMARY", "quality": "GREEN",
            "allowed_mps": 80.0, "messaging_limit_tier": None, **kw}


def test_numbers_come_from_health_records_and_configuration_restricts_them():
    assert healthy_numbers([], CONFIGURED) == sorted(CONFIGURED, key=lambda n: n.phone_number_id)
    records = [
        health("pn-1", allowed_mps=80.0), health("pn-1", allowed_mps=40.0),  # newest wins
        health("pn-2", role="SPARE", daily_cap=100), health("pn-3", quality="RED"),
        health("pn-4", status="FLAGGED"), health("pn-5", role="WARMING", allowed_mps=5.0, daily_cap=250),
        health("pn-6", allowed_mps=0.5), health("pn-7", role="PAUSED"), health("pn-8", role="STOPPED"),
    ]
    # The fleet from Meta: every number with a record, spares and warming ones with their caps.
    assert healthy_numbers(records, []) == [
        SenderNumber("pn-1", 40.0), SenderNumber("pn-2", 80.0, "SPARE", 100),
        SenderNumber("pn-5", 5.0, "WARMING", 250)]
    # Configured numbers restrict the fleet; their records still apply.
    assert healthy_numbers(records, CONFIGURED) == [
        SenderNumber("pn-1", 40.0), SenderNumber("pn-2", 80.0, "SPARE", 100)]
    assert healthy_numbers(records, [SenderNumber("pn-3", 80.0), SenderNumber("pn-9", 30.0)]) == [
        SenderNumber("pn-9", 30.0)]  # RED is out; a number without a record keeps its given rate


def test_tier_is_the_newest_reported():
    assert portfolio_tier([health("a"), health("b", messaging_limit_tier="TIER_2K"),
                           health("c", messaging_limit_tier="TIER_10K")]) == "TIER_10K"
    assert portfolio_tier([health("a")]) is None


def test_template_pairs_approved_and_not_retired():
    def state(name, lang, status="APPROVED", role="PRIMARY"):
        return {"name": name, "language": lang, "status": status, "role": role}

    assert approved_templates([]) is None
    assert approved_templates([
        state("daily", "en"), state("daily", "hi", status="PAUSED"), state("daily", "mr"),
        state("daily", "mr", status="REJECTED"), state("old", "en", role="RETIRED"),
    ]) == {("daily", "en")}


async def test_images_from_file_and_https_only(tmp_path):
    image = tmp_path / "p.png"
    image.write_bytes(b"\x89PNG-bytes")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"remote") if request.url.path == "/p.jpg" \
            else httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert await fetch_image(image.as_uri(), http) == b"\x89PNG-bytes"
        assert await fetch_image("https://cdn.example.com/p.jpg", http) == b"remote"
        with pytest.raises(MediaError, match="cannot fetch"):
            await fetch_image("https://cdn.example.com/gone.jpg", http)
        with pytest.raises(MediaError, match="cannot read"):
            await fetch_image((tmp_path / "missing.png").as_uri(), http)
        with pytest.raises(MediaError, match="only file:// and https://"):
            await fetch_image("http://cdn.example.com/p.jpg", http)
