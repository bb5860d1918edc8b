"""Embedding: each text encoded once per run, centred on fixed language centres."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aligner.alignment import AlignParams, side_from_windows, windows_worth_encoding
from aligner.embedding import Embedder
from aligner.encoders import load_encoder
from aligner.encoders.base import Encoder
from aligner.prepare import prepare_document
from aligner.types import Document


class Counting(Encoder):
    """The builtin encoder, counting the texts it is asked to encode."""

    def __init__(self) -> None:
        self.inner = load_encoder("builtin")
        self.name, self.dim, self.seen = "counting", self.inner.dim, []

    @property
    def identity(self):
        return {"kind": "counting"}

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts)


def test_each_text_is_encoded_once_per_run() -> None:
    encoder = Counting()
    embedder = Embedder(encoder)
    doc = prepare_document(Document("a", "یک جمله. جمله دوم. جمله سوم.", "fa"))
    embedder.sentences(doc)
    embedder.sentences(doc)
    embedder.windows(doc, 2, [0, 1])
    embedder.windows(doc, 2, [0])
    embedder.document_vectors([doc, doc])
    assert len(encoder.seen) == len(set(encoder.seen)) == 3 + 2


def test_only_windows_that_could_beat_their_sentences_are_encoded() -> None:
    """One source sentence packs two target sentences: the target window of those two is
    worth encoding, no source window is."""
    rng = np.random.default_rng(0)
    a, b, c, d = (v / np.linalg.norm(v) for v in rng.normal(size=(4, 64)))
    merged = (b + c) / np.linalg.norm(b + c)
    src = side_from_windows([np.stack([a, merged, d]), *_sums(np.stack([a, merged, d]))], "xyz")
    tgt_rows = np.stack([a, b, c, d])
    tgt = side_from_windows([tgt_rows, *_sums(tgt_rows)], "wxyz")
    from aligner.alignment import Background

    src_masks, tgt_masks = windows_worth_encoding(src, tgt, Background(0.0, 0.15), AlignParams())
    assert tgt_masks[1].tolist() == [False, True, False]  # (b, c) only
    assert not src_masks[1].any() and not src_masks[2].any()


def _sums(rows: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in (2, 3):
        w = np.stack([rows[i : i + k].sum(0) for i in range(len(rows) - k + 1)])
        out.append(w / np.linalg.norm(w, axis=1, keepdims=True))
    return out
