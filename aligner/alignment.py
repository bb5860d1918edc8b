"""Sentence alignment by dynamic programming over embedding similarity.

In the vecalign/bertalign family: every candidate segment (1 to 3 consecutive sentences on
either side) is embedded as one text, so a long Arabic sentence that packs three Persian
sentences is compared with the three Persian sentences *together*. A link's gain is its
similarity as a z-score against unrelated segments of the same shape, less a threshold and
a penalty for lengths that do not fit; sentences with no
counterpart are skipped at no gain. The DP maximises total gain, so a link is only made where
it is better than leaving both sides unaligned.

Exact (full table) for news-length documents; for long documents (more than `full_cells`
cells) the table is restricted to a band around a path of confident 1-1 anchors, which
keeps time and memory linear in the document length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aligner.embedding import recenter
from aligner.encoders.base import Encoder
from aligner.encoders.stats import Logistic
from aligner.types import Link

# Link types (src sentences, tgt sentences). Skips (1, 0) and (0, 1) are handled apart.
LINK_TYPES: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1))
_SKIP_SRC = len(LINK_TYPES)
_SKIP_TGT = len(LINK_TYPES) + 1
_NEG = -1e30


@dataclass(frozen=True)
class AlignParams:
    """Decision parameters, in units of the background similarity spread (z-scores)."""

    threshold: float = 1.0  # a link must beat the background by this much per sentence
    group_penalty: float = 2.5  # per extra sentence in a many-to-one segment
    two_two_penalty: float = 6.0  # 2-2 links: a moved boundary is rarer than a merge
    three_one_penalty: float = 3.0  # 1-3 and 3-1 links
    length_weight: float = 0.5  # weight of the squared length-ratio mismatch
    length_spread: float = 0.3  # typical |log length ratio| of a translation pair
    full_cells: int = 4_000_000  # n*m above which the DP runs in a band
    band_width: int = 30  # half-width of the band, in sentences (grows with length)
    max_group: int = 3

    def link_types(self) -> tuple[tuple[int, int], ...]:
        return tuple(t for t in LINK_TYPES if max(t) <= self.max_group)


@dataclass
class SideEmbeddings:
    """One document's sentences as the aligner needs them: embeddings of every window of
    1..max_group consecutive sentences, and the windows' lengths."""

    windows: list[np.ndarray]  # windows[k-1][i] = embedding of sentences i .. i+k-1
    lengths: list[np.ndarray]  # lengths[k-1][i] = characters in that window
    # allowed[k-1][i]: whether window i of size k may be linked (None: every window); a
    # costly encoder only encodes the windows worth trying (`windows_worth_encoding`)
    allowed: list[np.ndarray | None] = field(default_factory=list)

    def mask(self, k: int) -> np.ndarray | None:
        return self.allowed[k - 1] if k - 1 < len(self.allowed) else None

    @property
    def size(self) -> int:
        return 0 if not self.windows else len(self.windows[0])


@dataclass
class Background:
    """Similarity statistics of unrelated segment pairs, to turn cosines into z-scores.

    Kept per link type: two unrelated 3-sentence segments share more common vocabulary than
    two unrelated sentences, so their cosines run higher, and a single spread for all types
    would make long segments look like translations."""

    mean: float
    std: float
    by_type: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)

    def stats(self, a: int, b: int) -> tuple[float, float]:
        return self.by_type.get((a, b), (self.mean, self.std))


MIN_STD = 0.02  # floor for a spread estimated from few pairs


def background_from_samples(samples: dict[tuple[int, int], np.ndarray]) -> Background:
    """Mean and spread of each link type's similarities of unrelated pairs."""
    by_type = {
        kind: (float(values.mean()), float(max(values.std(), MIN_STD)))
        for kind, values in samples.items()
        if len(values) >= 8
    }
    mean, std = by_type.get((1, 1), (0.0, 0.08))
    return Background(mean, std, by_type)


def unrelated_similarities(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """Similarities of segment pairs that are unrelated but for a few chance true pairs:
    every pair of few windows (the handful of true pairs hardly moves the mean and spread
    of thousands), or the pairs (src[i], tgt[i]) of many."""
    if len(src) * len(tgt) <= 250_000:
        return (src @ tgt.T).ravel()
    count = min(len(src), len(tgt))
    return np.einsum("ij,ij->i", src[:count], tgt[:count])


def embed_side(
    texts: Sequence[str],
    encoder: Encoder,
    max_group: int = 3,
    center: np.ndarray | None = None,
) -> SideEmbeddings:
    """Embed all windows of a document's sentences, optionally centred on a language mean
    (see `recenter`)."""
    windows = encoder.encode_windows(list(texts), max_group)
    return side_from_windows(windows, texts, center)


def side_from_windows(
    windows: Sequence[np.ndarray],
    texts: Sequence[str],
    center: np.ndarray | None = None,
    allowed: Sequence[np.ndarray | None] = (),
) -> SideEmbeddings:
    """SideEmbeddings from window vectors (as `Encoder.encode_windows` returns them), with
    the windows' character lengths, centred on `center` when given."""
    char_lengths = np.array([len(t) for t in texts], dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(char_lengths)])
    out, lengths = [], []
    for k, vectors in enumerate(windows, start=1):
        count = len(vectors)
        if center is not None and count:
            vectors = recenter(vectors, center)
        out.append(vectors)
        lengths.append(cumulative[k : k + count] - cumulative[:count] + (k - 1))
    return SideEmbeddings(windows=out, lengths=lengths, allowed=list(allowed))


def pair_background(src: SideEmbeddings, tgt: SideEmbeddings) -> Background:
    """Background statistics estimated from the pair itself (when no corpus is at hand):
    the lower 80% of the sentence similarities are mostly unrelated pairs, the top holds
    the translations. A single pair is too small to estimate every link type apart
    (its multi-sentence windows overlap their true partners), so all types share the 1-1
    figures; with a corpus, `aligner.match` measures each type on unrelated documents."""
    if src.size == 0 or tgt.size == 0:
        return background_from_samples({})
    flat = np.sort((src.windows[0] @ tgt.windows[0].T).ravel())
    return background_from_samples({(1, 1): flat[: max(4, int(0.8 * len(flat)))]})


class _Scorer:
    """Gains of candidate links, computed from the window embeddings on demand."""

    def __init__(
        self,
        src: SideEmbeddings,
        tgt: SideEmbeddings,
        background: Background,
        params: AlignParams,
        full: bool,
    ) -> None:
        self.src, self.tgt, self.params = src, tgt, params
        self.bg = background
        n, m = src.size, tgt.size
        # Expected length ratio between the languages, from the whole pair.
        total_src = float(src.lengths[0].sum()) if n else 1.0
        total_tgt = float(tgt.lengths[0].sum()) if m else 1.0
        self.log_ratio = np.log((total_src + 1.0) / (total_tgt + 1.0))
        self.full: dict[tuple[int, int], np.ndarray] = {}
        if full:
            for a, b in params.link_types():
                if n >= a and m >= b:
                    self.full[(a, b)] = self._gains(a, b, np.arange(n - a + 1), None)

    def gains(self, a: int, b: int, i: int, js: np.ndarray) -> np.ndarray:
        """Gains of links (a, b) starting at source sentence i and target sentences js."""
        if (a, b) in self.full:
            return self.full[(a, b)][i, js]
        return self._gains(a, b, np.array([i]), js)[0]

    def similarity(self, a: int, b: int, i: int, j: int) -> float:
        return float(self.src.windows[a - 1][i] @ self.tgt.windows[b - 1][j])

    def z_margin(self, a: int, b: int, i: int, j: int) -> float:
        sim = self.similarity(a, b, i, j)
        mean, std = self.bg.stats(a, b)
        return float((sim - mean) / std)

    def _gains(self, a: int, b: int, rows: np.ndarray, js: np.ndarray | None) -> np.ndarray:
        src_w = self.src.windows[a - 1][rows]
        tgt_w = self.tgt.windows[b - 1] if js is None else self.tgt.windows[b - 1][js]
        sims = src_w @ tgt_w.T
        mean, std = self.bg.stats(a, b)
        margin = (sims - mean) / std
        len_src = self.src.lengths[a - 1][rows][:, None]
        len_tgt = self.tgt.lengths[b - 1] if js is None else self.tgt.lengths[b - 1][js]
        mismatch = np.abs(np.log((len_src + 20.0) / (len_tgt[None, :] + 20.0)) - self.log_ratio)
        p = self.params
        # Squared: a translation is rarely twice as long as its source, while small
        # differences are normal and should cost almost nothing.
        per_sentence = margin - p.threshold - p.length_weight * (mismatch / p.length_spread) ** 2
        src_mask, tgt_mask = self.src.mask(a), self.tgt.mask(b)
        if src_mask is not None:
            per_sentence[~src_mask[rows]] = _NEG
        if tgt_mask is not None:
            per_sentence[:, ~(tgt_mask if js is None else tgt_mask[js])] = _NEG
        if (a, b) == (2, 2):
            penalty = p.two_two_penalty
        elif 3 in (a, b):
            penalty = p.three_one_penalty
        else:
            penalty = p.group_penalty * (a + b - 2)
        return 0.5 * (a + b) * per_sentence - penalty


def align_embeddings(
    src: SideEmbeddings,
    tgt: SideEmbeddings,
    params: AlignParams | None = None,
    background: Background | None = None,
    calibration: Logistic | None = None,
) -> list[Link]:
    """Align two embedded documents. Returns links in document order; sentences that are in
    no link have no counterpart. A link's score is `calibration`'s probability that it is
    right (features `z`, its similarity as a z-score, and `sentences`, its size), or without
    one a logistic of its margin over the threshold."""
    params = params or AlignParams()
    n, m = src.size, tgt.size
    if n == 0 or m == 0:
        return []
    background = background or pair_background(src, tgt)
    full = n * m <= params.full_cells
    scorer = _Scorer(src, tgt, background, params, full=full)
    bands = _full_band(n, m) if full else _anchor_band(src, tgt, params)
    return _dynamic_programme(scorer, bands, params, calibration)


def _full_band(n: int, m: int) -> list[tuple[int, int]]:
    return [(0, m)] * (n + 1)


def _anchor_band(
    src: SideEmbeddings, tgt: SideEmbeddings, params: AlignParams
) -> list[tuple[int, int]]:
    """A band around the path of confident 1-1 anchors (mutual nearest neighbours that
    form an increasing chain). Without anchors the band follows the diagonal."""
    n, m = src.size, tgt.size
    best_tgt = _nearest(src.windows[0], tgt.windows[0])
    best_src = _nearest(tgt.windows[0], src.windows[0])
    anchors = [(i, int(j)) for i, j in enumerate(best_tgt) if best_src[j] == i]
    chain = _longest_increasing_chain(anchors)
    points = [(0, 0), *chain, (n, m)]
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    centers = np.interp(np.arange(n + 1), xs, ys)
    width = max(params.band_width, int(0.01 * max(n, m)))
    bands = []
    for i, c in enumerate(centers):
        lo = max(0, int(c) - width)
        hi = min(m, int(c) + width)
        if i == 0:
            lo = 0
        if i == n:
            hi = m
        bands.append((lo, hi))
    # Bands must be monotone so that every cell can be reached from the previous row.
    for i in range(1, n + 1):
        lo, hi = bands[i]
        prev_lo, prev_hi = bands[i - 1]
        bands[i] = (max(lo, prev_lo), max(hi, prev_hi))
        if bands[i][0] > prev_hi:
            bands[i] = (prev_hi, bands[i][1])
    return bands


def _nearest(query: np.ndarray, pool: np.ndarray, chunk: int = 1024) -> np.ndarray:
    out = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), chunk):
        out[start : start + chunk] = np.argmax(query[start : start + chunk] @ pool.T, axis=1)
    return out


def _longest_increasing_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest subsequence of (i, j) pairs increasing in both (pairs sorted by i)."""
    import bisect

    tails: list[int] = []
    tail_index: list[int] = []
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_index.append(index)
        else:
            tails[pos] = j
            tail_index[pos] = index
        previous[index] = tail_index[pos - 1] if pos > 0 else -1
    chain = []
    index = tail_index[-1] if tail_index else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]


def _dynamic_programme(
    scorer: _Scorer,
    bands: list[tuple[int, int]],
    params: AlignParams,
    calibration: Logistic | None = None,
) -> list[Link]:
    n = len(bands) - 1
    types = params.link_types()
    pointers: list[np.ndarray] | list[list[int]]
    if scorer.full and n * scorer.tgt.size <= _PYTHON_DP_CELLS:
        pointers = _small_table(scorer, n, scorer.tgt.size, types)
    else:
        pointers = _banded_table(scorer, bands, types)
    return _trace_back(scorer, bands, pointers, types, params, calibration)


# Up to this many cells (a news report against another: about 100) the table is filled in
# plain Python: per row, the vectorised version makes a dozen numpy calls per link type,
# and on rows of ten cells their overhead is most of the alignment's time.
_PYTHON_DP_CELLS = 5_000


def _small_table(
    scorer: _Scorer, n: int, m: int, types: tuple[tuple[int, int], ...]
) -> list[list[int]]:
    """`_banded_table` over the full table, cell by cell (same sums in the same order, same
    tie-breaking: the first link type with the strictly best total wins)."""
    gains = {t: scorer.full[t].tolist() for t in types if t in scorer.full}
    rows = [[0.0] * (m + 1)]
    pointers = [[_SKIP_TGT] * (m + 1)]
    for i in range(1, n + 1):
        candidates = [(t, a, b, gains[(a, b)][i - a]) for t, (a, b) in enumerate(types)
                      if a <= i and (a, b) in gains]  # fmt: skip
        previous = rows[i - 1]
        row = [_NEG] * (m + 1)
        arg = [_SKIP_TGT] * (m + 1)
        for j in range(m + 1):
            best, choice = _NEG, _SKIP_TGT
            for t, a, b, gain in candidates:
                if j >= b:
                    cand = rows[i - a][j - b] + gain[j - b]
                    if cand > best:
                        best, choice = cand, t
            if previous[j] > best:  # skip the source sentence
                best, choice = previous[j], _SKIP_SRC
            row[j], arg[j] = best, choice
        for j in range(m + 1):
            # skipping target sentences within the row: a running maximum along j
            if j and row[j - 1] > row[j]:
                row[j], arg[j] = row[j - 1], _SKIP_TGT
        rows.append(row)
        pointers.append(arg)
    return pointers


def _banded_table(
    scorer: _Scorer, bands: list[tuple[int, int]], types: tuple[tuple[int, int], ...]
) -> list[np.ndarray]:
    n = len(bands) - 1
    rows: list[np.ndarray] = []
    pointers: list[np.ndarray] = []
    lo0, hi0 = bands[0]
    rows.append(np.zeros(hi0 - lo0 + 1))
    pointers.append(np.full(hi0 - lo0 + 1, _SKIP_TGT, dtype=np.int8))
    for i in range(1, n + 1):
        lo, hi = bands[i]
        js = np.arange(lo, hi + 1)
        best = np.full(len(js), _NEG)
        arg = np.full(len(js), _SKIP_TGT, dtype=np.int8)
        candidates = [(t, a, b) for t, (a, b) in enumerate(types) if a <= i]
        candidates.append((_SKIP_SRC, 1, 0))
        for t, a, b in candidates:
            prev_lo, prev_hi = bands[i - a]
            prev_js = js - b
            ok = (prev_js >= prev_lo) & (prev_js <= prev_hi)
            if b:
                ok &= prev_js <= scorer.tgt.size - b
            if not ok.any():
                continue
            cand = np.full(len(js), _NEG)
            cand[ok] = rows[i - a][prev_js[ok] - prev_lo]
            if b:
                cand[ok] += scorer.gains(a, b, i - a, prev_js[ok])
            better = cand > best
            best[better] = cand[better]
            arg[better] = t
        # Skipping target sentences within the row: a running maximum along j.
        running = np.maximum.accumulate(best)
        arg[running > best] = _SKIP_TGT
        rows.append(running)
        pointers.append(arg)
    return pointers


def _trace_back(
    scorer: _Scorer,
    bands: list[tuple[int, int]],
    pointers: list[np.ndarray] | list[list[int]],
    types: tuple[tuple[int, int], ...],
    params: AlignParams,
    calibration: Logistic | None = None,
) -> list[Link]:
    n = len(bands) - 1
    links: list[Link] = []
    i, j = n, bands[n][1]
    while i > 0 or j > 0:
        lo = bands[i][0]
        t = int(pointers[i][j - lo]) if i > 0 else _SKIP_TGT
        if t == _SKIP_TGT:
            j -= 1
        elif t == _SKIP_SRC:
            i -= 1
        else:
            a, b = types[t]
            i0, j0 = i - a, j - b
            z = scorer.z_margin(a, b, i0, j0)
            score = (
                calibration.probability({"z": z, "sentences": a + b})
                if calibration is not None
                else _link_score(z, params)
            )
            links.append(Link(tuple(range(i0, i)), tuple(range(j0, j)), score))
            i, j = i0, j0
    return links[::-1]


def _link_score(z: float, params: AlignParams) -> float:
    """A confidence in [0, 1]: 0.5 at the link threshold, rising with the margin."""
    return float(1.0 / (1.0 + np.exp(-(z - params.threshold))))


def link_contrast(
    src: SideEmbeddings,
    tgt: SideEmbeddings,
    links: Sequence[Link],
    background: Background,
    similarities: np.ndarray | None = None,
) -> tuple[float, float]:
    """How far the links stand above the rest of the pair: the mean z-score of the links
    (each against the background of its own link type, weighted by its sentences), and
    the mean z-score of the sentence pairs that no link covers (0.0 where there are none).

    A translation's links stand far above its unlinked sentence pairs; two reports of one
    topic can be linked throughout, but their links score no better than any two of their
    sentences do. `similarities`: the pair's sentence similarity matrix, when the caller
    has it already."""
    if not links:
        return 0.0, 0.0
    total = weight = 0.0
    covered = np.zeros((src.size, tgt.size), dtype=bool)
    for link in links:
        a, b = len(link.src), len(link.tgt)
        sim = float(src.windows[a - 1][link.src[0]] @ tgt.windows[b - 1][link.tgt[0]])
        mean, std = background.stats(a, b)
        total += (a + b) * (sim - mean) / std
        weight += a + b
        covered[link.src[0] : link.src[-1] + 1, link.tgt[0] : link.tgt[-1] + 1] = True
    if covered.all():
        return total / weight, 0.0
    if similarities is None:
        similarities = src.windows[0] @ tgt.windows[0].T
    mean, std = background.stats(1, 1)
    rest = similarities[~covered]
    return total / weight, float((rest.mean() - mean) / std)


def best_match_margin(
    a_vectors: np.ndarray, b_vectors: np.ndarray, background: Background
) -> float:
    """How distinct each sentence's best counterpart in the other document is: the mean,
    over the sentences of both, of the z-score of the best counterpart minus that of the
    second best (0, an unrelated sentence's, when there is none).

    A translation's sentences each have one counterpart far above the rest; two reports
    on one topic (unrelated COVID-19 sentences, say) have many similar sentences and no
    distinct one, even where alignment finds a plausible monotone path through them (the
    margin criterion of LASER-style mining, per sentence)."""
    if not len(a_vectors) or not len(b_vectors):
        return 0.0
    return margin_of_similarities(a_vectors @ b_vectors.T, background)


def margin_of_similarities(similarities: np.ndarray, background: Background) -> float:
    """`best_match_margin` from the pair's sentence similarity matrix (non-empty)."""
    mean, std = background.stats(1, 1)
    z = (similarities - mean) / std
    gaps = [_top_two_gap(z), _top_two_gap(z.T)]
    return float(np.concatenate(gaps).mean())


def _top_two_gap(z: np.ndarray) -> np.ndarray:
    """Per row: best minus second-best value (minus 0 for a single column)."""
    if z.shape[1] == 1:
        return z[:, 0]
    top = np.partition(z, z.shape[1] - 2, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def windows_worth_encoding(
    src: SideEmbeddings,
    tgt: SideEmbeddings,
    background: Background,
    params: AlignParams | None = None,
    slack: float = 1.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Which multi-sentence windows of each side a costly encoder should encode, judged on
    approximate windows (`src`, `tgt`: each window the normalised sum of its sentence
    vectors, which runs a little high against single sentences, so errs on the side of
    encoding): a window is worth it where a link through it could beat, by `slack` (in
    gain units), the best 1-1 link among the sentences it covers, and the link itself
    would clear the threshold. Returns, per side, a mask per window size 1..max_group."""
    params = params or AlignParams()
    n, m = src.size, tgt.size
    src_masks = [np.ones(n, bool)] + [np.zeros(max(n - k + 1, 0), bool) for k in range(2, 4)]
    tgt_masks = [np.ones(m, bool)] + [np.zeros(max(m - k + 1, 0), bool) for k in range(2, 4)]
    if n == 0 or m == 0:
        return src_masks[: params.max_group], tgt_masks[: params.max_group]
    scorer = _Scorer(src, tgt, background, params, full=False)
    one = scorer._gains(1, 1, np.arange(n), None)
    for a, b in params.link_types():
        if (a, b) == (1, 1) or n < a or m < b:
            continue
        gains = scorer._gains(a, b, np.arange(n - a + 1), None)
        # the best 1-1 link inside the block the window link would cover (0: skip them all)
        inside = np.zeros_like(gains)
        for r in range(a):
            for c in range(b):
                block = one[r : r + n - a + 1, c : c + m - b + 1]
                np.maximum(inside, block, out=inside)
        worth = gains > inside - slack
        src_masks[a - 1] |= worth.any(axis=1) if a > 1 else False
        tgt_masks[b - 1] |= worth.any(axis=0) if b > 1 else False
    return src_masks[: params.max_group], tgt_masks[: params.max_group]
