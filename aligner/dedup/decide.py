"""Deciding one chunk: each document attached to the best earlier document it repeats, or
the canonical document of a new cluster, in input order."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import numpy as np

from aligner.dedup.candidates import (
    CHUNK,
    RECENT,
    Candidate,
    Earlier,
    Pending,
    RecentItem,
    candidates_of,
    exact_copies,
    recent_candidates,
    store_candidates,
    to_verify,
)
from aligner.dedup.index_thread import IndexThread
from aligner.dedup.params import (
    CANONICAL,
    DUPLICATE,
    TRANSLATION,
    Assignment,
    DedupParams,
)
from aligner.dedup.scoring import Jobs, Scorer
from aligner.dedup.verifier import Verifier
from aligner.docvec import prepared_from_texts
from aligner.ingest import ChunkItem
from aligner.recent import RecentWindow
from aligner.store import ArchiveStore, DocumentRow


def decide_chunk(
    items: list[ChunkItem],
    store: ArchiveStore,
    verifier: Verifier,
    params: DedupParams,
    scorer: Scorer,
    window: RecentWindow[RecentItem] | None = None,
    index: IndexThread | None = None,
) -> tuple[list[Assignment], list[bool]]:
    """Assign every item of a chunk, in order: exact copies, then candidates, screened and
    verified (`scorer`), then the choice. Returns the assignments and which of them are
    exact copies.

    The pairs to verify do not depend on earlier decisions (only the cluster a match
    belongs to does), so they are all scored first, in parallel with `scorer`, and the
    decisions are then taken in input order."""
    decided: list[Assignment | None] = [None] * len(items)
    exact = [False] * len(items)
    pending = _pending(items, store, decided)
    if not pending:
        return [a for a in decided if a is not None], exact
    langs = sorted({p.doc.lang for p in pending})
    if any((a, b) not in verifier.backgrounds for a in langs for b in langs if a <= b):
        verifier.learn_backgrounds([p.doc for p in pending])

    # Rows of this chunk's documents (re-processed ones, or the old version of an updated
    # one) are never candidates from the store: earlier chunk documents are.
    chunk_rows = {p.item.existing.row for p in pending if p.item.existing is not None}
    matrix = np.stack([p.vector for p in pending]).astype(np.float32)
    pending_langs = np.array([p.doc.lang for p in pending], dtype=object)
    # The index search and the exact search of the recent documents run in the index
    # thread while this one looks for exact copies; then the last chunk is added to the
    # index there.
    searching = _in_index_thread(
        index, store_candidates, matrix, pending_langs.tolist(), store, chunk_rows, params
    )
    recent = _in_index_thread(
        index, recent_candidates, matrix, pending_langs.tolist(), window, params
    )

    # 1. exact copies
    copies = exact_copies(
        pending,
        store.lookup_hashes("content_hash", [p.item.content_hash for p in pending]),
        store.lookup_hashes("body_hash", [p.item.body_hash for p in pending]),
        chunk_rows,
    )

    # 2. candidates: earlier chunk documents, recent ones (both carry their decisions) and
    # stored neighbours, ranked, the best kept for verification
    within = matrix @ matrix.T
    has_text = np.array([bool(p.doc.sentences) for p in pending])
    recent_hits, store_hits = recent.result(), searching.result()
    if index is not None:
        index.start()  # the last chunk's vectors, while this one is decided
    rows_info = store.lookup_rows(sorted({row for hits in store_hits for _, row, _ in hits}))
    stored_docs = verifier.stored_documents(store, rows_info)
    verifier.load_sketches(store, stored_docs)
    plans: dict[int, list[Candidate]] = {}
    jobs: Jobs = []
    for k, p in enumerate(pending):
        if k in copies or not p.doc.sentences:
            continue
        found = candidates_of(
            k, pending, pending_langs, has_text, within, recent_hits[k], store_hits[k],
            rows_info, stored_docs, params,
        )  # fmt: skip
        plans[k] = to_verify(p.doc, found, verifier, params)
        jobs.append((p.doc, [(verifier.verifiable(c.doc), c.same_lang) for c in plans[k]]))

    # 3. screens and verdicts, for all planned pairs at once
    scores = iter(scorer(jobs, verifier, params))

    # 4. the choice, in input order
    for k, p in enumerate(pending):
        choice: Assignment | None = None
        if k in copies:
            exact[p.position] = True
            cluster, matched = _cluster_of(copies[k], pending, decided)
            choice = Assignment(p.item.doc.id, cluster, p.doc.lang, DUPLICATE, 1.0, matched)
        elif k in plans:
            choice = _choose(p, plans[k], next(scores), pending, decided)
        if choice is None:
            choice = Assignment(p.item.doc.id, p.item.doc.id, p.doc.lang, CANONICAL, 1.0, "")
        decided[p.position] = choice
    if window is not None:
        for p in pending:
            a = decided[p.position]
            if p.doc.sentences and a is not None:
                window.add(p.doc.lang, p.vector, (p.doc, a))
    return [a for a in decided if a is not None], exact


def _pending(
    items: list[ChunkItem], store: ArchiveStore, decided: list[Assignment | None]
) -> list[Pending]:
    """The items to decide. Stored documents that already have an assignment (from an
    earlier dedup) keep it (set in `decided`), as does a stored one that others were
    already attached to (it stays their canonical); other stored ones are rebuilt from
    their sentences and vector."""
    unassigned = [i.existing for i in items if not i.changed and i.existing]
    heads = store.heads([row.id for row in unassigned if row.cluster_id is None])
    reload_rows = []
    for position, item in enumerate(items):
        old = item.existing
        if not item.changed and old is not None:
            if old.cluster_id is not None or old.id in heads:
                decided[position] = stored_assignment(old)
                continue
            reload_rows.append(old.row)
    texts = store.sentence_texts(reload_rows)
    vectors = store.vectors_for(reload_rows)
    pending: list[Pending] = []
    for position, item in enumerate(items):
        if decided[position] is not None:
            continue
        if item.changed:
            assert item.prepared is not None and item.vector is not None
            pending.append(Pending(position, item, item.prepared, item.vector, None))
        else:
            assert item.existing is not None
            row = item.existing.row
            doc = prepared_from_texts(item.doc.id, item.existing.lang, texts.get(row, []))
            pending.append(Pending(position, item, doc, vectors[row], row))
    return pending


def stored_assignment(row: DocumentRow) -> Assignment:
    """The assignment a stored document has (canonical when it has none)."""
    return Assignment(
        row.id,
        row.cluster_id or row.id,
        row.lang,
        row.role or CANONICAL,
        float(row.score if row.score is not None else 1.0),
        row.matched_doc or "",
    )


def _choose(
    p: Pending,
    plan: list[Candidate],
    scores: list[float],
    pending: list[Pending],
    decided: list[Assignment | None],
) -> Assignment | None:
    best = best_accepted(plan, scores)
    if best is None:
        return None
    candidate, score, role = best
    cluster, matched = _cluster_of(candidate.earlier, pending, decided)
    return Assignment(p.item.doc.id, cluster, p.doc.lang, role, round(score, 4), matched)


def best_accepted(
    plan: list[Candidate], scores: list[float]
) -> tuple[Candidate, float, str] | None:
    """The best accepted candidate (scored above 0) with its score and the role it gives:
    a same-language near copy first, then a translation."""
    for same, role in ((True, DUPLICATE), (False, TRANSLATION)):
        best = max(
            ((score, c) for c, score in zip(plan, scores) if c.same_lang == same),
            key=lambda pair: pair[0],
            default=None,
        )
        if best is not None and best[0] > 0.0:
            return best[1], best[0], role
    return None


def _cluster_of(
    earlier: Earlier, pending: list[Pending], decided: list[Assignment | None]
) -> tuple[str, str]:
    """The cluster an earlier document is in, and its id."""
    if earlier.where == CHUNK:
        a = decided[pending[earlier.chunk].position]
        assert a is not None  # decided before: it comes earlier in the chunk
        return a.cluster_id, a.doc_id
    if earlier.where == RECENT:
        assert earlier.assignment is not None
        return earlier.assignment.cluster_id, earlier.assignment.doc_id
    assert earlier.row is not None
    return earlier.row.cluster_id or earlier.row.id, earlier.row.id


def _in_index_thread(
    index: IndexThread | None, fn: Callable[..., Any], *args: Any
) -> concurrent.futures.Future[Any]:
    """fn(*args) as a future: run by the index thread, or here and now."""
    if index is not None:
        return index.submit(fn, *args)  # type: ignore[no-any-return]
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    done.set_result(fn(*args))
    return done
