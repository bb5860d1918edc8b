"""Document vectors and the pieces of dedup verification: window sums, the projection, the
screen and the per-link-type background."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.alignment import AlignParams, best_match_margin, embed_side
from aligner.docvec import (
    coverage_many,
    fit_projection,
    sentence_coverage,
    sentence_lengths,
    window_background,
)
from aligner.encoders.base import Encoder, segment_sums
from aligner.encoders.builtin import BuiltinEncoder
from aligner.prepare import prepare_document
from aligner.types import Document

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


def _doc(doc_id: str, text: str) -> object:
    return prepare_document(Document(doc_id, text))


@pytest.fixture(scope="module")
def pools() -> dict[str, list]:
    encoder = BuiltinEncoder()
    words = [
        "خبر",
        "گزارش",
        "دولت",
        "مجلس",
        "اقتصاد",
        "ورزش",
        "فیلم",
        "شهر",
        "باران",
        "مدرسه",
        "کتاب",
        "بازار",
        "نفت",
    ]
    rng = np.random.default_rng(1)
    docs = [
        " ".join(rng.choice(words, 6)) + ". " + " ".join(rng.choice(words, 6)) + "."
        for _ in range(60)
    ]
    sides = [embed_side([s.strip() + "." for s in d.split(".") if s.strip()], encoder, 3)
             for d in docs]  # fmt: skip
    return {"fa": sides}


def test_window_background_is_measured_per_link_type(pools: dict[str, list]) -> None:
    background = window_background(pools, "fa", "fa", AlignParams())
    assert background is not None
    assert (1, 1) in background.by_type and (2, 2) in background.by_type
    # unrelated two-sentence windows share more vocabulary than single sentences
    assert background.stats(2, 2)[0] > background.stats(1, 1)[0]
    assert window_background({"fa": pools["fa"][:3]}, "fa", "fa", AlignParams()) is None


def test_sentence_coverage_screens_unrelated_documents(pools: dict[str, list]) -> None:
    background = window_background(pools, "fa", "fa", AlignParams())
    assert background is not None
    encoder = BuiltinEncoder()
    a = _doc("a", "پوتین و اردوغان درباره سوریه گفت‌وگو کردند.\nنشست آستانه ادامه می‌یابد.")
    b = _doc("b", "پوتین و اردوغان درباره سوریه گفت‌وگو کردند.\nنشست آستانه ادامه دارد.")
    c = _doc("c", "تیم ملی فوتبال امروز به تهران بازگشت.\nهوای شهر بارانی است.")

    def vectors(doc: object) -> np.ndarray:
        return encoder.encode(doc.texts())  # type: ignore[attr-defined]

    same = sentence_coverage(vectors(a), a, vectors(b), b, background, 3.0)  # type: ignore[arg-type]
    other = sentence_coverage(vectors(a), a, vectors(c), c, background, 3.0)  # type: ignore[arg-type]
    assert same > 0.5 and other == 0.0


def test_coverage_many_equals_pairwise_coverage(pools: dict[str, list]) -> None:
    background = window_background(pools, "fa", "fa", AlignParams())
    assert background is not None
    encoder = BuiltinEncoder()
    a = _doc("a", "پوتین و اردوغان درباره سوریه گفت‌وگو کردند.\nنشست آستانه ادامه می‌یابد.")
    others = [
        _doc("b", "پوتین و اردوغان درباره سوریه گفت‌وگو کردند.\nنشست آستانه ادامه دارد."),
        _doc("c", "تیم ملی فوتبال امروز به تهران بازگشت.\nهوای شهر بارانی است."),
        _doc("d", "نشست آستانه ادامه می‌یابد."),
    ]
    va = encoder.encode(a.texts())
    pairs = [(encoder.encode(o.texts()), sentence_lengths(o)) for o in others]
    pairs.insert(1, (np.zeros((0, va.shape[1]), np.float32), np.zeros(0)))  # no sentences
    together = coverage_many(va, sentence_lengths(a), pairs, background, 3.0)
    one_by_one = [sentence_coverage(va, a, encoder.encode(o.texts()), o, background, 3.0)
                  for o in others]  # fmt: skip
    assert together[1] == 0.0
    np.testing.assert_allclose(np.delete(together, 1), one_by_one, atol=1e-6)
    assert together[0] > 0.5 and together[2] == 0.0 and 0 < together[3] < together[0]


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
