"""The verdict on two documents: do they report the same event, and how do they align?

A function of the two documents and the encoder, nothing else: the language centres, the
similarity of unrelated segments and the calibrations come fitted with the encoder
(`aligner.encoders.stats`), never from the batch. Retrieval may decide which pairs get a
verdict and assignment which accepted pair wins a conflict; neither changes a verdict.

1. Both documents' sentences are embedded (centred on their languages' fixed centres).
2. A costly encoder encodes only the multi-sentence windows worth trying
   (`windows_worth_encoding`); a cheap one all of them.
3. The aligner links segments by dynamic programming over z-scores against the fitted
   background; each link gets the calibrated probability that it is right.
4. The evidence — how much of each document the links cover, how confident they are, how
   distinct each sentence's best counterpart is — becomes the calibrated probability that
   the two documents report the same event. The pair is accepted at `min_probability`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from aligner.alignment import (
    AlignParams,
    Background,
    SideEmbeddings,
    align_embeddings,
    link_contrast,
    margin_of_similarities,
    pair_background,
    side_from_windows,
    windows_worth_encoding,
)
from aligner.embedding import Embedder
from aligner.encoders.base import sum_windows
from aligner.encoders.stats import EncoderStats, Logistic
from aligner.types import Alignment, DocumentPair, PreparedDocument, Verdict

# The features of the same-event calibration (see `evidence`).
PAIR_FEATURES = ("coverage", "link_z", "unlinked_z", "margin", "log_links")
CALIBRATED_MIN_SCORE = 0.5  # a probability: as likely the same event as not
# The same-event score an uncalibrated encoder needs (chosen on the damaged sets with the
# builtin encoder when it still estimated its statistics from the batch).
UNCALIBRATED_MIN_SCORE = 0.25


@dataclass(frozen=True)
class VerifyParams:
    """When a pair is accepted. With a calibrated encoder the pair score is the probability
    of the same event and `min_score` (default 0.5) the only knob. An encoder nobody fitted
    falls back to the uncalibrated rule: a same-event score of at least `min_score`
    (default 0.25), and below `distinct_below` distinct sentence counterparts
    (`best_match_margin` at least `min_margin`)."""

    min_score: float | None = None
    min_links: int = 1
    # A calibrated verdict below this probability on approximate windows is final (see
    # `verify_pair` and docs/calibration.md). 0: always encode the windows.
    early_reject: float = 0.02
    distinct_below: float = 0.5
    min_margin: float = 1.4

    def early_reject_below(self, calibrated: bool) -> float:
        """The early rejection (never closer than a quarter of the way to the threshold)."""
        if not calibrated:
            return 0.0
        return min(self.early_reject, 0.25 * self.threshold(calibrated))

    def threshold(self, calibrated: bool) -> float:
        if self.min_score is not None:
            return self.min_score
        return CALIBRATED_MIN_SCORE if calibrated else UNCALIBRATED_MIN_SCORE


def same_event_score(alignment: Alignment) -> float:
    """The harmonic mean of how much of each document the links cover, times how
    confident the links are."""
    return coverage(alignment) * alignment.mean_score


def coverage(alignment: Alignment) -> float:
    cs, ct = alignment.src_coverage, alignment.tgt_coverage
    return 0.0 if cs + ct == 0 else 2 * cs * ct / (cs + ct)


def background_for(stats: EncoderStats | None, src_lang: str, tgt_lang: str) -> Background | None:
    """The fitted similarity of unrelated segments for this language pair (None for an
    encoder nobody fitted)."""
    if stats is None:
        return None
    by_type = stats.background(src_lang, tgt_lang)
    if not by_type:
        return None
    mean, std = by_type.get((1, 1), (0.0, 0.08))
    return Background(mean, std, dict(by_type))


def raised_to_the_pair(
    background: Background, src: SideEmbeddings, tgt: SideEmbeddings, share: float = 0.8
) -> Background:
    """The fitted background, raised where the pair's own unrelated-looking sentence pairs
    (the lower `share` of its sentence similarities) run higher: two reports on one topic
    are more alike throughout than random text, and a link must beat what the pair's
    non-corresponding sentences score, not merely what unrelated text does."""
    if src.size * tgt.size < 16:
        return background
    sims = np.sort((src.windows[0] @ tgt.windows[0].T).ravel())
    lower = sims[: int(share * len(sims))]
    shift = float(lower.mean()) - background.mean
    if shift <= 0:
        return background
    by_type = {kind: (mean + shift, std) for kind, (mean, std) in background.by_type.items()}
    return Background(background.mean + shift, background.std, by_type)


def pair_sides(
    src: PreparedDocument,
    tgt: PreparedDocument,
    embedder: Embedder,
    background: Background | None,
    params: AlignParams,
) -> tuple[SideEmbeddings, SideEmbeddings]:
    """The two documents' window embeddings as the aligner needs them."""
    if embedder.encoder.cheap_windows:
        return (
            side_from_windows(embedder.all_windows(src, params.max_group), src.texts()),
            side_from_windows(embedder.all_windows(tgt, params.max_group), tgt.texts()),
        )
    approx = approximate_sides(src, tgt, embedder, params)
    return real_sides(src, tgt, approx, embedder, background, params)


def approximate_sides(
    src: PreparedDocument, tgt: PreparedDocument, embedder: Embedder, params: AlignParams
) -> tuple[SideEmbeddings, SideEmbeddings]:
    """Both documents' sentence vectors, with each multi-sentence window approximated by
    the sum of its sentences' (free, but too kind to merges: see `real_sides`)."""
    s1, t1 = embedder.sentences(src), embedder.sentences(tgt)
    return (
        side_from_windows(sum_windows(s1, params.max_group), src.texts()),
        side_from_windows(sum_windows(t1, params.max_group), tgt.texts()),
    )


def real_sides(
    src: PreparedDocument,
    tgt: PreparedDocument,
    approx: tuple[SideEmbeddings, SideEmbeddings],
    embedder: Embedder,
    background: Background | None,
    params: AlignParams,
) -> tuple[SideEmbeddings, SideEmbeddings]:
    """The sides with the windows worth trying (`windows_worth_encoding`, judged on the
    approximate ones) encoded as the texts they are."""
    approx_src, approx_tgt = approx
    judge = background or pair_background(approx_src, approx_tgt)
    src_masks, tgt_masks = windows_worth_encoding(approx_src, approx_tgt, judge, params)
    return (
        _real_windows(src, approx_src.windows[0], src_masks, embedder),
        _real_windows(tgt, approx_tgt.windows[0], tgt_masks, embedder),
    )


def _real_windows(
    doc: PreparedDocument, sentences: np.ndarray, masks: list[np.ndarray], embedder: Embedder
) -> SideEmbeddings:
    windows = [sentences]
    for k, mask in enumerate(masks[1:], start=2):
        vectors = np.zeros((len(mask), embedder.dim), dtype=np.float32)
        starts = np.flatnonzero(mask)
        if len(starts):
            vectors[starts] = embedder.windows(doc, k, starts.tolist())
        windows.append(vectors)
    return side_from_windows(windows, doc.texts(), allowed=[None, *masks[1:]])


def evidence(
    alignment: Alignment, src: SideEmbeddings, tgt: SideEmbeddings, bg: Background
) -> dict[str, float]:
    """What the verdict weighs: coverage (harmonic mean of both documents' covered share),
    link_z and unlinked_z (`link_contrast`: how far the links stand above the pair's
    other sentence pairs), margin (`best_match_margin`, clipped to [-2, 8]: how distinct
    each sentence's best counterpart is), log_links (evidence grows with the number of
    links), and mean_link_score, same_event (coverage times mean_link_score) and the
    counts behind them for display and for an uncalibrated encoder."""
    # one similarity matrix of the pair's sentences for both measures
    similarities = src.windows[0] @ tgt.windows[0].T
    margin = margin_of_similarities(similarities, bg) if similarities.size else 0.0
    link_z, unlinked_z = link_contrast(src, tgt, alignment.links, bg, similarities)
    cov = coverage(alignment)
    return {
        "coverage": cov,
        "src_coverage": alignment.src_coverage,
        "tgt_coverage": alignment.tgt_coverage,
        "link_z": float(np.clip(link_z, -5.0, 20.0)),
        "unlinked_z": float(np.clip(unlinked_z, -5.0, 20.0)),
        "mean_link_score": alignment.mean_score,
        "margin": float(np.clip(margin, -2.0, 8.0)),
        "same_event": cov * alignment.mean_score,
        "links": float(len(alignment.links)),
        "log_links": float(np.log1p(len(alignment.links))),
    }


def verify_pair(
    src: PreparedDocument,
    tgt: PreparedDocument,
    embedder: Embedder,
    align_params: AlignParams | None = None,
    params: VerifyParams | None = None,
    retrieval_score: float = float("nan"),
) -> DocumentPair:
    """Align two documents and judge whether they report the same event.

    With a costly encoder and a calibrated verdict, the pair is first judged on
    approximate windows (`approximate_sides`, no encoding beyond the sentences): a pair
    that is far from the threshold there (`VerifyParams.early_reject`) is rejected without
    encoding its windows. Approximate windows make merges look better than they are, so
    this only ever spares the encoding of pairs that the full verdict rejects too."""
    align_params = align_params or AlignParams()
    params = params or VerifyParams()
    stats = embedder.stats
    background = background_for(stats, src.lang, tgt.lang)
    if embedder.encoder.cheap_windows:
        sides = pair_sides(src, tgt, embedder, background, align_params)
    else:
        approx = approximate_sides(src, tgt, embedder, align_params)
        calibrated = stats is not None and stats.pair_calibration is not None
        early = params.early_reject_below(calibrated)
        if early > 0:
            first = verdict_of_sides(
                src, tgt, *approx, stats, align_params, params, retrieval_score
            )
            if first.score < early:
                assert first.verdict is not None
                why = f"{first.verdict.reason} (on approximate windows)"
                verdict = replace(first.verdict, reason=why)
                return replace(first, verdict=verdict)
        sides = real_sides(src, tgt, approx, embedder, background, align_params)
    return verdict_of_sides(src, tgt, *sides, stats, align_params, params, retrieval_score)


def verdict_of_sides(
    src: PreparedDocument,
    tgt: PreparedDocument,
    src_side: SideEmbeddings,
    tgt_side: SideEmbeddings,
    stats: EncoderStats | None,
    align_params: AlignParams | None = None,
    params: VerifyParams | None = None,
    retrieval_score: float = float("nan"),
) -> DocumentPair:
    """The verdict on two documents whose window embeddings are at hand (`pair_sides`, or
    an archive's cache of them): align, weigh the evidence, decide."""
    align_params = align_params or AlignParams()
    params = params or VerifyParams()
    background = background_for(stats, src.lang, tgt.lang)
    if background is not None and stats is not None and stats.pair_level:
        background = raised_to_the_pair(background, src_side, tgt_side)
    link_calibration = stats.link_calibration if stats is not None else None
    links = align_embeddings(src_side, tgt_side, align_params, background, link_calibration)
    alignment = Alignment(src, tgt, tuple(links))
    bg = background or pair_background(src_side, tgt_side)
    found = evidence(alignment, src_side, tgt_side, bg)
    verdict = judge(found, params, stats.pair_calibration if stats is not None else None)
    return DocumentPair(src, tgt, verdict.score, retrieval_score, alignment, verdict)


def judge(found: dict[str, float], params: VerifyParams, calibration: Logistic | None) -> Verdict:
    """The decision on the evidence: calibrated when the encoder has a pair calibration."""
    if found["links"] < params.min_links:
        return Verdict(0.0, False, "no sentence links", found, calibration is not None)
    threshold = params.threshold(calibration is not None)
    if calibration is not None:
        probability = calibration.probability(found)
        accepted = probability >= threshold
        why = "" if accepted else f"same-event probability {probability:.2f} < {threshold:g}"
        return Verdict(probability, accepted, why, found, True)
    score = found["same_event"]
    if score < threshold:
        why = f"same-event score {score:.2f} < {threshold:g}"
        return Verdict(score, False, why, found, False)
    indistinct = found["margin"] < params.min_margin
    if score < params.distinct_below and params.min_margin > 0 and indistinct:
        why = f"sentence counterparts not distinct (margin {found['margin']:.2f})"
        return Verdict(score, False, why, found, False)
    return Verdict(score, True, "", found, False)
