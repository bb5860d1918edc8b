"""Reading an archive into a store chunk by chunk: `aligner index add`, and the first half
of `aligner dedup`.

Memory is bounded by the chunk: documents are read as a stream, prepared, embedded,
committed (one SQLite transaction per chunk) and dropped. A document already stored with the
same id and content is recognised from its hash before any preparation, so re-adding an
archive, or rerunning an interrupted `index add`, is cheap and changes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligner.docvec import FIT_DOCS, DocSpace
from aligner.encoders.base import Encoder
from aligner.errors import InputError
from aligner.index import content_hash
from aligner.prepare import prepare_document
from aligner.progress import Progress
from aligner.readers import input_size, stream_documents
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
    New language centres are added to `centers`. With `run`, an id that this run already
    stored is a duplicate id in the input: an error, never a silent overwrite. With
    `keep_features`, items keep their sentence features where `DocSpace.embed` gives them."""
    seen: dict[str, str] = {}
    for doc, _ in chunk:
        if doc.id in seen:
            raise InputError(
                f"{doc.origin}: duplicate document id {doc.id!r} (first seen at {seen[doc.id]})"
            )
        seen[doc.id] = doc.origin
    existing = store.lookup_ids([doc.id for doc, _ in chunk])
    items = []
    for doc, line in chunk:
        old = existing.get(doc.id)
        if run is not None and old is not None and old.run == run:
            raise InputError(f"{doc.origin}: duplicate document id {doc.id!r} in the input")
        items.append(ChunkItem(doc, line, content_hash(doc.text), old))
    todo = [item for item in items if item.changed]
    for item in todo:
        item.prepared = prepare_document(item.doc)
        item.body_hash = body_hash(item.prepared)
    if todo:
        features: list[np.ndarray] | None = [] if keep_features else None
        vectors = space.embed([i.prepared for i in todo], encoder, features)
        for item, vector in zip(todo, vectors):
            item.vector = vector
        if features:
            for item, kept in zip(todo, features):
                item.features = kept
    for item in items:
        if not item.changed and item.existing is not None:
            item.body_hash = item.existing.body_hash
    return items


def stored_document(item: ChunkItem, **assignment: object) -> StoredDocument:
    assert item.prepared is not None and item.vector is not None
    return StoredDocument(
        id=item.doc.id,
        lang=item.prepared.lang,
        content_hash=item.content_hash,
        body_hash=item.body_hash,
        title=item.doc.title,
        sentences=tuple(item.prepared.texts()),
        vector=item.vector,
        **assignment,  # type: ignore[arg-type]
    )


def add_documents(
    inputs: Sequence[str | Path],
    store: ArchiveStore,
    encoder: Encoder,
    chunk_size: int = 1000,
    show_progress: bool = True,
    cache_every_s: float = 120.0,
) -> IngestStats:
    """`aligner index add`: stream the inputs into the store, one transaction per chunk."""
    stats = IngestStats()
    space = store.doc_space()
    run = new_run_id()
    with Progress("indexing", input_size(inputs), show_progress) as progress:
        for chunk, nbytes in read_chunks(inputs, first_chunk(space, chunk_size)):
            items = prepare_chunk(chunk, store, encoder, space, run)
            counts = store.commit(
                [stored_document(i, run=run) for i in items if i.changed], space=space
            )
            progress.advance(nbytes, len(chunk))
            stats.documents += len(items)
            stats.added += counts["added"]
            stats.updated += counts["updated"]
            stats.unchanged += len(items) - counts["added"] - counts["updated"]
            store.maybe_save_caches(cache_every_s)
        store.save_caches()
        stats.seconds = progress.elapsed
    stats.languages = store.languages()
    return stats
