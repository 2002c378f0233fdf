"""A Faust table seen as a mapping of Python values, stored as JSON.

Faust tables serialise with JSON (the changelog must be readable after a restart), while the pure
cores work with frozen dataclasses; this view converts at the boundary so the cores stay unaware of
Faust and tests can hand them plain dicts instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class TableView(MutableMapping[str, V], Generic[V]):
    def __init__(self, table: MutableMapping[str, Any], dump: Callable[[V], Any],
                 load: Callable[[Any], V]) -> None:
        self._table, self._dump, self._load = table, dump, load

    def __getitem__(self, key: str) -> V:
        return self._load(self._table[key])

    def __setitem__(self, key: str, value: V) -> None:
        self._table[key] = self._dump(value)

    def __delitem__(self, key: str) -> None:
        del self._table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
