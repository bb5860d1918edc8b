"""Scoring dedup's planned pairs: in this process (`score_serial`) or in worker processes
(`PoolScorer`), with the same screens and verdicts and the same results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from aligner.alignment import AlignParams, Background
from aligner.dedup.params import DedupParams
from aligner.dedup.verifier import Verifier, doc_key
from aligner.encoders.base import Encoder
from aligner.runtime import init_worker
from aligner.types import PreparedDocument

Jobs = list[tuple[PreparedDocument, list[tuple[PreparedDocument, bool]]]]  # (other, same)
Scorer = Callable[[Jobs, Verifier, DedupParams], list[list[float]]]


def score_serial(jobs: Jobs, verifier: Verifier, params: DedupParams) -> list[list[float]]:
    """The verdicts' scores of each document's candidates (same language first, then the
    others; each kind best first). Pairs are screened on stored sentence sketches first,
    so that only the documents of pairs that pass are encoded, then on full sentence
    vectors (a finer screen), then judged. Verification stops where the decision is made:
    after a same-language candidate is accepted (a near copy is preferred to a
    translation), and after an other-language one is; the candidates not verified or not
    accepted score 0."""
    passed: list[list[bool | None]] = [
        [
            verifier.sketch_screen(
                doc, other, params.sketch_duplicate if same else params.sketch_translation
            )
            for other, same in cands
        ]
        for doc, cands in jobs
    ]
    needed: dict[object, PreparedDocument] = {}
    for (doc, cands), flags in zip(jobs, passed):
        for (other, _), flag in zip(cands, flags):
            if flag is not False:
                needed[doc_key(doc)] = doc
                needed[doc_key(other)] = other
    verifier.prime(list(needed.values()))
    out = []
    for (doc, cands), flags in zip(jobs, passed):
        scores, done = [], {True: False, False: False}
        for (other, same), flag in zip(cands, flags):
            if done[True] or done[same]:
                scores.append(0.0)
                continue
            if flag is False:
                verifier.screened += 1
                score = 0.0
            else:  # passed on sketches (or has none): the full-vector screen, then the verdict
                screen = params.screen_duplicate if same else params.screen_translation
                min_score = params.min_score(same, verifier.calibrated)
                score = verifier.score(doc, other, screen, min_score)
            done[same] = score > 0.0
            scores.append(score)
        out.append(scores)
    return out


_WORKER: Verifier | None = None


def _worker_init(encoder: Encoder, params: AlignParams) -> None:
    global _WORKER
    init_worker()
    _WORKER = Verifier(encoder, {}, params)


ScoreBatch = tuple[
    dict[str, np.ndarray],  # sentence-encoder centres
    dict[tuple[str, str], Background],  # window backgrounds
    dict[tuple[str, str], Background],  # sketch backgrounds
    dict[object, np.ndarray],  # the batch documents' sketches, by `_key`
    Jobs,
    DedupParams,
]


def score_batch(worker: Verifier, batch: ScoreBatch) -> tuple[list[list[float]], int, int]:
    """`score_serial` of a batch in a worker's own verifier (a process of `PoolScorer`):
    its scores, and the verifier calls and screened pairs it added."""
    centers, backgrounds, sketch_backgrounds, sketches, jobs, params = batch
    worker.centers, worker.backgrounds = centers, backgrounds
    worker.sketch_backgrounds = sketch_backgrounds
    for key, sketch in sketches.items():
        worker.remember_sketch(key, sketch)
    before = (worker.calls, worker.screened)
    out = score_serial(jobs, worker, params)
    return out, worker.calls - before[0], worker.screened - before[1]


def score_batches(
    jobs: Jobs, verifier: Verifier, params: DedupParams, workers: int
) -> list[ScoreBatch]:
    """`jobs` cut into batches for `workers` workers (four each, for an even spread), each
    with what a worker's verifier needs besides the encoder."""
    size = max(1, len(jobs) // (4 * workers))
    batches = []
    for i in range(0, len(jobs), size):
        part = jobs[i : i + size]
        # Keys are computed here and travel with the documents (a worker's str hashes
        # differ), so that the sketches sent along are found under them.
        docs = [d for doc, cands in part for d in (doc, *(c for c, _ in cands))]
        keys = [doc_key(d) for d in docs]
        batches.append(
            (verifier.centers, verifier.backgrounds, verifier.sketch_backgrounds,
             verifier.sketches_of(keys), part, params)
        )  # fmt: skip
    return batches


def gather_scores(
    results: Iterable[tuple[list[list[float]], int, int]], verifier: Verifier
) -> list[list[float]]:
    """The batches' scores in order; their counts added to `verifier`'s."""
    out: list[list[float]] = []
    for scores, calls, screened in results:
        out.extend(scores)
        verifier.calls += calls
        verifier.screened += screened
    return out


def _worker_score(batch: ScoreBatch) -> tuple[list[list[float]], int, int]:
    assert _WORKER is not None
    return score_batch(_WORKER, batch)


class PoolScorer:
    """Scores the planned pairs in `workers` processes (spawned: no FAISS/OpenMP state is
    inherited), with the same screens and scores as `score_serial`. Batches smaller than
    `serial_below` jobs go through the calling process."""

    serial_below = 64

    def __init__(self, workers: int, encoder: Encoder, params: AlignParams) -> None:
        self.workers = workers
        self.encoder = encoder
        self.params = params
        self._pool: Any = None

    def __call__(self, jobs: Jobs, verifier: Verifier, params: DedupParams) -> list[list[float]]:
        if len(jobs) < self.serial_below:
            return score_serial(jobs, verifier, params)
        if self._pool is None:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(
                self.workers, initializer=_worker_init, initargs=(self.encoder, self.params)
            )
        batches = score_batches(jobs, verifier, params, self.workers)
        return gather_scores(self._pool.imap(_worker_score, batches), verifier)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
