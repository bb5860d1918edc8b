"""Dedup's screens: the background of unrelated segments per link type, and the sentence
coverage that rejects unrelated candidates before the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.alignment import AlignParams, embed_side
from aligner.dedup.screens import coverage_many, sentence_coverage, window_background
from aligner.encoders.builtin import BuiltinEncoder
from aligner.prepare import prepare_document
from aligner.types import Document


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
    pairs = [(encoder.encode(o.texts()), o.sentence_lengths) for o in others]
    pairs.insert(1, (np.zeros((0, va.shape[1]), np.float32), np.zeros(0)))  # no sentences
    together = coverage_many(va, a.sentence_lengths, pairs, background, 3.0)
    one_by_one = [sentence_coverage(va, a, encoder.encode(o.texts()), o, background, 3.0)
                  for o in others]  # fmt: skip
    assert together[1] == 0.0
    np.testing.assert_allclose(np.delete(together, 1), one_by_one, atol=1e-6)
    assert together[0] > 0.5 and together[2] == 0.0 and 0 < together[3] < together[0]
