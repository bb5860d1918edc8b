"""Fitted encoder statistics: saving, loading, fallbacks and the logistic fit."""

from __future__ import annotations

import numpy as np
import pytest

from aligner.encoders import load_encoder
from aligner.encoders.stats import (
    POOLED,
    POOLED_SAME,
    EncoderStats,
    Logistic,
    fit_logistic,
    shipped_stats,
)


def _stats() -> EncoderStats:
    return EncoderStats(
        {"kind": "test", "dim": 3},
        {"fa": np.array([1, 0, 0], np.float32), "ar": np.array([0, 1, 0], np.float32)},
        {"fa-ar": {(1, 1): (0.1, 0.05), (2, 1): (0.2, 0.06)}, POOLED: {(1, 1): (0.3, 0.07)}},
        Logistic(("z", "sentences"), (0.5, -0.1), 0.2),
        Logistic(("coverage",), (4.0,), -2.0),
        {"fitted_on": "nothing"},
    )


def test_statistics_round_trip(tmp_path) -> None:
    stats = _stats()
    stats.save(tmp_path / "s.npz")
    loaded = EncoderStats.load(tmp_path / "s.npz")
    assert loaded.identity == stats.identity and loaded.notes == stats.notes
    assert loaded.backgrounds == stats.backgrounds
    assert loaded.link_calibration == stats.link_calibration
    assert loaded.pair_calibration == stats.pair_calibration
    assert np.array_equal(loaded.centre("fa"), stats.centre("fa"))


def test_unfitted_languages_get_encoder_wide_statistics() -> None:
    stats = _stats()
    assert np.allclose(stats.centre("de"), [0.5, 0.5, 0.0])
    assert stats.background("ar", "fa")[(1, 2)] == (0.2, 0.06)  # the reverse, swapped
    assert stats.background("de", "en") == {(1, 1): (0.3, 0.07)}
    assert stats.background("de", "de") == {(1, 1): (0.3, 0.07)}  # no one-language pool


def test_one_language_pairs_have_backgrounds_of_their_own() -> None:
    """Two documents of one language (an archive's near copies) are judged against
    unrelated text of that language, which is more alike than text of two languages."""
    stats = _stats()
    stats.backgrounds["fa-fa"] = {(1, 1): (0.4, 0.08)}
    stats.backgrounds[POOLED_SAME] = {(1, 1): (0.35, 0.09)}
    assert stats.background("fa", "fa") == {(1, 1): (0.4, 0.08)}
    assert stats.background("de", "de") == {(1, 1): (0.35, 0.09)}
    assert stats.background("de", "fa") == {(1, 1): (0.3, 0.07)}
    for model in ("builtin", "e5"):
        shipped = load_encoder(model).statistics()
        assert shipped is not None
        same, across = (
            shipped.background("fa", "fa")[(1, 1)],
            shipped.background("fa", "ar")[(1, 1)],
        )
        assert same != across


def test_logistic_fit_recovers_a_known_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))
    y = rng.random(4000) < p
    model = fit_logistic([{"a": a, "b": b} for a, b in x], y, ("a", "b"), l2=0.0)
    assert model.weights == pytest.approx((2.0, -1.0), abs=0.2)
    assert model.bias == pytest.approx(0.5, abs=0.15)
    assert 0 < model.probability({"a": 0.0, "b": 0.0}) < 1


def test_builtin_ships_statistics_for_exactly_its_identity() -> None:
    assert load_encoder("builtin").statistics() is not None
    assert load_encoder("builtin:1024").statistics() is None  # nobody fitted that one
    assert shipped_stats({"kind": "builtin", "dim": 7}) is None
