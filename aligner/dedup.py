"""`aligner dedup`: group the documents of an archive that report the same story.

Documents are taken in input order; each is attached to the best earlier document it
repeats, or starts a cluster of its own (as its canonical document):

1. exact copy: the same cleaned text (body hash, so boilerplate and whitespace do not
   matter) -> `duplicate`, score 1;
2. near copy in the same language (syndicated with edits, a paragraph added or cut):
   FAISS neighbours of its document vector, verified by sentence alignment -> `duplicate`;
3. translation or rewrite in another language: neighbours in the other languages,
   verified the same way (the same-event score of `aligner.match`) -> `translation`.

Verification is what keeps two reports of *different* events on the same topic apart:
their document vectors are close, but their sentences do not align.

A cluster id is the id of its canonical document. One pass, streaming: documents are
processed and committed chunk by chunk, so memory stays bounded; a document is compared
with everything stored before it (the store's earlier documents and the earlier documents
of its chunk). Clusters are never merged afterwards (a document joins one cluster).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from aligner.align import AlignParams, Background, SideEmbeddings, recenter
from aligner.docvec import (
    coverage_bound,
    embed_for_alignment,
    encode_sentences,
    language_centers,
    prepared_from_texts,
    sentence_background,
    verify_pair,
)
from aligner.encoders.base import Encoder
from aligner.encoders.builtin import BuiltinEncoder
from aligner.ingest import (
    ChunkItem,
    first_chunk,
    new_run_id,
    prepare_chunk,
    read_chunks,
    stored_document,
)
from aligner.progress import Progress
from aligner.readers import document_to_record, input_size
from aligner.store import ArchiveStore, DocumentRow
from aligner.types import PreparedDocument

CANONICAL, DUPLICATE, TRANSLATION = "canonical", "duplicate", "translation"
CLUSTER_COLUMNS = ("doc_id", "cluster_id", "lang", "role", "score", "matched_doc")
# Sentence-window embeddings kept for reuse: about 0.5 MB each at dimension 4096, so the
# cache is small and recently-used (a chunk's worth would be gigabytes).
_SIDE_CACHE = 64


@dataclass(frozen=True)
class DedupParams:
    candidates: int = 5  # nearest documents looked up per language
    # Thresholds measured on the benchmark archive (bench/archive.py, builtin encoder). A
    # near copy's document cosine is above 0.75, unrelated documents' below 0.4. Across
    # languages the builtin document vectors say little, so the nearest `max_verify` are
    # always verified and verification decides. At 100,000 documents, accepting near
    # copies from 0.6 and translations from 0.55 chained unrelated stories into clusters
    # (pairwise precision 0.84); 0.75 / 0.6 gives 0.97 at a recall cost under 1%. A loose
    # rewrite such as the seed pair 001/004 scores 0.49: --translation-score 0.45 for those.
    same_lang_cosine: float = 0.5  # document-vector cosine to verify a same-language pair
    cross_lang_cosine: float = -1.0  # ... and a pair across languages (-1: no threshold)
    max_verify: int = 3  # candidates verified per document, per kind (same / cross)
    duplicate_score: float = 0.75  # same-event score of a near copy
    translation_score: float = 0.6  # same-event score of a translation
    chunk_size: int = 1000
    workers: int = 1  # processes that verify pairs (the decisions stay in input order)


@dataclass(frozen=True)
class Assignment:
    doc_id: str
    cluster_id: str
    lang: str
    role: str
    score: float
    matched_doc: str


@dataclass
class DedupStats:
    documents: int = 0
    clusters: int = 0
    duplicates: int = 0
    exact: int = 0
    translations: int = 0
    verified: int = 0  # pairs aligned sentence by sentence
    screened: int = 0  # pairs rejected by the quick sentence-level screen
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)

    def count(self, a: Assignment, exact: bool) -> None:
        self.documents += 1
        self.languages[a.lang] = self.languages.get(a.lang, 0) + 1
        if a.role == CANONICAL:
            self.clusters += 1
        elif a.role == DUPLICATE:
            self.duplicates += 1
            self.exact += exact
        else:
            self.translations += 1


@dataclass
class _Pending:
    """A chunk document to decide, with what verification needs."""

    position: int
    item: ChunkItem
    doc: PreparedDocument
    vector: np.ndarray
    row: int | None  # its stored row, when it was stored before this run


class _Verifier:
    """Sentence-level verification with per-chunk caches of embeddings."""

    def __init__(
        self, encoder: Encoder, centers: dict[str, np.ndarray], params: AlignParams
    ) -> None:
        self.encoder = encoder
        self.centers = centers
        self.params = params
        self.backgrounds: dict[tuple[str, str], Background] = {}
        self.sides: dict[object, SideEmbeddings] = {}
        self.single: dict[object, np.ndarray] = {}
        self.calls = 0
        self.screened = 0

    def side(self, key: object, doc: PreparedDocument) -> SideEmbeddings:
        side = self.sides.pop(key, None)
        if side is None:
            side = embed_for_alignment(doc, self.encoder, self.centers, self.params)
        self.sides[key] = side  # most recently used last
        if len(self.sides) > _SIDE_CACHE:
            del self.sides[next(iter(self.sides))]
        return side

    def learn_backgrounds(self, docs: Sequence[PreparedDocument]) -> None:
        """Similarity of unrelated sentences for each language pair, from a sample of the
        first chunk(s) that have both languages (kept for the rest of the run)."""
        by_lang: dict[str, list[str]] = {}
        for doc in docs:
            texts = by_lang.setdefault(doc.lang, [])
            if len(texts) < 2000:
                texts.extend(doc.texts())
        # The sentence encoder's language centres, as `embed_corpus` uses for alignment.
        self.centers.update(language_centers(by_lang, self.encoder, self.centers))
        vectors = {}
        for lang, texts in by_lang.items():
            if lang in self.centers and texts:
                vectors[lang] = recenter(encode_sentences(texts, self.encoder), self.centers[lang])
        langs = sorted(vectors)
        for i, a in enumerate(langs):
            for b in langs[i:]:
                if (a, b) not in self.backgrounds:
                    bg = sentence_background(vectors[a], vectors[b])
                    if bg is not None:
                        self.backgrounds[(a, b)] = bg

    def score(
        self,
        key_a: object,
        a: PreparedDocument,
        key_b: object,
        b: PreparedDocument,
        needed: float = 0.0,
    ) -> float:
        """Same-event score of a and b; 0.0 when a quick sentence-level screen shows it
        cannot reach `needed`."""
        background = self.backgrounds.get(tuple(sorted((a.lang, b.lang))))  # type: ignore[arg-type]
        if background is not None and needed > 0:
            bound = coverage_bound(
                self.sentences(key_a, a), a, self.sentences(key_b, b), b, background,
                self.params,
            )  # fmt: skip
            if bound < needed:
                self.screened += 1
                return 0.0
        self.calls += 1
        score, _ = verify_pair(
            a, self.side(key_a, a), b, self.side(key_b, b), background, self.params
        )
        return score

    def sentences(self, key: object, doc: PreparedDocument) -> np.ndarray:
        """Centred sentence vectors (the one-sentence windows), cached like `side`."""
        side = self.sides.get(key)
        if side is not None:
            return side.windows[0]
        vectors = self.single.pop(key, None)
        if vectors is None:
            vectors = encode_sentences(doc.texts(), self.encoder)
            center = self.centers.get(doc.lang)
            if center is not None and len(vectors):
                vectors = recenter(vectors, center)
        self.single[key] = vectors
        if len(self.single) > 4 * _SIDE_CACHE:
            del self.single[next(iter(self.single))]
        return vectors


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Verification multiplies many small matrices; OpenBLAS threads only add overhead
    there (measured: 3x slower with 2 threads than with 1)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it, numpy keeps its own setting
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def dedup(
    inputs: Sequence[str | Path],
    store: ArchiveStore,
    encoder: Encoder,
    out: IO[str],
    params: DedupParams | None = None,
    align_params: AlignParams | None = None,
    show_progress: bool = True,
    cache_every_s: float = 120.0,
) -> DedupStats:
    """Deduplicate the inputs against the store and each other; write one clusters.tsv row
    per input document to `out`; store every document with its assignment."""
    params = params or DedupParams()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CLUSTER_COLUMNS)
    stats = DedupStats()
    space = store.doc_space()
    align_params = align_params or AlignParams()
    # one dict of sentence-encoder centres for document vectors and verification alike
    verifier = _Verifier(encoder, space.sentence_centers, align_params)
    pool = PoolScorer(params.workers, encoder, align_params) if params.workers > 1 else None
    scorer: _Scorer = pool or score_serial
    run = new_run_id()
    with (
        single_threaded_blas(),
        Progress("dedup", input_size(inputs), show_progress) as progress,
        contextlib.closing(pool) if pool else contextlib.nullcontext(),
    ):
        for chunk, nbytes in read_chunks(inputs, first_chunk(space, params.chunk_size)):
            items = prepare_chunk(chunk, store, encoder, space, run)
            decided, exact = _decide_chunk(items, store, verifier, params, scorer)
            docs, updates = [], []
            for item, a in zip(items, decided):
                fields = {
                    "cluster_id": a.cluster_id,
                    "role": a.role,
                    "score": a.score,
                    "matched_doc": a.matched_doc,
                    "run": run,
                }
                if item.changed:
                    docs.append(stored_document(item, **fields))
                elif item.existing is not None:
                    updates.append((item.existing.row, *fields.values()))
            store.commit(docs, space=space, assignments=updates)
            for a, is_exact in zip(decided, exact):
                writer.writerow(
                    [a.doc_id, a.cluster_id, a.lang, a.role, f"{a.score:.4f}", a.matched_doc]
                )
                stats.count(a, is_exact)
            progress.advance(nbytes, len(chunk))
            store.maybe_save_caches(cache_every_s)
        store.save_caches()
        stats.seconds = progress.elapsed
    stats.verified = verifier.calls
    stats.screened = verifier.screened
    return stats


def _stored_assignment(row: DocumentRow) -> Assignment:
    return Assignment(
        row.id,
        row.cluster_id or row.id,
        row.lang,
        row.role or CANONICAL,
        float(row.score if row.score is not None else 1.0),
        row.matched_doc or "",
    )


def _decide_chunk(
    items: list[ChunkItem],
    store: ArchiveStore,
    verifier: _Verifier,
    params: DedupParams,
    scorer: _Scorer,
) -> tuple[list[Assignment], list[bool]]:
    """Assign every item of a chunk, in order (see the module documentation).

    The pairs to verify do not depend on earlier decisions (only the cluster a match
    belongs to does), so they are all scored first, in parallel with `scorer`, and the
    decisions are then taken in input order."""
    decided: list[Assignment | None] = [None] * len(items)
    exact = [False] * len(items)
    # Stored documents that already have an assignment (from an earlier dedup) keep it; a
    # stored one that others were already attached to stays their canonical.
    unassigned = [i.existing for i in items if not i.changed and i.existing]
    heads = store.heads([row.id for row in unassigned if row.cluster_id is None])
    reload_rows = []
    for position, item in enumerate(items):
        old = item.existing
        if not item.changed and old is not None:
            if old.cluster_id is not None or old.id in heads:
                decided[position] = _stored_assignment(old)
                continue
            reload_rows.append(old.row)
    texts = store.sentence_texts(reload_rows)
    vectors = store.vectors_for(reload_rows)
    pending: list[_Pending] = []
    for position, item in enumerate(items):
        if decided[position] is not None:
            continue
        if item.changed:
            assert item.prepared is not None and item.vector is not None
            pending.append(_Pending(position, item, item.prepared, item.vector, None))
        else:
            assert item.existing is not None
            row = item.existing.row
            doc = prepared_from_texts(item.doc.id, item.existing.lang, texts.get(row, []))
            pending.append(_Pending(position, item, doc, vectors[row], row))
    if not pending:
        return [a for a in decided if a is not None], exact
    langs = sorted({p.doc.lang for p in pending})
    if any((a, b) not in verifier.backgrounds for a in langs for b in langs if a <= b):
        verifier.learn_backgrounds([p.doc for p in pending])

    # Rows of this chunk's documents (re-processed ones, or the old version of an updated
    # one) are never candidates from the store: earlier chunk documents come from `within`.
    chunk_rows = {p.item.existing.row for p in pending if p.item.existing is not None}
    matrix = np.stack([p.vector for p in pending]).astype(np.float32)
    store_hits = _store_candidates(matrix, pending, store, chunk_rows, params)
    candidate_rows = sorted({row for hits in store_hits for _, row, _ in hits})
    rows_info = store.lookup_rows(candidate_rows)
    rows_texts = store.sentence_texts(candidate_rows)
    stored_docs = {
        row: prepared_from_texts(info.id, info.lang, rows_texts.get(row, []))
        for row, info in rows_info.items()
    }
    by_body = store.lookup_hashes("body_hash", [p.item.body_hash for p in pending])
    by_content = store.lookup_hashes("content_hash", [p.item.content_hash for p in pending])
    within = matrix @ matrix.T
    pending_langs = np.array([p.doc.lang for p in pending], dtype=object)
    has_text = np.array([bool(p.doc.sentences) for p in pending])

    # 1. exact copies: of an earlier chunk document, or of a stored one
    copy_of: dict[int, tuple[str, object]] = {}
    chunk_hash: dict[str, int] = {}
    for k, p in enumerate(pending):
        earlier = chunk_hash.get(p.item.content_hash)
        if earlier is None and p.doc.sentences:
            earlier = chunk_hash.get(p.item.body_hash)
        if earlier is not None:
            copy_of[k] = ("c", earlier)
        else:
            other = by_content.get(p.item.content_hash) or (
                by_body.get(p.item.body_hash) if p.doc.sentences else None
            )
            if other is not None and other.row not in chunk_rows:
                copy_of[k] = ("s", other)
        chunk_hash.setdefault(p.item.content_hash, k)
        if p.doc.sentences:
            chunk_hash.setdefault(p.item.body_hash, k)

    # 2./3. the candidates to verify: stored neighbours and earlier chunk documents
    plans: dict[int, list[tuple[bool, float, object]]] = {}  # k -> (same, cosine, source)
    jobs: list[tuple[PreparedDocument, list[tuple[PreparedDocument, float]]]] = []
    for k, p in enumerate(pending):
        if k in copy_of or not p.doc.sentences:
            continue
        lang = p.doc.lang
        cands: list[tuple[bool, float, object, PreparedDocument]] = []
        for cosine, row, _ in store_hits[k]:
            info = rows_info.get(row)
            if info is not None:
                cands.append((info.lang == lang, cosine, ("s", info), stored_docs[row]))
        same = pending_langs[:k] == lang
        limits = np.where(same, params.same_lang_cosine, params.cross_lang_cosine)
        for j in np.nonzero((within[k, :k] >= limits) & has_text[:k])[0]:
            cands.append((bool(same[j]), float(within[k, j]), ("c", int(j)), pending[j].doc))
        chosen = []
        for kind in (True, False):
            group = sorted((c for c in cands if c[0] == kind), key=lambda c: -c[1])
            chosen.extend(group[: params.max_verify])
        plans[k] = [(c[0], c[1], c[2]) for c in chosen]
        needed = {True: params.duplicate_score, False: params.translation_score}
        jobs.append((p.doc, [(c[3], needed[c[0]]) for c in chosen]))
    scores = iter(scorer(jobs, verifier))

    for k, p in enumerate(pending):
        lang = p.doc.lang
        choice: Assignment | None = None
        if k in copy_of:
            where, what = copy_of[k]
            exact[p.position] = True
            if where == "c":
                a = decided[pending[what].position]  # type: ignore[index]
                assert a is not None
                choice = Assignment(p.item.doc.id, a.cluster_id, lang, DUPLICATE, 1.0, a.doc_id)
            else:
                other: DocumentRow = what  # type: ignore[assignment]
                cluster = other.cluster_id or other.id
                choice = Assignment(p.item.doc.id, cluster, lang, DUPLICATE, 1.0, other.id)
        elif k in plans:
            choice = _choose(p, plans[k], next(scores), pending, decided, params)
        if choice is None:
            choice = Assignment(p.item.doc.id, p.item.doc.id, lang, CANONICAL, 1.0, "")
        decided[p.position] = choice
    return [a for a in decided if a is not None], exact


def _choose(
    p: _Pending,
    plan: list[tuple[bool, float, object]],
    scores: list[float],
    pending: list[_Pending],
    decided: list[Assignment | None],
    params: DedupParams,
) -> Assignment | None:
    """The best verified candidate: a same-language near copy first, then a translation."""
    for same, needed, role in (
        (True, params.duplicate_score, DUPLICATE),
        (False, params.translation_score, TRANSLATION),
    ):
        best = max(
            ((score, source) for (kind, _, source), score in zip(plan, scores) if kind == same),
            key=lambda pair: pair[0],
            default=None,
        )
        if best is None or best[0] < needed:
            continue
        where, what = best[1]  # type: ignore[misc]
        if where == "c":
            a = decided[pending[what].position]
            assert a is not None
            cluster, matched = a.cluster_id, a.doc_id
        else:
            cluster, matched = what.cluster_id or what.id, what.id
        return Assignment(p.item.doc.id, cluster, p.doc.lang, role, round(best[0], 4), matched)
    return None


def _store_candidates(
    matrix: np.ndarray,
    pending: list[_Pending],
    store: ArchiveStore,
    chunk_rows: set[int],
    params: DedupParams,
) -> list[list[tuple[float, int, str]]]:
    """Per pending document: (cosine, row, lang) of stored neighbours above the cosine
    thresholds, `params.candidates` per language."""
    hits: list[list[tuple[float, int, str]]] = [[] for _ in pending]
    langs = np.array([p.doc.lang for p in pending], dtype=object)
    for lang in store.search_languages():
        # rows of this chunk are in the index too (re-processed documents): ask for more
        k = params.candidates + min(len(chunk_rows), 20)
        scores, rows = store.search(matrix, lang, k)
        same = langs == lang
        for i in range(len(pending)):
            limit = params.same_lang_cosine if same[i] else params.cross_lang_cosine
            taken = 0
            for score, row in zip(scores[i], rows[i]):
                if row < 0 or score < limit or int(row) in chunk_rows:
                    continue
                hits[i].append((float(score), int(row), lang))
                taken += 1
                if taken >= params.candidates:
                    break
    return hits


# -- scoring the planned pairs: in this process, or in worker processes -------------------
_Jobs = list[tuple[PreparedDocument, list[tuple[PreparedDocument, float]]]]
_Scorer = Callable[[_Jobs, "_Verifier"], list[list[float]]]


def score_serial(jobs: _Jobs, verifier: _Verifier) -> list[list[float]]:
    return [
        [verifier.score(_key(doc), doc, _key(other), other, needed) for other, needed in cands]
        for doc, cands in jobs
    ]


def _key(doc: PreparedDocument) -> tuple[str, int]:
    # ids are unique within a run, but an updated document shares its id with the stored
    # old version: the text tells them apart
    return doc.id, hash(doc.doc.text)


_WORKER: _Verifier | None = None


def _worker_init(encoder: Encoder, params: AlignParams) -> None:
    global _WORKER
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")
    except ImportError:
        pass
    _WORKER = _Verifier(encoder, {}, params)


def _worker_score(
    batch: tuple[dict[str, np.ndarray], dict[tuple[str, str], Background], _Jobs],
) -> tuple[list[list[float]], int, int]:
    centers, backgrounds, jobs = batch
    assert _WORKER is not None
    _WORKER.centers, _WORKER.backgrounds = centers, backgrounds
    before = (_WORKER.calls, _WORKER.screened)
    out = score_serial(jobs, _WORKER)
    return out, _WORKER.calls - before[0], _WORKER.screened - before[1]


class PoolScorer:
    """Scores the planned pairs in `workers` processes (spawned: no FAISS/OpenMP state is
    inherited). Small batches go through the calling process."""

    def __init__(self, workers: int, encoder: Encoder, params: AlignParams) -> None:
        self.workers = workers
        self.encoder = encoder
        self.params = params
        self._pool: Any = None

    def __call__(self, jobs: _Jobs, verifier: _Verifier) -> list[list[float]]:
        if len(jobs) < 64:
            return score_serial(jobs, verifier)
        if self._pool is None:
            import multiprocessing

            encoder = self.encoder
            if isinstance(encoder, BuiltinEncoder):
                encoder = copy.copy(encoder)
                encoder._word_cache = {}  # not worth pickling
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(
                self.workers, initializer=_worker_init, initargs=(encoder, self.params)
            )
        size = max(1, len(jobs) // (4 * self.workers))
        batches = [
            (verifier.centers, verifier.backgrounds, jobs[i : i + size])
            for i in range(0, len(jobs), size)
        ]
        out: list[list[float]] = []
        for scores, calls, screened in self._pool.imap(_worker_score, batches):
            out.extend(scores)
            verifier.calls += calls
            verifier.screened += screened
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


def write_kept(
    inputs: Sequence[str | Path], store: ArchiveStore, out: IO[str], show_progress: bool = True
) -> int:
    """Write the inputs' canonical documents (one per cluster) as JSONL: a JSONL input
    line is copied as it was, so every field of the record is kept byte for byte."""
    kept = 0
    with Progress("writing kept", input_size(inputs), show_progress) as progress:
        for chunk, nbytes in read_chunks(inputs, 1000):
            progress.advance(nbytes, len(chunk))
            found = store.lookup_ids([doc.id for doc, _ in chunk])
            for doc, line in chunk:
                row = found.get(doc.id)
                if row is not None and (row.role or CANONICAL) == CANONICAL:
                    out.write(
                        (line or json.dumps(document_to_record(doc), ensure_ascii=False)) + "\n"
                    )
                    kept += 1
    return kept
