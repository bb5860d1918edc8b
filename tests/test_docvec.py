"""Document vectors and what they are made of: window sums, the projection, segment sums."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.alignment import best_match_margin, embed_side
from aligner.docvec import fit_projection
from aligner.encoders.base import Encoder, segment_sums
from aligner.encoders.builtin import BuiltinEncoder

SENTENCES = [
    "پوتین و اردوغان درباره سوریه گفت‌وگو کردند.",
    "رئیس جمهور روسیه گفت که نشست آستانه ادامه می‌یابد.",
    "بوتين وأردوغان بحثا الوضع في سوريا.",
    "قال الرئيس الروسي إن محادثات أستانا ستستمر.",
    "The two presidents also discussed gas exports.",
]


def test_builtin_windows_are_the_windows_of_joined_text() -> None:
    """Summing sentence features gives what encoding the joined sentences gives."""
    encoder = BuiltinEncoder()
    summed = encoder.encode_windows(SENTENCES, 3)
    joined = Encoder.encode_windows(encoder, SENTENCES, 3)
    assert [len(w) for w in summed] == [5, 4, 3]
    for a, b in zip(summed, joined):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_embed_side_of_no_sentences_has_empty_windows() -> None:
    side = embed_side([], BuiltinEncoder(), 3)
    assert side.size == 0 and [w.shape for w in side.windows] == [(0, 4096)] * 3


def test_projection_of_rank_deficient_vectors_is_finite_and_stable() -> None:
    """Axes without variance are dropped rather than blown up to unit length: tiny
    differences in the input (another BLAS thread count) must stay tiny."""
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((20, 300))
    vectors = (rng.standard_normal((100, 20)) @ basis).astype(np.float32)  # rank 20
    projection = fit_projection(vectors, 64)
    assert projection.shape == (300, 64) and np.isfinite(projection).all()
    assert np.abs(projection[:, 20:]).max() == 0.0
    noisy = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * 1e-6
    a, b = vectors @ projection, noisy @ projection
    assert np.abs(a - b).max() < 1e-3 * np.abs(a).max()


def test_best_match_margin_tells_translations_from_same_topic_reports() -> None:
    """A translation's sentences each have one counterpart far above the rest; sentences
    that all share a topic (one common direction) have none that stands out."""
    from aligner.alignment import Background

    rng = np.random.default_rng(0)
    background = Background(mean=0.0, std=0.1)

    def unit(m: np.ndarray) -> np.ndarray:
        return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)

    a = unit(rng.standard_normal((8, 256)))
    translation = unit(a[rng.permutation(8)] + 0.5 * unit(rng.standard_normal((8, 256))))
    topic = unit(rng.standard_normal((1, 256)))
    same_topic_a = unit(topic + 0.8 * unit(rng.standard_normal((8, 256))))
    same_topic_b = unit(topic + 0.8 * unit(rng.standard_normal((7, 256))))
    high = best_match_margin(a, translation, background)
    low = best_match_margin(same_topic_a, same_topic_b, background)
    assert high > 5.0 and low < 1.5
    # with no second candidate the best is measured against an unrelated pair's (z = 0)
    one = best_match_margin(a[:1], translation, background)
    z = (a[:1] @ translation.T).ravel() / 0.1
    top = np.sort(z)
    assert one == pytest.approx(((top[-1] - top[-2]) + z.sum()) / 9, rel=1e-5)
    assert best_match_margin(a[:0], translation, background) == 0.0


def test_segment_sums_are_the_sums_of_consecutive_runs() -> None:
    rng = np.random.default_rng(0)
    counts = [3, 0, 1, 9, 0]
    vectors = rng.standard_normal((sum(counts), 16)).astype(np.float32)
    sums = segment_sums(vectors, counts)
    assert sums.shape == (5, 16) and sums.dtype == np.float32
    start = 0
    for count, total in zip(counts, sums):
        np.testing.assert_allclose(total, vectors[start : start + count].sum(axis=0), rtol=1e-6)
        start += count
    assert not sums[1].any() and not sums[4].any()
    assert segment_sums(vectors[:0], []).shape == (0, 16)


def test_the_archive_document_vector_is_the_match_document_vector(seeds_dir) -> None:
    """With the encoder's fitted centres, a store of full-dimension vectors gives each
    document the vector `match` gives it, whatever else is in the chunk."""
    from aligner.docvec import DocSpace
    from aligner.embedding import Embedder
    from aligner.encoders import load_encoder
    from aligner.prepare import prepare_document
    from aligner.types import Document

    encoder = load_encoder("builtin")
    docs = [
        prepare_document(Document(p.stem, p.read_text(encoding="utf-8")))
        for p in sorted(seeds_dir.glob("*.txt"))
    ]
    space = DocSpace(encoder.dim)
    archive = space.embed(docs, encoder)
    alone = DocSpace(encoder.dim).embed(docs[:1], encoder)
    matched = Embedder.for_encoder(encoder).document_vectors(docs)
    np.testing.assert_allclose(archive, matched, atol=1e-5)
    np.testing.assert_allclose(alone[0], matched[0], atol=1e-5)
    assert set(space.centers) == {"fa", "ar"}
    assert all(np.array_equal(space.centers[lang], encoder.statistics().centre(lang))
               for lang in space.centers)  # fmt: skip
