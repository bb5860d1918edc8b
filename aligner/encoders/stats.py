"""What an encoder's vectors look like, fitted once on development data and shipped with it.

A verdict on two documents must depend on those two documents alone, so nothing it needs
may be estimated from the batch they came in: the language centres (each language's mean
sentence vector, which says nothing about which sentence translates which), the similarity
of unrelated segments per link type (to turn a cosine into a z-score), and the two
calibrations that turn evidence into probabilities (a link is right; two documents report
the same event). `bench/calibrate.py` fits them; docs/calibration.md says how.

Languages without a fitted centre get the encoder-wide centre (the mean of the fitted
ones), language pairs without a fitted background the pooled one: nothing is special-cased
to Persian and Arabic.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

STATS_DIR = Path(__file__).parent / "data" / "stats"
FORMAT = 1
POOLED = "*"  # pooled over the language pairs fitted (for a pair nobody fitted)
POOLED_SAME = "="  # the same, over one-language pairs ("fa-fa": near copies in an archive)

LinkType = tuple[int, int]


@dataclass(frozen=True)
class Logistic:
    """p = 1 / (1 + exp(-(w . x + b))) over named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.bias + sum(w * values[f] for f, w in zip(self.features, self.weights))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Logistic:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), data["bias"])


@dataclass
class EncoderStats:
    """The fitted statistics of one encoder (identified by its identity)."""

    identity: dict[str, Any]
    centres: dict[str, np.ndarray]
    # "fa-ar" -> {(a, b): (mean, std)} with a sentences of the first language; "fa-fa" for
    # two documents of one language; POOLED and POOLED_SAME for the pairs nobody fitted
    backgrounds: dict[str, dict[LinkType, tuple[float, float]]]
    link_calibration: Logistic | None = None
    pair_calibration: Logistic | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    # raise the background to a pair's own level before aligning it (see
    # `aligner.verify.raised_to_the_pair`): chosen per encoder when fitting
    pair_level: bool = True
    _mean_centre: np.ndarray | None = field(default=None, init=False, repr=False)

    def centre(self, lang: str) -> np.ndarray | None:
        """The language's centre, or for a language nobody fitted the encoder-wide one (the
        mean of the fitted centres: most of a centre is what the encoder gives any text)."""
        if lang in self.centres:
            return self.centres[lang]
        if not self.centres:
            return None
        if self._mean_centre is None:
            self._mean_centre = np.mean(list(self.centres.values()), axis=0).astype(np.float32)
        return self._mean_centre

    def background(self, src_lang: str, tgt_lang: str) -> dict[LinkType, tuple[float, float]]:
        direct = self.backgrounds.get(f"{src_lang}-{tgt_lang}")
        if direct is not None:
            return direct
        reverse = self.backgrounds.get(f"{tgt_lang}-{src_lang}")
        if reverse is not None:
            return {(b, a): stats for (a, b), stats in reverse.items()}
        if src_lang == tgt_lang and POOLED_SAME in self.backgrounds:
            return self.backgrounds[POOLED_SAME]
        return self.backgrounds.get(POOLED, {})

    def save(self, path: str | Path) -> None:
        meta = {
            "format": FORMAT,
            "identity": self.identity,
            "backgrounds": {
                key: {f"{a}-{b}": list(s) for (a, b), s in table.items()}
                for key, table in self.backgrounds.items()
            },
            "link_calibration": self.link_calibration and self.link_calibration.to_json(),
            "pair_calibration": self.pair_calibration and self.pair_calibration.to_json(),
            "notes": self.notes,
            "pair_level": self.pair_level,
        }
        arrays = {f"centre_{lang}": vec.astype(np.float32) for lang, vec in self.centres.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> EncoderStats:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            centres = {
                key.removeprefix("centre_"): np.asarray(data[key], dtype=np.float32)
                for key in data.files
                if key.startswith("centre_")
            }
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: statistics format {meta.get('format')}, expected {FORMAT}")
        backgrounds = {
            key: {_link_type(kind): (float(s[0]), float(s[1])) for kind, s in table.items()}
            for key, table in meta["backgrounds"].items()
        }
        link = meta.get("link_calibration")
        pair = meta.get("pair_calibration")
        return cls(
            meta["identity"],
            centres,
            backgrounds,
            Logistic.from_json(link) if link else None,
            Logistic.from_json(pair) if pair else None,
            meta.get("notes", {}),
            bool(meta.get("pair_level", True)),
        )


def _link_type(text: str) -> LinkType:
    a, b = text.split("-")
    return int(a), int(b)


def identity_digest(identity: Mapping[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stats_path(identity: Mapping[str, Any], folder: Path = STATS_DIR) -> Path:
    return folder / f"{identity.get('kind', 'encoder')}-{identity_digest(identity)}.npz"


@lru_cache(maxsize=8)
def _load_shipped(path: str) -> EncoderStats | None:
    file = Path(path)
    return EncoderStats.load(file) if file.is_file() else None


def shipped_stats(identity: Mapping[str, Any]) -> EncoderStats | None:
    """The statistics shipped for exactly this encoder identity, or None (an encoder nobody
    fitted: a verdict then estimates its background from the pair itself)."""
    stats = _load_shipped(str(stats_path(identity)))
    if stats is not None and stats.identity != dict(identity):
        return None
    return stats


def fit_logistic(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    features: Sequence[str],
    l2: float = 1e-3,
    iterations: int = 50,
) -> Logistic:
    """Logistic regression by Newton's method (a few features, thousands of rows)."""
    x = np.array([[row[f] for f in features] + [1.0] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.zeros(x.shape[1])
    ridge = l2 * np.eye(x.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -60, 60)))
        gradient = x.T @ (p - y) + ridge @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(tuple(features), tuple(float(v) for v in w[:-1]), float(w[-1]))
