"""The screens before dedup's verdict: cheap sentence-level evidence of whether a pair
could be the same story, and the backgrounds they measure it against. They decide which
pairs get a verdict (`aligner.verify`), never what it is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aligner.alignment import (
    AlignParams,
    Background,
    SideEmbeddings,
    background_from_samples,
    unrelated_similarities,
)
from aligner.types import PreparedDocument


def window_background(
    pools: dict[str, list[SideEmbeddings]],
    a: str,
    b: str,
    params: AlignParams,
    per_size: int = 500,
    seed: int = 0,
) -> Background | None:
    """Similarity of unrelated segments of languages a and b, per link type, from the
    centred windows of sample documents (`pools[lang]`): as `aligner.match` measures it,
    since long unrelated segments share more vocabulary than single sentences. For a == b
    the documents are split in two halves, so that a window never meets itself. None when
    there are too few sentences to say."""
    docs_a, docs_b = pools.get(a, []), pools.get(b, [])
    if a == b:
        docs_a, docs_b = docs_a[0::2], docs_a[1::2]
    rng = np.random.default_rng(seed)

    def pooled(docs: list[SideEmbeddings], size: int) -> np.ndarray:
        windows = [d.windows[size - 1] for d in docs if len(d.windows) >= size]
        stacked = np.concatenate(windows) if windows else np.zeros((0, 0), np.float32)
        if len(stacked) > per_size:
            stacked = stacked[rng.choice(len(stacked), per_size, replace=False)]
        return stacked

    samples = {}
    for ka, kb in params.link_types():
        src, tgt = pooled(docs_a, ka), pooled(docs_b, kb)
        if len(src) >= 8 and len(tgt) >= 8:
            samples[(ka, kb)] = unrelated_similarities(src, tgt)
    if (1, 1) not in samples:
        return None
    return background_from_samples(samples)


def sketch_background(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], same: bool, sample: int = 20000
) -> Background | None:
    """Similarity of random sentence pairs of two languages' sketches (documents' sketches
    in `a` and `b`; for one language, pairs from its even and odd documents, so that a
    sentence never meets itself). None with too few sentences."""
    if same:
        a, b = a[0::2], a[1::2]
    if not a or not b:
        return None
    pool_a = np.concatenate(a).astype(np.float32)
    pool_b = np.concatenate(b).astype(np.float32)
    if len(pool_a) < 8 or len(pool_b) < 8:
        return None
    rng = np.random.default_rng(0)
    i = rng.integers(0, len(pool_a), sample)
    j = rng.integers(0, len(pool_b), sample)
    sims = np.einsum("ij,ij->i", pool_a[i], pool_b[j])
    return background_from_samples({(1, 1): sims})


def sentence_coverage(
    a_vectors: np.ndarray,
    a: PreparedDocument,
    b_vectors: np.ndarray,
    b: PreparedDocument,
    background: Background,
    z_cut: float,
) -> float:
    """A cheap screen before alignment, from single sentences only: the share of each
    document (in characters) whose best counterpart in the other is `z_cut` spreads above
    unrelated sentence pairs, combined as a harmonic mean (as the same-event score combines
    coverage)."""
    pair = [(b_vectors, b.sentence_lengths)]
    return float(coverage_many(a_vectors, a.sentence_lengths, pair, background, z_cut)[0])


def coverage_many(
    a_vectors: np.ndarray,
    len_a: np.ndarray,
    others: Sequence[tuple[np.ndarray, np.ndarray]],
    background: Background,
    z_cut: float,
) -> np.ndarray:
    """`sentence_coverage` of one document against several, (vectors, lengths) each, from
    one matrix product."""
    out = np.zeros(len(others))
    keep = [i for i, (v, _) in enumerate(others) if len(v)]
    if not len(a_vectors) or not keep:
        return out
    mean, std = background.stats(1, 1)
    sizes = np.array([len(others[i][0]) for i in keep])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # float32 for the product (sketches are stored as float16; callers that meet the same
    # document often keep it as float32, since the conversion costs more than the product)
    b_vectors = np.concatenate([others[i][0] for i in keep], dtype=np.float32)
    # (b a^T)^T rather than a b^T: with b the tall operand, BLAS reads it in its own row
    # order (measured: 30 instead of 65 microseconds for 8 x 280 sentences of 256 dims)
    similarities = (b_vectors @ a_vectors.T).T
    hit = similarities > mean + z_cut * std
    row_hit = np.logical_or.reduceat(hit, starts, axis=1)  # (len a, candidates)
    cov_a = (len_a @ row_hit) / max(len_a.sum(), 1.0)
    len_b = np.concatenate([others[i][1] for i in keep])
    cov_b = np.add.reduceat(len_b * hit.any(axis=0), starts) / np.maximum(
        np.add.reduceat(len_b, starts), 1.0
    )
    total = cov_a + cov_b
    out[keep] = np.where(total > 0, 2 * cov_a * cov_b / np.where(total > 0, total, 1.0), 0.0)
    return out
