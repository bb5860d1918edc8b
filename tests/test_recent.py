"""The window of recent documents that dedup searches exhaustively."""

from __future__ import annotations

import numpy as np

from aligner.recent import RecentWindow


def _unit(values: list[float]) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_search_returns_the_nearest_of_a_language_best_first() -> None:
    window: RecentWindow[str] = RecentWindow(10)
    window.add("fa", _unit([1, 0, 0]), "x")
    window.add("fa", _unit([1, 1, 0]), "xy")
    window.add("fa", _unit([0, 1, 0]), "y")
    window.add("ar", _unit([1, 0, 0]), "ar-x")
    queries = np.stack([_unit([1, 0.1, 0]), _unit([0, 0, 1])])
    hits = window.search(queries, "fa", 2)
    assert [item for _, item in hits[0]] == ["x", "xy"]
    assert hits[0][0][0] >= hits[0][1][0]
    assert len(hits[1]) == 2  # nothing is similar, but the k nearest are still returned
    assert [item for _, item in window.search(queries, "ar", 5)[0]] == ["ar-x"]
    assert window.search(queries, "de", 3) == [[], []]
    assert window.languages() == ["ar", "fa"] and len(window) == 4


def test_only_the_last_documents_of_each_language_are_kept() -> None:
    window: RecentWindow[int] = RecentWindow(3)
    for i in range(7):
        window.add("fa", _unit([1, i, 0]), i)
    window.add("ar", _unit([0, 0, 1]), 100)
    found = {item for _, item in window.search(_unit([1, 0, 0])[None], "fa", 10)[0]}
    assert found == {4, 5, 6}
    assert len(window) == 4


def test_a_window_of_size_zero_keeps_nothing() -> None:
    window: RecentWindow[int] = RecentWindow(0)
    window.add("fa", _unit([1, 0]), 1)
    assert len(window) == 0 and window.search(_unit([1, 0])[None], "fa", 3) == [[]]
