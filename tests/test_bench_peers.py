"""The glue that feeds our vectors to vecalign and Bertalign (bench/peers.py). The helpers
are tested everywhere; runs of the peers themselves only where $VECALIGN_DIR and
$BERTALIGN_DIR point at their checkouts (see docs/measure.md)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from aligner.encoders.base import Encoder
from bench.peers import (
    bead_links,
    bertalign_lines,
    encode_windows,
    find_bertalign,
    find_vecalign,
    overlap_windows,
    run_bertalign,
    run_vecalign,
    window_lengths,
)


class WordHashEncoder(Encoder):
    """Bag of hashed words, unit norm: a window is close to the sum of its sentences."""

    name = "word-hash"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": "test", "name": self.name, "dim": self.dim}


LINES = [f"w{k}a w{k}b w{k}c" for k in range(8)]
JOINED = [*LINES[:3], LINES[3] + " " + LINES[4], *LINES[5:]]  # lines 3 and 4 as one


def test_overlap_windows_are_front_padded_by_window_size() -> None:
    assert overlap_windows(["a", "b", "c"], 3) == [
        "a", "b", "c", "PAD", "a b", "b c", "PAD", "PAD", "a b c",
    ]  # fmt: skip
    # fewer lines than the window: as many PADs as lines, so each row keeps len(lines)
    assert overlap_windows(["a"], 3) == ["a", "PAD", "PAD"]


def test_overlap_windows_strip_blank_and_cut() -> None:
    assert overlap_windows([" a ", ""], 2) == ["a", "BLANK_LINE", "PAD", "a BLANK_LINE"]
    assert [len(t) for t in overlap_windows(["x" * 12000], 1)] == [10000]


def test_bead_links_keep_empty_sides() -> None:
    beads = [([0], [0, 1]), ([], [2]), ([1, 2], [])]
    assert bead_links(beads) == [((0,), (0, 1)), ((), (2,)), ((1, 2), ())]
    assert bead_links([(np.array([3]), [np.int64(4)])]) == [((3,), (4,))]


def test_encode_windows_encodes_each_distinct_text_once() -> None:
    encoder = WordHashEncoder()
    vectors = encode_windows(encoder, ["a", "b"], 3)
    assert vectors.shape == (3, 2, encoder.dim) and vectors.flags.c_contiguous
    assert encoder.calls == [["a", "b", "PAD", "a b"]]  # windows of 3: PAD, PAD
    assert np.array_equal(vectors[2, 0], vectors[1, 0]) and np.array_equal(
        vectors[2, 1], vectors[1, 0]
    )
    assert np.array_equal(vectors[1, 1], encoder.encode(["a b"])[0])


def test_window_lengths_are_utf8_bytes() -> None:
    assert window_lengths(["ab", "سلام"], 2).tolist() == [[2, 8], [3, 11]]


def test_bertalign_lines_collapse_whitespace() -> None:
    assert bertalign_lines(["  a \t b  ", "c\u00a0 d"]) == ["a b", "c d"]


def needs(found: tuple[Any, str]) -> Any:
    module, why = found
    if module is None:
        pytest.skip(why)
    return module


def test_our_windows_are_vecaligns() -> None:
    dp_utils = needs(find_vecalign())
    lines = ["a", " b ", "", "d"]
    for size in (1, 2, 4, 6):
        assert overlap_windows(lines, size) == list(dp_utils.yield_overlaps(lines, size))


def test_vecalign_on_a_tiny_pair() -> None:
    dp_utils = needs(find_vecalign())
    links, times = run_vecalign(dp_utils, WordHashEncoder(), [(LINES, JOINED), ([], ["x"])])
    assert links[1] == []
    assert ((3, 4), (3,)) in links[0] and ((0,), (0,)) in links[0]
    assert times.encoding >= 0 and times.aligning > 0


def test_bertalign_on_a_tiny_pair() -> None:
    corelib = needs(find_bertalign())
    links, _, failed = run_bertalign(corelib, WordHashEncoder(), [(LINES, JOINED)])
    assert failed == 0
    assert ((3, 4), (3,)) in links[0] and ((0,), (0,)) in links[0]
