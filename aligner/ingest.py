"""Reading an archive into a store chunk by chunk: `aligner index add`, and the first half
of `aligner dedup`.

Memory is bounded by the chunk: documents are read as a stream, prepared, embedded,
committed (one SQLite transaction per chunk) and dropped. A document already stored with the
same id and content is recognised from its hash before any preparation, so re-adding an
archive, or rerunning an interrupted `index add`, is cheap and changes nothing.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aligner.docvec import FIT_DOCS, DocSpace
from aligner.encoders.base import Encoder
from aligner.errors import InputError
from aligner.prepare import prepare_document
from aligner.progress import Progress
from aligner.readers import input_size, stream_documents
from aligner.runtime import fewer_collections, init_worker
from aligner.store import ArchiveStore, DocumentRow, StoredDocument
from aligner.types import Document, PreparedDocument


@dataclass
class ChunkItem:
    """One input document on its way into the store."""

    doc: Document
    line: str | None  # the JSONL line it came from (for a verbatim --keep)
    content_hash: str
    existing: DocumentRow | None  # the stored document with this id, if any
    prepared: PreparedDocument | None = None  # None when unchanged (nothing to redo)
    body_hash: str = ""
    vector: np.ndarray | None = None
    features: np.ndarray | None = None  # raw sentence features, with keep_features
    sketch: np.ndarray | None = None  # sentence sketches, when the space makes them

    @property
    def changed(self) -> bool:
        return self.existing is None or self.existing.content_hash != self.content_hash


@dataclass
class IngestStats:
    documents: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)


def content_hash(text: str) -> str:
    """Hash of a document's text as given: equal text, nothing to redo."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def body_hash(doc: PreparedDocument) -> str:
    """Hash of the cleaned, normalised sentences: equal for copies that differ only in
    boilerplate, whitespace or letter variants (the exact-copy test of dedup)."""
    data = "\n".join(doc.norms()).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def read_chunks(
    inputs: Sequence[str | Path], size: int | tuple[int, int]
) -> Iterator[tuple[list[tuple[Document, str | None]], int]]:
    """Chunks of (document, its JSONL line), each with the input bytes it took (for
    progress bars, advanced once the chunk is done). `size` may be (first, then)."""
    first, then = size if isinstance(size, tuple) else (size, size)
    chunk: list[tuple[Document, str | None]] = []
    consumed = 0
    for doc, line, nbytes in stream_documents(inputs):
        chunk.append((doc, line))
        consumed += nbytes
        if len(chunk) >= first:
            yield chunk, consumed
            chunk, consumed, first = [], 0, then
    if chunk:
        yield chunk, consumed


def first_chunk(space: DocSpace, size: int) -> int | tuple[int, int]:
    """Chunk sizes: while the store's document space is undecided, a first chunk large
    enough to fit a projection on (see `DocSpace`)."""
    return (max(size, FIT_DOCS * space.dim), size) if not space.kind else size


def prepare_chunk(
    chunk: Sequence[tuple[Document, str | None]],
    store: ArchiveStore,
    encoder: Encoder,
    space: DocSpace,
    run: str | None = None,
    keep_features: bool = False,
) -> list[ChunkItem]:
    """Hash, look up, and (for new or changed documents only) prepare and embed a chunk.
    New language centres are added to `space`. With `run`, an id that this run already
    stored is a duplicate id in the input: an error, never a silent overwrite. With
    `keep_features`, items keep their sentence features where `DocSpace.embed` gives them."""
    items = lookup_chunk(chunk, store, run)
    batch = prepare_batch([i.doc for i in items if i.changed], space, encoder, keep_features)
    return fill_items(items, batch)


@dataclass
class PreparedBatch:
    """The expensive half of `prepare_chunk` (cleaning, segmenting, embedding), which needs
    no store and so can run in another process."""

    docs: list[PreparedDocument]
    body_hashes: list[str]
    vectors: np.ndarray | None
    features: list[np.ndarray] | SharedFeatures | None
    sketches: list[np.ndarray | None]
    space: DocSpace  # the space after embedding (new centres, a fitted projection)


@dataclass(frozen=True)
class SharedFeatures:
    """A batch's sentence features in a shared-memory block, on their way from a prepare
    worker to the process that verifies (about 80 MB a chunk). Pickled through the pool's
    pipe they were copied four times and read in 64 KB pieces by a thread of the
    receiving process, which then held the GIL to unpickle them: 5% of dedup's main
    process at 150,000 documents. The receiver copies them out and removes the block."""

    name: str
    rows: tuple[int, ...]  # sentences of each document
    dim: int


def share_features(features: list[np.ndarray]) -> SharedFeatures | list[np.ndarray]:
    """Features (float16, one array per document) into a new shared-memory block (they
    are returned as they are when there is nothing to share)."""
    from multiprocessing import shared_memory

    rows = tuple(len(f) for f in features)
    if not features or not sum(rows):
        return features
    dim = features[0].shape[1]
    # named after the process that will take it (this worker's parent), so that what is
    # left behind can be told apart
    name = f"aligner-{os.getppid()}-{uuid.uuid4().hex[:16]}"
    block = shared_memory.SharedMemory(name, create=True, size=sum(rows) * dim * 2)
    try:
        view = np.ndarray((sum(rows), dim), np.float16, buffer=block.buf)
        np.concatenate([f.astype(np.float16, copy=False) for f in features], out=view)
        del view
        return SharedFeatures(block.name, rows, dim)
    finally:
        block.close()


def take_features(shared: SharedFeatures) -> list[np.ndarray]:
    """The features of `share_features`, copied out; the block is removed."""
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=shared.name)
    try:
        view = np.ndarray((sum(shared.rows), shared.dim), np.float16, buffer=block.buf)
        ends = np.cumsum(shared.rows)
        out = [view[end - n : end].copy() for n, end in zip(shared.rows, ends)]
        del view
        return out
    finally:
        block.close()
        block.unlink()


def check_unique_ids(chunk: Sequence[tuple[Document, str | None]]) -> None:
    """Refuse a chunk that holds one document id twice."""
    seen: dict[str, str] = {}
    for doc, _ in chunk:
        if doc.id in seen:
            raise InputError(
                f"{doc.origin}: duplicate document id {doc.id!r} (first seen at {seen[doc.id]})"
            )
        seen[doc.id] = doc.origin


def lookup_chunk(
    chunk: Sequence[tuple[Document, str | None]], store: ArchiveStore, run: str | None
) -> list[ChunkItem]:
    """Chunk items with their content hash and stored version, checking for ids repeated
    in the input (see `prepare_chunk`)."""
    check_unique_ids(chunk)
    existing = store.lookup_ids([doc.id for doc, _ in chunk])
    items = []
    for doc, line in chunk:
        old = existing.get(doc.id)
        if run is not None and old is not None and old.run == run:
            raise InputError(f"{doc.origin}: duplicate document id {doc.id!r} in the input")
        items.append(ChunkItem(doc, line, content_hash(doc.text), old))
    return items


def prepare_batch(
    docs: Sequence[Document], space: DocSpace, encoder: Encoder, keep_features: bool
) -> PreparedBatch:
    return embed_batch([prepare_document(doc) for doc in docs], space, encoder, keep_features)


def embed_batch(
    prepared: Sequence[PreparedDocument],
    space: DocSpace,
    encoder: Encoder,
    keep_features: bool = False,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> PreparedBatch:
    """The embedding half of `prepare_batch`, for documents already prepared (`encode`: see
    `DocSpace.embed`)."""
    hashes = [body_hash(p) for p in prepared]
    features: list[np.ndarray] | None = [] if keep_features else None
    sketches: list[np.ndarray | None] = []
    vectors = space.embed(prepared, encoder, features, sketches, encode) if prepared else None
    return PreparedBatch(list(prepared), hashes, vectors, features or None, sketches, space)


def fill_items(items: list[ChunkItem], batch: PreparedBatch) -> list[ChunkItem]:
    """Attach a batch prepared from `items`' changed documents (in order) to them."""
    prepared = {p.id: k for k, p in enumerate(batch.docs)}
    for item in items:
        if not item.changed:
            assert item.existing is not None
            item.body_hash = item.existing.body_hash
            continue
        k = prepared.get(item.doc.id)
        if k is None:  # not foreseen as changed: prepare it here (see prepare_chunks)
            raise RuntimeError(f"document {item.doc.id!r} was not prepared")
        item.prepared = batch.docs[k]
        item.body_hash = batch.body_hashes[k]
        assert batch.vectors is not None
        item.vector = batch.vectors[k]
        if isinstance(batch.features, list):
            item.features = batch.features[k]
        if batch.sketches:
            item.sketch = batch.sketches[k]
    return items


class PendingBatch(Protocol):
    """A batch being prepared elsewhere."""

    def result(self) -> PreparedBatch: ...

    def discard(self) -> None:
        """Free what the batch holds if it is never taken (an error, an interrupt)."""


class PrepareWorkers(Protocol):
    """Where `prepare_chunks` cleans and embeds the next chunks while the caller works on
    the current one: worker processes here (`ProcessWorkers`) or actors on a Ray cluster
    (`aligner.cluster`). `size` chunks are prepared ahead."""

    size: int

    def submit(
        self, docs: list[Document], space: DocSpace, keep_features: bool
    ) -> PendingBatch: ...

    def close(self) -> None: ...


def prepare_chunks(
    chunks: Iterable[tuple[list[tuple[Document, str | None]], int]],
    store: ArchiveStore,
    encoder: Encoder,
    space: DocSpace,
    run: str | None = None,
    keep_features: bool = False,
    workers: int | PrepareWorkers = 0,
) -> Iterator[tuple[list[ChunkItem], int]]:
    """`prepare_chunk` over a stream of chunks. With `workers` (a count of worker
    processes, or `PrepareWorkers`), the next chunks are cleaned and embedded there while
    the caller works on the current one (dedup: one process, beside the verification; index
    add, whose own work is committing: two). Each chunk is looked up again once the
    previous ones are committed, so ids repeated across chunks are still caught; `space` is
    updated from what the workers return, in input order."""
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    # the first chunk in this process: it decides the space, and a one-chunk input (most
    # small jobs) never starts a worker
    ready = prepare_chunk(first[0], store, encoder, space, run, keep_features), first[1]
    following = next(chunks, None)
    if following is None or not workers:
        yield ready
        if following is not None:
            for chunk, nbytes in itertools.chain([following], chunks):
                yield prepare_chunk(chunk, store, encoder, space, run, keep_features), nbytes
        return
    pool = ProcessWorkers(workers, encoder) if isinstance(workers, int) else workers
    queue: collections.deque[tuple[list[tuple[Document, str | None]], int, list[Document], Any]]
    queue = collections.deque()

    def finish() -> tuple[list[ChunkItem], int]:
        chunk, nbytes, docs, pending = queue.popleft()
        batch = pending.result()
        if not merge_space(space, batch.space):
            # a language new to the store met in two chunks prepared at once: the later
            # one is embedded again with the centre the earlier one fixed
            batch = prepare_batch(docs, space, encoder, keep_features)
        return fill_items(lookup_chunk(chunk, store, run), batch), nbytes

    try:
        for chunk, nbytes in itertools.chain([following], chunks):
            # documents stored with the same content need no preparation (a re-add)
            stored = store.lookup_ids([doc.id for doc, _ in chunk])
            docs = [
                doc
                for doc, _ in chunk
                if doc.id not in stored or stored[doc.id].content_hash != content_hash(doc.text)
            ]
            queue.append((chunk, nbytes, docs, pool.submit(docs, space, keep_features)))
            if ready is not None:
                yield ready  # the caller works on it (and commits it) meanwhile
                ready = None
            if len(queue) >= pool.size:
                ready = finish()
        if ready is not None:
            yield ready
        while queue:
            yield finish()
    finally:
        if pool is not workers:
            pool.close()  # waits for the chunks being prepared
        for *_, pending in queue:  # chunks prepared but never taken
            pending.discard()


class ProcessWorkers:
    """`PrepareWorkers` in `size` spawned processes of this machine (no FAISS/OpenMP state
    inherited); sentence features come back through shared memory (`SharedFeatures`)."""

    def __init__(self, size: int, encoder: Encoder) -> None:
        import concurrent.futures
        import multiprocessing

        self.size = size
        self._pool = concurrent.futures.ProcessPoolExecutor(
            size, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
            initargs=(encoder,),
        )  # fmt: skip

    def submit(self, docs: list[Document], space: DocSpace, keep_features: bool) -> PendingBatch:
        return _PendingProcessBatch(
            self._pool.submit(_prepare_in_worker, docs, space, keep_features)
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _PendingProcessBatch:
    future: Any  # concurrent.futures.Future[PreparedBatch]

    def result(self) -> PreparedBatch:
        batch = self.future.result()
        if isinstance(batch.features, SharedFeatures):
            batch.features = take_features(batch.features)
        return batch

    def discard(self) -> None:
        future = self.future
        if future.done() and not future.cancelled() and future.exception() is None:
            features = future.result().features
            if isinstance(features, SharedFeatures):
                take_features(features)


def merge_space(space: DocSpace, returned: DocSpace) -> bool:
    """Adopt what a worker's copy of the space learnt (the projection, new language
    centres); False when it has a centre that differs from one `space` already has."""
    if not space.kind:
        space.kind, space.projection = returned.kind, returned.projection
        space.sketch = returned.sketch
    pairs = ((space.centers, returned.centers),
             (space.sentence_centers, returned.sentence_centers))  # fmt: skip
    for mine, theirs in pairs:
        for lang, center in theirs.items():
            if lang in mine and not np.array_equal(mine[lang], center):
                return False
    for mine, theirs in pairs:
        for lang, center in theirs.items():
            mine.setdefault(lang, center)
    return True


_ENCODER: Encoder | None = None


def _init_worker(encoder: Encoder) -> None:
    global _ENCODER
    init_worker()
    _ENCODER = encoder


def _prepare_in_worker(docs: list[Document], space: DocSpace, keep_features: bool) -> PreparedBatch:
    assert _ENCODER is not None
    batch = prepare_batch(docs, space, _ENCODER, keep_features)
    if batch.features:
        batch.features = share_features(batch.features)
    return batch


def stored_document(item: ChunkItem, **assignment: object) -> StoredDocument:
    assert item.prepared is not None and item.vector is not None
    return StoredDocument(
        id=item.doc.id,
        lang=item.prepared.lang,
        content_hash=item.content_hash,
        body_hash=item.body_hash,
        title=item.doc.display_title,  # a .txt file's first line
        sentences=tuple(item.prepared.texts()),
        vector=item.vector,
        sketch=item.sketch,
        **assignment,  # type: ignore[arg-type]
    )


def add_prepared(
    docs: Sequence[PreparedDocument],
    store: ArchiveStore,
    encoder: Encoder,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> IngestStats:
    """Add documents already prepared (`aligner match --index`) to the store in one
    transaction, as `add_documents` adds what it reads; `encode` gives sentence vectors
    the caller already has (see `DocSpace.embed`)."""
    stats = IngestStats(documents=len(docs))
    space = store.doc_space()
    run = new_run_id()
    items = lookup_chunk([(d.doc, None) for d in docs], store, run)
    changed = {item.doc.id for item in items if item.changed}
    batch = embed_batch([d for d in docs if d.id in changed], space, encoder, encode=encode)
    counts = store.commit(
        [stored_document(i, run=run) for i in fill_items(items, batch) if i.changed],
        space=space,
    )
    store.save_caches()
    stats.added, stats.updated = counts["added"], counts["updated"]
    stats.unchanged = len(docs) - stats.added - stats.updated
    stats.languages = store.languages()
    return stats


def add_documents(
    inputs: Sequence[str | Path],
    store: ArchiveStore,
    encoder: Encoder,
    chunk_size: int = 1000,
    show_progress: bool = True,
    cache_every_s: float = 120.0,
    workers: int = 2,
) -> IngestStats:
    """`aligner index add`: stream the inputs into the store, one transaction per chunk
    (the next chunks prepared in `workers` processes, see `prepare_chunks`)."""
    stats = IngestStats()
    space = store.doc_space()
    run = new_run_id()
    with (
        Progress("indexing", input_size(inputs), show_progress) as progress,
        fewer_collections(),
    ):
        chunks = read_chunks(inputs, first_chunk(space, chunk_size))
        for items, nbytes in prepare_chunks(chunks, store, encoder, space, run, workers=workers):
            counts = store.commit(
                [stored_document(i, run=run) for i in items if i.changed], space=space
            )
            progress.advance(nbytes, len(items))
            stats.documents += len(items)
            stats.added += counts["added"]
            stats.updated += counts["updated"]
            stats.unchanged += len(items) - counts["added"] - counts["updated"]
            store.maybe_save_caches(cache_every_s)
        store.save_caches()
        stats.seconds = progress.elapsed
    stats.languages = store.languages()
    return stats
