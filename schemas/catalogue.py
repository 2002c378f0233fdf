"""The topic catalogue: every topic dawn uses, in one place that everything else reads."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    """One topic: what its records are keyed by, what they hold, and how long they stay."""

    name: str
    key: str
    value_schema: str
    partitions: int
    cleanup_policy: str  # "delete" or "compact"
    retention_ms: int = 7 * DAY_MS
    doc: str = ""

    @property
    def config(self) -> dict[str, str]:
        """Topic configs for AdminClient.create_topics."""
        config = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            config["retention.ms"] = str(self.retention_ms)
        return config

    @property
    def dlq(self) -> Topic:
        """The dead-letter topic for records of this topic that could not be decoded or processed."""
        return Topic(
            name=f"{self.name}.dlq", key=self.key, value_schema="DeadLetter", partitions=1,
            cleanup_policy="delete", retention_ms=30 * DAY_MS,
            doc=f"records of {self.name} that could not be decoded or processed",
        )


#: Topics keyed by sender phone number share this count, so one number's intents, results and
#: statuses land on the same partition number everywhere.
NUMBER_PARTITIONS = 6

PACKS = Topic("compliance.packs.approved", "pack_id", "ContentPack", 1, "delete", 30 * DAY_MS,
              "compliance engine -> scheduler")
ADVISORS = Topic("advisors", "advisor_id", "Advisor", 6, "compact",
                 doc="import, consent agent -> scheduler, sender")
INTENTS = Topic("wa.delivery.intents", "phone_number_id", "DeliveryIntent", NUMBER_PARTITIONS,
                "delete", doc="scheduler, sender (retry, failover) -> sender")
RESULTS = Topic("wa.send.results", "phone_number_id", "SendResult", NUMBER_PARTITIONS, "delete",
                doc="sender -> state, SLA, quality, audit")
STATUSES = Topic("wa.status.events", "phone_number_id", "StatusEvent", NUMBER_PARTITIONS, "delete",
                 doc="webhook gateway -> state, SLA, quality, audit")
INBOUND = Topic("wa.inbound.messages", "phone_number_id", "InboundMessage", NUMBER_PARTITIONS,
                "delete", doc="webhook gateway -> consent, audit")
ACCOUNT = Topic("wa.account.events", "waba_id", "AccountEvent", 1, "delete",
                doc="webhook gateway, quality poller -> quality, templates, audit")
NUMBERS_HEALTH = Topic("wa.numbers.health", "phone_number_id", "NumberHealth", 1, "compact",
                       doc="quality agent -> sender, scheduler, dashboard")
TEMPLATES = Topic("wa.templates", "name:language", "TemplateState", 1, "compact",
                  doc="templates agent -> scheduler, sender")
DELIVERY_STATE = Topic("wa.delivery.state", "delivery_id", "DeliveryState", 6, "compact",
                       doc="state agent -> SLA, dashboard, reports")
SLA = Topic("ops.sla", "run_date", "SlaSnapshot", 1, "delete", 30 * DAY_MS,
            "SLA agent -> dashboard")
ALERTS = Topic("ops.alerts", "kind", "Alert", 1, "delete", 30 * DAY_MS,
               "SLA and quality agents -> dashboard, notifier")

DATA_TOPICS: tuple[Topic, ...] = (
    PACKS, ADVISORS, INTENTS, RESULTS, STATUSES, INBOUND, ACCOUNT, NUMBERS_HEALTH, TEMPLATES,
    DELIVERY_STATE, SLA, ALERTS,
)

#: Every topic, dead-letter topics included: what ``dawn topics create`` makes.
ALL_TOPICS: tuple[Topic, ...] = DATA_TOPICS + tuple(t.dlq for t in DATA_TOPICS)

BY_NAME: dict[str, Topic] = {t.name: t for t in ALL_TOPICS}


def topic(name: str) -> Topic:
    """The catalogue entry for ``name``; a KeyError names the known topics."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(sorted(BY_NAME))}") from None
