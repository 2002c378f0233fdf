"""The sandbox's limits bite exactly where the Cloud API facts say, seen through the real client
over real HTTP. Time is a manual clock: counts are asserted, never wall-clock durations."""

from __future__ import annotations

from sandbox.config import LimitsConfig, NumberConfig, SandboxConfig
from tests import sandbox_helpers
from tests.sandbox_helpers import ledger, reset
from whatsapp.client import CloudApiClient, CloudApiError, SendAccepted, TemplateMessage
from whatsapp.errors import Action

# The module's sandbox fixtures (one sandbox per test module).
clock, server, client = sandbox_helpers.clock, sandbox_helpers.server, sandbox_helpers.client

PN = "110000000000001"
PACK = TemplateMessage("daily_pack_v1", "en", header_image_link="https://example.com/pack.jpg",
                       body_params={"advisor_name": "Asha"})


def fast_numbers(mps: float = 10_000.0) -> list[NumberConfig]:
    return [NumberConfig(id=f"11000000000000{i}", display_phone_number=f"91224000000{i}", mps=mps)
            for i in (1, 2, 3)]


async def burst(client: CloudApiClient, tos: list[str], number: str = PN) -> list[object]:
    """Send to each of ``tos`` while the manual clock stands still: one instant, so sequential
    sends are as much a burst as concurrent ones, and cheaper on a shared machine."""
    results: list[object] = []
    for to in tos:
        try:
            results.append(await client.send_template(number, to, PACK))
        except CloudApiError as error:
            results.append(error)
    return results


def split(results: list[object]) -> tuple[list[SendAccepted], list[CloudApiError]]:
    return ([r for r in results if isinstance(r, SendAccepted)],
            [r for r in results if isinstance(r, CloudApiError)])


async def test_throughput_bites_above_80_mps_and_not_below(server, client, clock):
    """At most 80 arrivals in any sliding one-second window, whatever happened before: no burst."""
    await reset(server, SandboxConfig())
    for second in range(2):  # 60 a second, for two seconds: never throttled
        accepted, errors = split(await burst(client, [f"9198{second:02d}{i:06d}" for i in range(60)]))
        assert (len(accepted), errors) == (60, [])
        clock.advance(1.0)
    clock.advance(2.0)  # idle: nothing is banked, the window is simply empty

    accepted, errors = split(await burst(client, [f"9197{i:08d}" for i in range(100)]))
    assert len(accepted) == 80 and len(errors) == 20
    for error in errors:
        assert (error.code, error.http_status) == (130429, 400)
        assert error.policy.action is Action.LOWER_RATE

    clock.advance(0.5)  # the 80 are still inside the window: nothing more
    accepted, errors = split(await burst(client, [f"9196{i:08d}" for i in range(10)]))
    assert (len(accepted), len(errors)) == (0, 10)
    clock.advance(0.5)  # they left it (arrivals in (t - 1, t] count): 80 again
    accepted, errors = split(await burst(client, [f"9195{i:08d}" for i in range(90)]))
    assert (len(accepted), len(errors)) == (80, 10)

    counts = await ledger(server, entries=0)
    assert counts["throttled_130429"] == 40
    assert counts["accepted"] == 120 + 80 + 80
    assert counts["peak_mps"][PN] == 80, "the ledger's peak never exceeds the rate"


async def test_a_configured_burst_lets_that_many_more_through_one_window(server, client, clock):
    from sandbox.config import LimitsConfig as Limits

    await reset(server, SandboxConfig(limits=Limits(burst=5)))
    accepted, errors = split(await burst(client, [f"9194{i:08d}" for i in range(90)]))
    assert (len(accepted), len(errors)) == (85, 5)


async def test_pair_rate_allows_a_burst_of_45_then_one_per_6_seconds(server, client, clock):
    await reset(server, SandboxConfig(numbers=fast_numbers()))
    to = "919812345678"
    accepted, errors = split(await burst(client, [to] * 46))
    assert len(accepted) == 45 and len(errors) == 1
    assert errors[0].code == 131056 and errors[0].policy.action is Action.RETRY_PAIR

    clock.advance(5.9)
    _, errors = split(await burst(client, [to]))
    assert [e.code for e in errors] == [131056]
    clock.advance(0.1)  # one interval repaid: exactly one more
    accepted, errors = split(await burst(client, [to, to]))
    assert (len(accepted), [e.code for e in errors]) == (1, [131056])

    # The pair is (business number, recipient): another number may still write to them.
    accepted, errors = split(await burst(client, [to], number="110000000000002"))
    assert (len(accepted), errors) == (1, [])


async def test_messaging_limit_is_portfolio_wide_over_a_rolling_day(server, client, clock):
    limits = LimitsConfig(messaging_tier="TIER_250")
    await reset(server, SandboxConfig(numbers=fast_numbers(), limits=limits))
    numbers = [n.id for n in fast_numbers()]
    # 250 unique recipients spread over all three numbers: the limit is shared, not per number.
    for i, number in enumerate(numbers):
        tos = [f"91990{j:07d}" for j in range(i * 84, min(250, (i + 1) * 84))]
        accepted, errors = split(await burst(client, tos, number=number))
        assert errors == []
    _, errors = split(await burst(client, ["919911111111"], number=numbers[2]))
    assert len(errors) == 1
    error = errors[0]
    assert (error.code, error.http_status) == (limits.messaging_limit_code, 400)
    assert error.policy.action is Action.HOLD_PORTFOLIO  # shared by every number: no failover
    assert "TIER_250" in (error.details or "")

    # Someone already reached in the window costs nothing more, from any number.
    accepted, errors = split(await burst(client, ["919900000000"], number=numbers[1]))
    assert (len(accepted), errors) == (1, [])
    assert (await ledger(server, entries=0))["unique_recipients_24h"] == 250

    clock.advance(24 * 3600.0)  # the first sends leave the rolling window
    accepted, errors = split(await burst(client, ["919911111111"]))
    assert (len(accepted), errors) == (1, [])


async def test_ledger_counts_duplicate_sends(server, client, clock):
    await reset(server, SandboxConfig())
    await client.send_template(PN, "919812345678", PACK, callback_data="d-1")
    await client.send_template(PN, "919812345678", PACK, callback_data="d-1")  # a blind resend
    await client.send_template("110000000000002", "919812345679", PACK, callback_data="d-2")
    clock.advance(7.0)
    await client.send_template("110000000000003", "919812345679", PACK, callback_data="d-3")

    duplicates = (await ledger(server, entries=0))["duplicates"]
    assert duplicates["callback_data"] == 1
    assert duplicates["callback_data_keys"] == ["d-1"]
    # d-1 twice to one advisor, and d-2/d-3 are the same pack to one advisor on one day.
    assert duplicates["recipient_template_day"] == 2
    assert len(duplicates["recipient_template_day_keys"]) == 2


async def test_messaging_limit_can_fail_by_webhook_instead(server, client, clock):
    limits = LimitsConfig(messaging_tier="TIER_250", messaging_limit_as="webhook",
                          messaging_limit_code=131048)
    await reset(server, SandboxConfig(numbers=fast_numbers(), limits=limits))
    accepted, errors = split(await burst(client, [f"91980{j:07d}" for j in range(251)]))
    assert (len(accepted), errors) == (251, [])  # the 251st is accepted...
    last = server.sandbox.ledger.by_wamid[accepted[-1].wamid]
    assert (last.outcome, last.error_code, last.delivered_at) == ("failed", 131048, None)  # ...and fails
    assert (await ledger(server, entries=0))["unique_recipients_24h"] == 250
