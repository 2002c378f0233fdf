"""Number health as a state machine: signals in, NumberHealth records and ops alerts out. No I/O.

Three kinds of signal reach it, each partial and each late in its own way: the Graph API poll
(quality rating, status, throughput, messaging tier, ``health_status``; Meta's quality webhook no
longer carries the rating, so the poll is the only source of the colour), account webhooks (a
number FLAGGED, a restriction or ban, a new portfolio limit) and the sender's own results (131031
"account locked", 130429 throughput, error rates). Every signal updates one number's facts; the
record is then *derived* from the facts, the fleet file and the clock, so the same facts always give
the same record whatever order they came in, and a replayed signal changes nothing.

The playbook (README, "Recovery playbook") in one place:

- RED, FLAGGED, RESTRICTED (or any status but CONNECTED), ``health_status`` BLOCKED or 131031:
  STOPPED, allowed 0 mps. The sender's lanes stop claiming on it and hand its intents on.
- YELLOW, quality falling, or a high error rate: throttled to ``throttle_share`` of its rate, a
  hot spare promoted to PRIMARY to carry what the throttle takes away, and the templates side asked
  (an alert) for the conservative template on it.
- Back from either: ``recovery_s`` of reduced frequency, unwound in ``recovery_steps`` equal steps
  from the throttle share to the full rate; the promoted spare goes back to SPARE at the end.

Only transitions raise alerts, so a steady state is silent and a repeated signal is not a new alert
(alert ids are stable per transition).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.quality.fleet import Fleet
from whatsapp.errors import Action, classify

QUALITY_RANK = {"RED": 0, "YELLOW": 1, "GREEN": 2}
#: Portfolio limits (max_daily_conversations_per_business) as Meta names the tiers.
TIER_BY_LIMIT = {250: "TIER_250", 2000: "TIER_2K", 10000: "TIER_10K", 100000: "TIER_100K"}
ACCOUNT_STOP_EVENTS = frozenset({"ACCOUNT_RESTRICTION", "ACCOUNT_VIOLATION", "DISABLED_UPDATE",
                                 "ACCOUNT_DELETED", "BANNED"})
NUMBER_BLOCK_CODES = frozenset({131031, 131042, 368})
PORTFOLIO_LIMIT_CODE = 131048
NOT_LISTED = "NOT_LISTED"  # our status for a number the WABA listing no longer shows
THROUGHPUT_CODE = 130429


@dataclass(frozen=True)
class HealthPolicy:
    """The playbook's numbers. Durations are seconds so tests can compress a 48 h recovery."""

    throttle_share: float = 0.5  # YELLOW / falling / error rate: this share of the number's rate
    recovery_s: float = 48 * 3600.0  # back to GREEN: reduced frequency this long
    recovery_steps: int = 4  # ... unwound in this many equal steps
    block_hold_s: float = 600.0  # a 131031 or restriction webhook holds at least this long
    warmup_caps: tuple[int, ...] = (250, 1000, 2000, 5000, 10000)  # daily cap by warm-up day
    spare_daily_cap: int = 100  # a spare's daily share, so it has history when promoted
    result_window: int = 200  # send results kept per number for its error rate
    min_results: int = 50  # no error-rate verdict on fewer
    error_rate_throttle: float = 0.2  # number-side failures above this share throttle it
    rate_factor: float = 0.8  # 130429: allowed rate times this ...
    rate_restore_s: float = 300.0  # ... for this long
    standard_mps: float = 80.0  # throughput level STANDARD (or unknown)
    high_mps: float = 1000.0  # throughput level HIGH
    timezone: str = "Asia/Kolkata"  # whose calendar day a warm-up day is

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> HealthPolicy:
        """The policy with any of its fields overridden by ``options`` (JSON numbers and lists)."""
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        if "warmup_caps" in known:
            known["warmup_caps"] = tuple(int(c) for c in known["warmup_caps"])
        policy = cls(**known)
        if not 0 < policy.throttle_share < 1 or policy.recovery_steps < 1:
            raise ValueError("throttle_share must be in (0, 1) and recovery_steps at least 1")
        return policy


@dataclass(frozen=True)
class NumberSnapshot:
    """One number as the Graph API reports it (GET /{waba}/phone_numbers plus health_status)."""

    phone_number_id: str
    display_phone_number: str | None = None
    quality: str | None = None
    status: str | None = None
    throughput_level: str | None = None
    messaging_limit_tier: str | None = None
    can_send: str | None = None  # health_status.can_send_message: AVAILABLE, LIMITED, BLOCKED


@dataclass
class Facts:
    """What is known about one number; the record is derived from these."""

    phone_number_id: str
    display_phone_number: str | None = None
    quality: str = "UNKNOWN"
    trend: str = "STEADY"
    status: str = "CONNECTED"
    throughput_level: str | None = None
    can_send: str | None = None
    flagged: bool = False
    restricted: str | None = None  # why, from an account webhook
    restricted_at: datetime | None = None
    blocked_code: int | None = None  # 131031 and kin, from a send result
    blocked_at: datetime | None = None
    listed: bool = False  # Meta listed it under the WABA
    results: deque[bool] = field(default_factory=deque)  # True: a number-side failure
    lowered_until: datetime | None = None
    lowered_at: datetime | None = None
    impaired_since: datetime | None = None
    recovery_until: datetime | None = None
    recovery_started: datetime | None = None


@dataclass
class Update:
    """What one signal changed: records to publish on wa.numbers.health and alerts on ops.alerts."""

    records: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: Update) -> Update:
        self.records += other.records
        self.alerts += other.alerts
        return self


@dataclass(frozen=True)
class Verdict:
    """A number's derived standing, before spare promotion."""

    role: str
    allowed_mps: float
    nominal_mps: float
    reason: str
    state: str  # ok, throttled, stopped, recovering
    step: int = 0  # recovery step, 1..steps
    warmup_day: int | None = None
    daily_cap: int | None = None


class Monitor:
    """Every number's facts and last published record. One per quality agent."""

    def __init__(self, fleet: Fleet, policy: HealthPolicy | None = None) -> None:
        self.fleet = fleet
        self.policy = policy or HealthPolicy()
        self.facts: dict[str, Facts] = {}
        self.published: dict[str, dict[str, Any]] = {}
        self.tier: str | None = None
        self._verdicts: dict[str, Verdict] = {}
        self._portfolio_alerted: datetime | None = None
        self._tz = ZoneInfo(self.policy.timezone)

    def restore(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Continue from our own published records (newest per number wins) after a restart: the
        facts they show, a recovery under way, and a stop whose cause only a signal we will not
        see again knew (a 131031, a restriction webhook) held like a fresh one."""
        for record in sorted(records, key=lambda r: r["updated_at"]):
            self.published[record["phone_number_id"]] = dict(record)
        for pnid, record in self.published.items():
            facts = self._facts(pnid)
            facts.listed = True
            facts.display_phone_number = record.get("display_phone_number")
            facts.quality, facts.status = record["quality"], record["status"]
            facts.trend = record.get("quality_trend") or "STEADY"
            facts.throughput_level = record.get("throughput_level")
            self.tier = record.get("messaging_limit_tier") or self.tier
            at = record["updated_at"]
            if record["role"] == "STOPPED" and facts.quality != "RED" and facts.status == "CONNECTED":
                facts.restricted, facts.restricted_at = record.get("reason") or "stopped", at
            until = record.get("recovery_until")
            if until is not None:
                facts.recovery_until = until
                facts.recovery_started = until - timedelta(seconds=self.policy.recovery_s)
            self._verdicts[pnid] = self._verdict(facts, at)

    # -- signals ------------------------------------------------------------------------------

    def poll(self, snapshots: Iterable[NumberSnapshot], now: datetime) -> Update:
        """A Graph API poll of the WABA's numbers; the listed ones are the fleet. A number we
        published before that Meta no longer lists (deleted, moved to another WABA) is stopped."""
        snapshots = list(snapshots)
        listed = {snap.phone_number_id for snap in snapshots}
        for pnid in set(self.published) - listed:
            self._facts(pnid).status = NOT_LISTED
        for snap in snapshots:
            facts = self._facts(snap.phone_number_id)
            facts.listed = True
            facts.display_phone_number = snap.display_phone_number or facts.display_phone_number
            if snap.quality in QUALITY_RANK:
                self._set_quality(facts, snap.quality)
            if snap.status:
                facts.status = snap.status
            facts.throughput_level = snap.throughput_level or facts.throughput_level
            facts.can_send = snap.can_send
            if snap.messaging_limit_tier:
                self.tier = snap.messaging_limit_tier
            # A webhook restriction or a 131031 holds for block_hold_s, then lasts only as long as
            # the poll still shows the number unable to send.
            clear = snap.status == "CONNECTED" and snap.can_send in (None, "AVAILABLE")
            hold = timedelta(seconds=self.policy.block_hold_s)
            if clear and facts.restricted_at is not None and now - facts.restricted_at >= hold:
                facts.restricted = facts.restricted_at = None
            if clear and facts.blocked_at is not None and now - facts.blocked_at >= hold:
                facts.blocked_code = facts.blocked_at = None
        return self._derive(now)

    def account_event(self, event: Mapping[str, Any], now: datetime) -> Update:
        """A decoded AccountEvent from wa.account.events; fields it does not steer are ignored."""
        kind, what = event.get("field"), (event.get("event") or "").upper()
        raw = _raw(event.get("raw_json"))
        targets = self._targets(event, raw)
        update = Update()
        if kind == "phone_number_quality_update":
            limit = event.get("current_limit") or raw.get("current_limit")
            if isinstance(limit, str) and limit.startswith("TIER_"):
                self.tier = limit
            for facts in targets:
                if what == "FLAGGED":
                    facts.flagged = True
                elif what == "UNFLAGGED":
                    facts.flagged = False
                elif what in QUALITY_RANK:  # a rating, where Meta (or the sandbox) sends one
                    self._set_quality(facts, what)
        elif kind == "account_update" and what in ACCOUNT_STOP_EVENTS:
            for facts in targets or list(self.facts.values()):  # no number named: the whole WABA
                facts.restricted = event.get("reason") or what
                facts.restricted_at = now
        elif kind == "business_capability_update":
            limit = _int(event.get("max_daily_conversations_per_business")
                         or raw.get("max_daily_conversations_per_business"))
            if limit in TIER_BY_LIMIT:
                self.tier = TIER_BY_LIMIT[limit]
        else:
            return update
        update += self._derive(now)
        return update

    def send_result(self, result: Mapping[str, Any], now: datetime) -> Update:
        """One SendResult: a block stops the number, 130429 lowers its rate for a while, 131048
        is the portfolio's limit (an alert, never a number stop), and every result feeds the
        number's error rate."""
        if result.get("outcome") == "SKIPPED":
            return Update()
        facts = self._facts(result["phone_number_id"])
        code = result.get("error_code")
        update = Update()
        if code in NUMBER_BLOCK_CODES:
            facts.blocked_code, facts.blocked_at = int(code), now
        elif code == THROUGHPUT_CODE and (
                facts.lowered_at is None or (now - facts.lowered_at).total_seconds() >= 1.0):
            facts.lowered_at = now
            facts.lowered_until = now + timedelta(seconds=self.policy.rate_restore_s)
            p = self.policy
            update.alerts.append(_alert(
                "throughput_exceeded", "WARNING", facts.phone_number_id,
                f"number {facts.phone_number_id} hit 130429: rate lowered to {p.rate_factor:.0%} "
                f"for {p.rate_restore_s:.0f} s", now, action="lower_rate"))
        elif code == PORTFOLIO_LIMIT_CODE:
            last = self._portfolio_alerted
            if last is None or (now - last).total_seconds() >= 60:
                self._portfolio_alerted = now
                update.alerts.append(_alert(
                    "portfolio_limit", "CRITICAL", "portfolio",
                    "131048: the business portfolio reached its messaging limit; every number shares "
                    "it, so no failover helps. Plan within the tier.", now, action="hold_portfolio",
                    tier=self.tier or "unknown"))
        facts.results.append(_number_side_failure(code))
        while len(facts.results) > self.policy.result_window:
            facts.results.popleft()
        update += self._derive(now)
        return update

    def tick(self, now: datetime) -> Update:
        """Time alone: recovery steps, a lowered rate restored, a new warm-up day."""
        return self._derive(now)

    # -- derivation ---------------------------------------------------------------------------

    def _facts(self, phone_number_id: str) -> Facts:
        facts = self.facts.get(phone_number_id)
        if facts is None:
            facts = self.facts[phone_number_id] = Facts(phone_number_id)
        return facts

    def _targets(self, event: Mapping[str, Any], raw: Mapping[str, Any]) -> list[Facts]:
        """The number an account event is about: its id, or its display number (Meta's
        ``account_update`` names the display number only); none when it names neither."""
        pnid = event.get("phone_number_id")
        if pnid:
            return [self._facts(str(pnid))]
        display = (event.get("display_phone_number") or raw.get("display_phone_number")
                   or raw.get("phone_number"))
        if not isinstance(display, str):
            return []
        digits = "".join(c for c in display if c.isdigit())
        return [f for f in self.facts.values()
                if f.display_phone_number
                and "".join(c for c in f.display_phone_number if c.isdigit()) == digits]

    @staticmethod
    def _set_quality(facts: Facts, quality: str) -> None:
        old, new = QUALITY_RANK.get(facts.quality), QUALITY_RANK[quality]
        if old is not None and new != old:
            facts.trend = "FALLING" if new < old else "RISING"
        facts.quality = quality

    def _stop_reason(self, facts: Facts) -> str | None:
        if facts.quality == "RED":
            return "quality RED"
        if facts.flagged:
            return "number FLAGGED"
        if facts.status != "CONNECTED":
            return f"status {facts.status}"
        if facts.restricted:
            return f"restricted: {facts.restricted}"
        if facts.blocked_code is not None:
            return f"send error {facts.blocked_code}"
        if facts.can_send == "BLOCKED":
            return "health_status BLOCKED"
        return None

    def _throttle_reason(self, facts: Facts) -> str | None:
        if facts.quality == "YELLOW":
            return "quality YELLOW"
        if facts.trend == "FALLING":
            return "quality falling"
        if len(facts.results) >= self.policy.min_results:
            rate = sum(facts.results) / len(facts.results)
            if rate > self.policy.error_rate_throttle:
                return f"error rate {rate:.0%}"
        return None

    def _nominal(self, facts: Facts) -> float:
        configured = self.fleet.entry(facts.phone_number_id).mps
        if configured is not None:
            return configured
        return self.policy.high_mps if facts.throughput_level == "HIGH" else self.policy.standard_mps

    def _base(self, facts: Facts, now: datetime) -> tuple[str, int | None, int | None, str]:
        """Role from the fleet file and the calendar: (role, warm-up day, daily cap, reason)."""
        entry = self.fleet.entry(facts.phone_number_id)
        if entry.role == "SPARE":
            return "SPARE", None, self.policy.spare_daily_cap, "hot spare"
        if entry.role == "WARMING" and entry.warmup_start is not None:
            day = (now.astimezone(self._tz).date() - entry.warmup_start).days + 1
            caps = self.policy.warmup_caps
            if day <= len(caps):
                day = max(day, 1)
                return "WARMING", day, caps[day - 1], f"warm-up day {day} of {len(caps)}"
            return "PRIMARY", None, None, "warm-up complete"
        return "PRIMARY", None, None, "healthy"

    def _verdict(self, facts: Facts, now: datetime) -> Verdict:
        p = self.policy
        role, day, cap, reason = self._base(facts, now)
        nominal = self._nominal(facts)
        if facts.lowered_until is not None and now >= facts.lowered_until:
            facts.lowered_until = None
        stop, throttle = self._stop_reason(facts), self._throttle_reason(facts)
        impaired = stop is not None or throttle is not None
        if impaired:
            if facts.impaired_since is None:
                facts.impaired_since = now
            facts.recovery_until = facts.recovery_started = None
        elif facts.impaired_since is not None:  # just came back: start the unwind
            facts.impaired_since = None
            facts.recovery_started = now
            facts.recovery_until = now + timedelta(seconds=p.recovery_s)
            if facts.trend == "FALLING":
                facts.trend = "STEADY"
        if facts.recovery_until is not None and now >= facts.recovery_until:
            facts.recovery_until = facts.recovery_started = None
        if stop is not None:
            return Verdict("STOPPED", 0.0, nominal, stop, "stopped", warmup_day=day, daily_cap=0)
        share, state, step = 1.0, "ok", 0
        if throttle is not None:
            share, state = p.throttle_share, "throttled"
            reason = f"{throttle}: throttled to {p.throttle_share:.0%}"
        elif facts.recovery_until is not None and facts.recovery_started is not None:
            step_s = p.recovery_s / p.recovery_steps
            step = min(p.recovery_steps, int((now - facts.recovery_started).total_seconds() // step_s) + 1)
            share = p.throttle_share + (1 - p.throttle_share) * (step - 1) / p.recovery_steps
            state, reason = "recovering", f"recovering: step {step} of {p.recovery_steps} at {share:.0%}"
        allowed = nominal * share
        if facts.lowered_until is not None:
            allowed *= p.rate_factor
            reason += f"; 130429: rate at {p.rate_factor:.0%}"
        return Verdict(role, round(allowed, 3), nominal, reason, state, step, day, cap)

    def _derive(self, now: datetime) -> Update:
        verdicts = {pnid: self._verdict(f, now) for pnid, f in sorted(self.facts.items()) if f.listed
                    or pnid in self.published or pnid in self.fleet.numbers}
        # A number gone from the WABA is out of the fleet, not a gap a spare must cover.
        impaired = [pnid for pnid, v in verdicts.items()
                    if v.state != "ok" and self.fleet.entry(pnid).role != "SPARE"
                    and self.facts[pnid].status != NOT_LISTED]
        spares = [pnid for pnid, v in verdicts.items() if v.role == "SPARE" and v.state == "ok"]
        promoted = dict(zip(spares, impaired, strict=False))
        for spare, covering in promoted.items():
            v = verdicts[spare]
            verdicts[spare] = replace(v, role="PRIMARY", daily_cap=None,
                                      reason=f"hot spare promoted to cover {covering}")
        update = Update()
        for pnid, verdict in verdicts.items():
            update.alerts += self._transition_alerts(pnid, self._verdicts.get(pnid), verdict,
                                                     promoted.get(pnid), now)
            self._verdicts[pnid] = verdict
            record = self._record(self.facts[pnid], verdict, now)
            if _differs(self.published.get(pnid), record):
                self.published[pnid] = record
                update.records.append(record)
        return update

    def _record(self, facts: Facts, verdict: Verdict, now: datetime) -> dict[str, Any]:
        old = self.published.get(facts.phone_number_id)
        since = now if old is None or old["role"] != verdict.role else old["since"] or now
        return {
            "phone_number_id": facts.phone_number_id,
            "display_phone_number": facts.display_phone_number,
            "quality": facts.quality,
            "status": facts.status,
            "allowed_mps": verdict.allowed_mps,
            "role": verdict.role,
            "throughput_level": facts.throughput_level,
            "messaging_limit_tier": self.tier,
            "reason": verdict.reason,
            "quality_trend": facts.trend,
            "nominal_mps": verdict.nominal_mps,
            "warmup_day": verdict.warmup_day,
            "daily_cap": verdict.daily_cap,
            "recovery_until": facts.recovery_until,
            "since": since,
            "updated_at": now,
        }

    def _transition_alerts(self, pnid: str, old: Verdict | None, new: Verdict,
                           covering: str | None, now: datetime) -> list[dict[str, Any]]:
        before = old.state if old is not None else "ok"
        out = []
        if new.state == "stopped" and before != "stopped":
            out.append(_alert("number_stopped", "CRITICAL", pnid,
                              f"number {pnid} stopped ({new.reason}): its intents move to healthy "
                              "numbers or the hot spare", now, action="stop_and_failover",
                              reason=new.reason))
        elif new.state == "throttled" and before != "throttled":
            out.append(_alert("number_throttled", "WARNING", pnid,
                              f"number {pnid}: {new.reason}", now, action="throttle",
                              share=str(self.policy.throttle_share), reason=new.reason))
            out.append(_alert("conservative_template", "WARNING", pnid,
                              f"number {pnid} is at risk ({new.reason}): send the conservative "
                              "template from it", now, action="conservative_template"))
        elif new.state == "recovering" and (before != "recovering" or (old and old.step != new.step)):
            out.append(_alert("number_recovering", "INFO", pnid, f"number {pnid} {new.reason}", now,
                              action="unwind", step=str(new.step),
                              allowed_mps=f"{new.allowed_mps:g}"))
        elif new.state == "ok" and before in ("recovering", "stopped", "throttled") and old is not None:
            out.append(_alert("number_recovered", "INFO", pnid,
                              f"number {pnid} back at its full rate", now, action="recovered"))
        was_promoted = old is not None and old.role == "PRIMARY" and old.reason.startswith("hot spare")
        if covering is not None and not was_promoted:
            out.append(_alert("spare_promoted", "WARNING", pnid,
                              f"hot spare {pnid} promoted to cover {covering}", now,
                              action="warm_spare", covering=covering))
        elif covering is None and was_promoted and new.role == "SPARE":
            out.append(_alert("spare_released", "INFO", pnid, f"hot spare {pnid} back to SPARE",
                              now, action="release_spare"))
        return out


def _number_side_failure(code: Any) -> bool:
    """A failure that says something about the number (not the recipient or the template)."""
    if code is None:
        return False
    policy = classify(int(code))
    return policy.transient or policy.action is Action.STOP_NUMBER


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _raw(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_COMPARED = ("quality", "status", "allowed_mps", "role", "throughput_level", "messaging_limit_tier",
             "reason", "quality_trend", "nominal_mps", "warmup_day", "daily_cap", "display_phone_number")


def _differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    return old is None or any(old[k] != new[k] for k in _COMPARED)


def _alert(kind: str, severity: str, subject: str, message: str, now: datetime,
           **details: str) -> dict[str, Any]:
    """An Alert record; its id is stable for one transition (kind, subject, instant)."""
    return {
        "alert_id": f"{kind}:{subject}:{int(now.timestamp() * 1000)}",
        "kind": kind,
        "severity": severity,
        "subject": subject,
        "message": message,
        "run_date": None,
        "details": {k: str(v) for k, v in details.items()},
        "raised_at": now,
    }

