"""Routing intents, results and statuses to the delivery they are about.

Statuses name their delivery through ``biz_opaque_callback_data`` (our delivery id) when the
sender set it; otherwise only by wamid, which we learn from the accepted send result. A status can
arrive before that result (the webhook is faster than the sender's produce), so an unmatched
status waits under its wamid and is applied when the wamid becomes known. That keeps the outcome
independent of arrival order.

The book works over any mutable mappings: the agent fills plain dicts with what a batch touches
from its PostgreSQL book (streams.delivery.batch), and tests use plain dicts.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from schemas.catalogue import INTENTS, RESULTS, STATUSES
from streams.delivery import state as ds


@dataclass
class DeliveryBook:
    """Deliveries by id, the wamid index, and status facts waiting for their wamid to be known.

    Waiting facts are already merged per wamid (a Delivery with an empty id), so the wait costs
    one small value per unknown wamid however often Meta repeats its statuses.
    """

    deliveries: MutableMapping[str, ds.Delivery]
    wamids: MutableMapping[str, str]
    waiting: MutableMapping[str, ds.Delivery]

    def apply(self, topic: str, record: dict[str, Any]) -> list[ds.Delivery]:
        """Apply a decoded record of ``topic`` (intents, results or statuses); the changed deliveries."""
        if topic == INTENTS.name:
            return self.apply_intent(record)
        if topic == RESULTS.name:
            return self.apply_result(record)
        if topic == STATUSES.name:
            return self.apply_status(record)
        raise ValueError(f"the delivery book does not read {topic}")

    def apply_intent(self, intent: dict[str, Any]) -> list[ds.Delivery]:
        return self._merge(ds.from_intent(intent))

    def apply_result(self, result: dict[str, Any]) -> list[ds.Delivery]:
        changed = self._merge(ds.from_result(result))
        wamid = result.get("wamid")
        if wamid:
            changed += self._learn_wamid(wamid, result["delivery_id"])
        return changed

    def apply_status(self, status: dict[str, Any]) -> list[ds.Delivery]:
        wamid = status["wamid"]
        delivery_id = status.get("callback_data") or self.wamids.get(wamid)
        if delivery_id is None:
            facts = ds.from_status("", status)
            held = self.waiting.get(wamid)
            self.waiting[wamid] = facts if held is None else ds.merge(held, facts)
            return []
        changed = self._merge(ds.from_status(delivery_id, status))
        if status.get("callback_data"):
            changed += self._learn_wamid(wamid, delivery_id)
        return changed

    def _learn_wamid(self, wamid: str, delivery_id: str) -> list[ds.Delivery]:
        if wamid not in self.wamids:
            self.wamids[wamid] = delivery_id
        held = self.waiting.pop(wamid, None)
        return [] if held is None else self._merge(replace(held, delivery_id=delivery_id))

    def _merge(self, facts: ds.Delivery) -> list[ds.Delivery]:
        """Merge ``facts``; the new delivery if anything changed, else nothing (no duplicate output)."""
        before = self.deliveries.get(facts.delivery_id)
        after = facts if before is None else ds.merge(before, facts)
        if after == before:
            return []
        self.deliveries[facts.delivery_id] = after
        return [after]
