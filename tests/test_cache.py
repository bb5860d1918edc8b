"""The one cache: least recently used out first, bounded in values or bytes."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.cache import LRUCache
from aligner.embedding import text_bytes


def test_bounded_in_bytes_the_least_recently_used_go_first() -> None:
    cache: LRUCache[str, np.ndarray] = LRUCache(max_bytes=3 * (16 + 1), size=text_bytes)
    for text in "abc":
        cache.put(text, np.zeros(4, np.float32))
    assert cache.get("a") is not None  # now the most recent
    cache.put("d", np.zeros(4, np.float32))
    assert "b" not in cache and "a" in cache and "d" in cache
    assert cache.nbytes == 3 * 17


def test_bounded_in_values_and_peek_leaves_the_order() -> None:
    cache: LRUCache[int, str] = LRUCache(max_items=2)
    cache.put(1, "one")
    cache.put(2, "two")
    assert cache.peek(1) == "one"
    cache.put(3, "three")
    assert 1 not in cache and len(cache) == 2


def test_trim_later_keeps_a_batch_whole_until_asked() -> None:
    cache: LRUCache[int, int] = LRUCache(max_items=2)
    for key in range(5):
        cache.put(key, key, trim=False)
    assert len(cache) == 5
    cache.trim()
    assert sorted(k for k in range(5) if k in cache) == [3, 4]


def test_replacing_a_value_counts_its_new_size_and_the_last_value_is_kept() -> None:
    cache: LRUCache[str, bytes] = LRUCache(max_bytes=10, size=lambda k, v: len(v))
    cache.put("a", b"12345")
    cache.put("a", b"123")
    assert cache.nbytes == 3
    cache.put("big", b"x" * 50)  # over the bound on its own: kept, the rest evicted
    assert len(cache) == 1 and cache.get("big") == b"x" * 50
    assert cache.pop("big") == b"x" * 50 and cache.nbytes == 0


def test_a_byte_bound_needs_a_size() -> None:
    with pytest.raises(ValueError):
        LRUCache(max_bytes=10)
