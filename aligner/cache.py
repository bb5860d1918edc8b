"""The one cache: values by key, least recently used out first.

Bounded by a number of values, by bytes (as `size` measures a value), or both; the most
recent value is always kept, however large. Every cache of a run (texts' vectors, the
archive verifier's features, windows, documents and sketches) is one of these.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    def __init__(
        self,
        max_items: int | None = None,
        max_bytes: int | None = None,
        size: Callable[[K, V], int] | None = None,
    ) -> None:
        if max_bytes is not None and size is None:
            raise ValueError("a cache bounded in bytes needs a size function")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The value (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value, leaving the order as it is."""
        return self._items.get(key)

    def put(self, key: K, value: V, trim: bool = True) -> None:
        """Keep `value` as the most recently used. With `trim=False` nothing is evicted
        yet (a caller that is still reading older values of a batch calls `trim` after)."""
        old = self._items.pop(key, None)
        if old is not None and self._size is not None:
            self.nbytes -= self._size(key, old)
        self._items[key] = value
        if self._size is not None:
            self.nbytes += self._size(key, value)
        if trim:
            self.trim()

    def pop(self, key: K) -> V | None:
        value = self._items.pop(key, None)
        if value is not None and self._size is not None:
            self.nbytes -= self._size(key, value)
        return value

    def trim(self) -> None:
        """Evict the least recently used values while over a bound."""
        while len(self._items) > 1 and (
            (self.max_items is not None and len(self._items) > self.max_items)
            or (self.max_bytes is not None and self.nbytes > self.max_bytes)
        ):
            key, value = self._items.popitem(last=False)
            if self._size is not None:
                self.nbytes -= self._size(key, value)
