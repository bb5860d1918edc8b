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
import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from aligner.alignment import AlignParams
from aligner.dedup.candidates import RecentItem
from aligner.dedup.decide import decide_chunk
from aligner.dedup.index_thread import IndexThread
from aligner.dedup.params import (
    ARCHIVE_TRANSLATION_SCORE,
    CANONICAL,
    CLUSTER_COLUMNS,
    DUPLICATE,
    TRANSLATION,
    Assignment,
    DedupParams,
    DedupStats,
)
from aligner.dedup.scoring import PoolScorer, Scorer, score_serial
from aligner.dedup.verifier import SCREEN_Z, Verifier, doc_key
from aligner.encoders.base import Encoder
from aligner.ingest import (
    first_chunk,
    new_run_id,
    prepare_chunks,
    read_chunks,
    stored_document,
)
from aligner.progress import Progress
from aligner.readers import document_to_record, input_size
from aligner.recent import RecentWindow
from aligner.runtime import (
    fewer_collections,
    keep_heap,
    single_threaded_blas,
    single_threaded_faiss,
)
from aligner.store import ArchiveStore
from aligner.types import Document


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
    verifier = Verifier(encoder, space.sentence_centers, align_params)
    pool = PoolScorer(params.workers, encoder, align_params) if params.workers > 1 else None
    window: RecentWindow[RecentItem] = RecentWindow(params.recent_docs)
    scorer: Scorer = pool or score_serial
    run = new_run_id()
    # Indexing in the background needs the recent window to cover a chunk (see _IndexThread).
    background = params.index_in_background and params.recent_docs >= 2 * params.chunk_size
    index = IndexThread(store) if background else None
    keep_heap()
    with (
        single_threaded_blas(),
        single_threaded_faiss(),
        fewer_collections(),
        Progress("dedup", input_size(inputs), show_progress) as progress,
        contextlib.closing(pool) if pool else contextlib.nullcontext(),
        contextlib.closing(index) if index else contextlib.nullcontext(),
    ):
        chunks = read_chunks(inputs, first_chunk(space, params.chunk_size))
        prepared = prepare_chunks(
            chunks, store, encoder, space, run, verifier.additive, params.prepare_workers
        )
        for items, nbytes in prepared:
            for item in items:  # the features embedding computed: verification reuses them
                if item.features is not None and item.prepared is not None:
                    verifier.remember(doc_key(item.prepared), item.features)
                    item.features = None
                if item.sketch is not None and item.prepared is not None:
                    verifier.remember_sketch(doc_key(item.prepared), item.sketch)
            decided, exact = decide_chunk(items, store, verifier, params, scorer, window, index)
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
            store.commit(docs, space=space, assignments=updates, defer_index=index is not None)
            for a, is_exact in zip(decided, exact):
                writer.writerow(
                    [a.doc_id, a.cluster_id, a.lang, a.role, f"{a.score:.4f}", a.matched_doc]
                )
                stats.count(a, is_exact)
            progress.advance(nbytes, len(items))
            if store.cache_save_due(cache_every_s):
                if index is not None:
                    index.wait()
                store.save_caches()
        if index is not None:
            index.wait()
        store.save_caches()
        stats.seconds = progress.elapsed
    stats.verified = verifier.calls
    stats.screened = verifier.screened
    return stats


def write_kept(
    inputs: Sequence[str | Path],
    is_kept: Callable[[Sequence[Document], int], list[bool]],
    out: IO[str],
    show_progress: bool = True,
) -> int:
    """Write the inputs' canonical documents (one per cluster) as JSONL: a JSONL input
    line is copied as it was, so every field of the record is kept byte for byte.
    `is_kept(docs, start)`: which of the documents from input position `start` on are
    canonical (`canonical_in(store)`, `cluster.decide.canonical_by_position`)."""
    kept, position = 0, 0
    with Progress("writing kept", input_size(inputs), show_progress) as progress:
        for chunk, nbytes in read_chunks(inputs, 1000):
            progress.advance(nbytes, len(chunk))
            flags = is_kept([doc for doc, _ in chunk], position)
            position += len(chunk)
            for (doc, line), keep in zip(chunk, flags):
                if keep:
                    out.write(
                        (line or json.dumps(document_to_record(doc), ensure_ascii=False)) + "\n"
                    )
                    kept += 1
    return kept


def canonical_in(store: ArchiveStore) -> Callable[[Sequence[Document], int], list[bool]]:
    """For `write_kept`: the documents that `store` holds as canonical."""

    def is_kept(docs: Sequence[Document], start: int) -> list[bool]:
        found = store.lookup_ids([doc.id for doc in docs])
        return [
            (row := found.get(doc.id)) is not None and (row.role or CANONICAL) == CANONICAL
            for doc in docs
        ]

    return is_kept


__all__ = [
    "ARCHIVE_TRANSLATION_SCORE",
    "CANONICAL",
    "CLUSTER_COLUMNS",
    "DUPLICATE",
    "SCREEN_Z",
    "TRANSLATION",
    "Assignment",
    "DedupParams",
    "DedupStats",
    "canonical_in",
    "dedup",
    "write_kept",
]
