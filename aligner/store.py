"""The archive store: a persistent, incremental document index for news archives.

Layout of a store folder:

    manifest.json            format, version, encoder identity, document dimension, and the
                             FAISS cache files with the generation each one reflects
    store.sqlite             documents, their sentences and vectors, language centres
    vectors.<lang>.g<N>.faiss  FAISS cache of one language at generation N
    lock                     writers hold an exclusive flock on it

SQLite is the single source of truth: every chunk of documents is one transaction that also
bumps the store's `generation`, so an interrupted writer leaves the last committed chunk and
nothing half-written. The FAISS files are a cache of the SQLite vectors: they are written to
a temporary name and renamed, then the manifest is replaced (last) to point at them. On
opening, each cache is brought up to the SQLite generation by replaying the rows added and
removed since (or rebuilt when missing or unreadable), so a kill at any moment is harmless.

Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from aligner.docvec import SKETCH_DIM, DocSpace
from aligner.encoders.base import describe_identity
from aligner.errors import AlignerError, IndexError_

FORMAT = "aligner-archive"
FORMAT_VERSION = 1
# what `aligner match --index` wrote before this store was the only one (documents' vectors
# without their sentences: nothing to convert from)
_OLD_FORMAT = "aligner-index"
MANIFEST = "manifest.json"
DATABASE = "store.sqlite"
LOCK = "lock"
# the distributed record `index add --engine ray` keeps beside the store (aligner.cluster)
RECORD_FOLDER = "record"
_CACHE_RE = re.compile(r"^vectors\.(.+)\.g(\d+)\.faiss$")
_SQL_CHUNK = 900  # bound on SQLite host parameters per statement

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    row INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, lang TEXT NOT NULL,
    content_hash TEXT NOT NULL, body_hash TEXT NOT NULL, title TEXT,
    n_sentences INTEGER NOT NULL, gen INTEGER NOT NULL,
    cluster_id TEXT, role TEXT, score REAL, matched_doc TEXT, run TEXT);
CREATE INDEX documents_gen ON documents(gen);
CREATE INDEX documents_body ON documents(body_hash);
CREATE INDEX documents_content ON documents(content_hash);
CREATE INDEX documents_cluster ON documents(cluster_id);
CREATE TABLE sentences (row INTEGER PRIMARY KEY, texts TEXT NOT NULL);
CREATE TABLE vectors (row INTEGER PRIMARY KEY, lang TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX vectors_lang ON vectors(lang);
CREATE TABLE removed (row INTEGER PRIMARY KEY, lang TEXT NOT NULL, gen INTEGER NOT NULL);
CREATE TABLE projection (
    id INTEGER PRIMARY KEY CHECK (id = 1), kind TEXT NOT NULL, matrix BLOB);
CREATE TABLE centers (
    lang TEXT NOT NULL, kind TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (lang, kind));
"""
# Added after the first release: created when a writer opens an older store. Its documents
# have no sketches; verification then encodes their sentences for the screen as before.
_SKETCH_TABLES = """
CREATE TABLE IF NOT EXISTS sketch_projection (
    id INTEGER PRIMARY KEY CHECK (id = 1), matrix BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sketches (row INTEGER PRIMARY KEY, sketch BLOB NOT NULL);
"""
# Documents per language (`ArchiveStore.languages`, written into the manifest with each
# cache save) from this index instead of a scan of the whole table: at 500,000 documents
# the scan took seconds of every save. Built once when a writer opens an older store.
_LANG_INDEX = "CREATE INDEX IF NOT EXISTS documents_lang ON documents(lang);"


@dataclass(frozen=True)
class StoreConfig:
    """How documents are indexed. `factory` is a FAISS index-factory string ("Flat",
    "IVF1024,Flat", "HNSW32", ...); None picks by size: exact below `flat_limit`
    documents per language, HNSW32 on float16 vectors above (`HNSW_FACTORY`)."""

    doc_dim: int = 512
    factory: str | None = None
    flat_limit: int = 50_000
    nprobe: int = 32  # IVF lists searched (IVF indexes)
    ef_search: int = 512  # HNSW search breadth (see ef_construction)
    # HNSW construction breadth, for indexes built from now on (a saved index keeps its
    # own). FAISS's default of 40 leaves the graph too sparse for an archive: recall@10 of
    # 1,000 queries among 500,000 documents of a language (the 1,000,000-document
    # benchmark's Arabic vectors), at efSearch 128 / 256 / 384:
    #   efConstruction 40: 0.85 / 0.90 / -;  80: 0.905 / 0.939 / 0.954;
    #   120: 0.939 / 0.963 / 0.973.
    # Insertion costs more with it, and dedup inserts every document: 20,000 documents
    # deduplicated against a 150,000-document store took 72.6 s at 40, 76.9 s at 80 and
    # 91-95 s at 120. On the index that dedup built in the whole million-document run
    # (efConstruction 80), recall@10 at efSearch 384 / 512 was 0.951 / 0.963 (Arabic) and
    # 0.948 / 0.957 (Persian), 1.7-3.1 ms a query: 512 meets the 0.95 target.
    ef_construction: int = 80


@dataclass(frozen=True)
class StoredDocument:
    """One document as stored: metadata, sentence texts, vector, and (after dedup) its
    cluster assignment."""

    id: str
    lang: str
    content_hash: str
    body_hash: str
    title: str | None
    sentences: tuple[str, ...]
    vector: np.ndarray
    cluster_id: str | None = None
    role: str | None = None
    sketch: np.ndarray | None = None  # (sentences, sketch dim) float16, see DocSpace
    score: float | None = None
    matched_doc: str | None = None
    run: str | None = None


@dataclass(frozen=True)
class DocumentRow:
    """What a lookup returns about a stored document (no texts, no vector)."""

    row: int
    id: str
    lang: str
    content_hash: str
    body_hash: str
    cluster_id: str | None
    role: str | None
    score: float | None
    matched_doc: str | None
    run: str | None


_Added = dict[str, list[tuple[int, np.ndarray]]]  # lang -> (row, vector) added
_ROW_COLUMNS = "row, id, lang, content_hash, body_hash, cluster_id, role, score, matched_doc, run"


HNSW_FACTORY = "HNSW32,SQfp16"  # what `auto_factory` picks above `flat_limit`


def auto_factory(n: int, config: StoreConfig) -> str:
    if config.factory:
        return config.factory
    if n < config.flat_limit:
        return "Flat"
    # Measured on the benchmark (bench/archive.py), 50,000 documents of a language:
    # HNSW32 at efSearch 128 has recall@10 0.96 at 0.28 ms/query; IVF1024 with 128 lists
    # probed has 0.87-0.89 at 0.35 ms/query. At 500,000 HNSW needs a wider construction
    # and search (see StoreConfig). The graph's vectors are kept as float16: at 100,000
    # documents of a language, recall@10 is the same as on float32 (0.960 / 0.980 / 0.991
    # at efSearch 128 / 256 / 512), insertion takes 0.46 instead of 0.70 ms and a search
    # 30% less time on one thread (less memory to read), and the index is half the size.
    return HNSW_FACTORY


def new_faiss(
    dim: int, factory: str, ef_construction: int = StoreConfig.ef_construction
) -> faiss.Index:
    """An empty inner-product index that takes our own ids (the SQLite rows), built with
    `ef_construction` where it is HNSW."""
    if factory.startswith("IVF"):
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    # Flat, HNSW, PQ... have no ids of their own: wrap them.
    index = faiss.index_factory(dim, f"IDMap2,{factory}", faiss.METRIC_INNER_PRODUCT)
    inner = faiss.downcast_index(index.index)
    if hasattr(inner, "hnsw"):
        inner.hnsw.efConstruction = ef_construction
    return index


def check_folder(folder: str | Path, encoder_identity: dict[str, Any]) -> None:
    """Refuse, before any work, a folder that a writer with this encoder could not use: a
    store of another encoder or format, a damaged one, or a folder with other things in."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        ArchiveStore.open(folder, encoder_identity).close()
    elif folder.is_dir():
        _refuse_foreign(folder)
    elif folder.exists():
        raise IndexError_(f"{folder}: not a folder")


def _refuse_foreign(folder: Path) -> None:
    unexpected = [
        p.name
        for p in folder.iterdir()
        if p.name not in (LOCK, DATABASE, RECORD_FOLDER) and not p.name.startswith(".")
    ]
    if unexpected:
        raise IndexError_(
            f"{folder}: not an aligner index and not empty ({', '.join(sorted(unexpected)[:3])}"
            "); choose another folder"
        )


class WriterLock:
    """An exclusive flock on the store's lock file, so that two writers never interleave.
    Waits up to `timeout` seconds (0: fail at once), then fails with a clear message."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(self.timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_small(self.path)
                    os.close(fd)
                    raise IndexError_(
                        f"{self.path.parent}: index is being written by another process "
                        f"({holder or 'unknown'}); waited {self.timeout:g}s. Try again "
                        "later or raise --lock-timeout"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_small(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:100]
    except OSError:
        return ""


class ArchiveStore:
    """Open with `ArchiveStore.open`; use as a context manager (closes and unlocks)."""

    def __init__(
        self, folder: Path, db: sqlite3.Connection, manifest: dict[str, Any], writable: bool
    ) -> None:
        self.folder = folder
        self.db = db
        self.manifest = manifest
        self.writable = writable
        self.dim = int(manifest["doc_dim"])
        self.config = StoreConfig(
            doc_dim=self.dim,
            factory=manifest.get("factory"),
            flat_limit=int(manifest.get("flat_limit", StoreConfig.flat_limit)),
            nprobe=int(manifest.get("nprobe", StoreConfig.nprobe)),
            ef_search=int(manifest.get("ef_search", StoreConfig.ef_search)),
            ef_construction=int(manifest.get("ef_construction", StoreConfig.ef_construction)),
        )
        self.lock: WriterLock | None = None
        self._checksummed = _checksummed_tables(db)
        self._faiss: dict[str, faiss.Index] = {}
        self._factory: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._last_cache_save = time.monotonic()
        self._cache_save_seconds = 0.0  # how long the last write of the caches took
        # FAISS changes of commits made with defer_index=True, not applied yet
        self._deferred: list[tuple[_Added, dict[str, list[int]]]] = []

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        folder: str | Path,
        encoder_identity: dict[str, Any] | None = None,
        *,
        write: bool = False,
        config: StoreConfig | None = None,
        lock_timeout: float = 10.0,
    ) -> ArchiveStore:
        """Open a store. With `write`, take the writer lock and create the store if the
        folder has none (with `config`); an existing store keeps its own configuration,
        except a given FAISS factory, which replaces the stored one."""
        folder = Path(folder)
        lock = None
        if write:
            folder.mkdir(parents=True, exist_ok=True)
            lock = WriterLock(folder / LOCK, lock_timeout)
            lock.acquire()
        try:
            if write and not (folder / MANIFEST).exists():
                _create(folder, encoder_identity, config or StoreConfig())
            manifest = _read_manifest(folder)
            if encoder_identity is not None and manifest["encoder"] != encoder_identity:
                raise IndexError_(
                    f"{folder}: index was made with encoder {_describe(manifest['encoder'])}, "
                    f"not {_describe(encoder_identity)}; use the same --model or a new index"
                )
            if write and config and config.factory and config.factory != manifest.get("factory"):
                manifest["factory"] = config.factory
            db = _connect(folder / DATABASE, write)
            if write:  # stores made before the tables existed
                db.execute(
                    "CREATE TABLE IF NOT EXISTS projection (id INTEGER PRIMARY KEY "
                    "CHECK (id = 1), kind TEXT NOT NULL, matrix BLOB)"
                )
                db.executescript(_SKETCH_TABLES + _LANG_INDEX)
                _add_checksum_columns(db)
                db.commit()
            store = cls(folder, db, manifest, write)
            store.lock = lock
            store._load_caches()
            if write:
                if config and config.factory:
                    for lang in store.search_languages():
                        if store._factory[lang] != config.factory:
                            store._rebuild(lang, config.factory)
                            store._dirty.add(lang)
                store._cleanup_files()
            return store
        except sqlite3.DatabaseError as exc:
            if lock:
                lock.release()
            raise damaged(folder, exc) from exc
        except BaseException:
            if lock:
                lock.release()
            raise

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        if self.lock:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> ArchiveStore:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self.close()
        if isinstance(error, sqlite3.DatabaseError):
            raise damaged(self.folder, error) from error

    # -- reading ---------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @property
    def encoder_identity(self) -> dict[str, Any]:
        return dict(self.manifest["encoder"])

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def languages(self) -> dict[str, int]:
        rows = self.db.execute("SELECT lang, COUNT(*) FROM documents GROUP BY lang ORDER BY lang")
        return {lang: int(n) for lang, n in rows}

    def faiss_info(self) -> dict[str, dict[str, Any]]:
        return {
            lang: {"factory": self._factory[lang], "vectors": int(index.ntotal)}
            for lang, index in sorted(self._faiss.items())
        }

    def centers(self, kind: str = "doc") -> dict[str, np.ndarray]:
        """Language centres: of the document encoder ("doc") or of the sentence encoder
        used for verification ("sentence")."""
        query = f"SELECT lang, vector, {self._crc_of('centers')} FROM centers WHERE kind = ?"
        return {
            lang: np.frombuffer(self._checked(f"centre {lang}", blob, crc), np.float32).copy()
            for lang, blob, crc in self.db.execute(query, (kind,))
        }

    def doc_space(self) -> DocSpace:
        """How this store's document vectors are made (see `aligner.docvec.DocSpace`).
        A store that has documents but no recorded reducer predates "pca": "hash"."""
        space = DocSpace(
            self.dim, centers=self.centers(), sentence_centers=self.centers("sentence")
        )
        try:
            query = f"SELECT kind, matrix, {self._crc_of('projection')} FROM projection"
            row = self.db.execute(query).fetchone()
        except sqlite3.OperationalError:  # no such table
            row = None
        if row is not None and row[1] is not None:
            self._checked("projection", row[1], row[2])
        if row is not None:
            space.kind = row[0]
            if row[1] is not None:
                space.projection = np.frombuffer(row[1], np.float32).reshape(-1, self.dim).copy()
        elif len(self):
            space.kind = "hash"
        row = self._sketch_row()
        if row is not None:
            space.sketch = np.frombuffer(row[0], np.float32).reshape(-1, SKETCH_DIM).copy()
        return space

    def _sketch_row(self) -> tuple[bytes] | None:
        try:
            query = f"SELECT matrix, {self._crc_of('sketch_projection')} FROM sketch_projection"
            row = self.db.execute(query).fetchone()
        except sqlite3.OperationalError:  # an older store opened read-only
            return None
        return None if row is None else (self._checked("sketch projection", *row),)

    def sketches(self, rows: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored sentence sketches (float16, one row per sentence) of the rows that have
        them."""
        out: dict[int, np.ndarray] = {}
        try:
            for part in _chunks(list(rows)):
                marks = ",".join("?" * len(part))
                column = self._crc_of("sketches")
                query = f"SELECT row, sketch, {column} FROM sketches WHERE row IN ({marks})"
                for row, blob, crc in self.db.execute(query, part):
                    data = self._checked(row, blob, crc)
                    out[row] = np.frombuffer(data, np.float16).reshape(-1, SKETCH_DIM)
        except sqlite3.OperationalError:  # an older store opened read-only
            return {}
        return out

    def titles(self, rows: Sequence[int]) -> dict[int, str | None]:
        """The stored titles of these rows."""
        out: dict[int, str | None] = {}
        for part in _chunks(list(rows)):
            marks = ",".join("?" * len(part))
            query = f"SELECT row, title FROM documents WHERE row IN ({marks})"
            out.update(self.db.execute(query, part).fetchall())
        return out

    def clustered(self) -> tuple[int, int]:
        """How many documents have a dedup assignment, and in how many clusters."""
        documents, clusters = self.db.execute(
            "SELECT COUNT(*), SUM(role = 'canonical') FROM documents WHERE role IS NOT NULL"
        ).fetchone()
        return int(documents or 0), int(clusters or 0)

    def lookup_ids(self, ids: Sequence[str]) -> dict[str, DocumentRow]:
        return {r.id: r for r in self._select_in("id", ids)}

    def lookup_rows(self, rows: Sequence[int]) -> dict[int, DocumentRow]:
        return {r.row: r for r in self._select_in("row", rows)}

    def lookup_hashes(self, column: str, hashes: Sequence[str]) -> dict[str, DocumentRow]:
        """For each hash (`content_hash` or `body_hash`), the earliest stored document with
        it."""
        if column not in ("content_hash", "body_hash"):
            raise ValueError(column)
        found: dict[str, DocumentRow] = {}
        for r in sorted(self._select_in(column, [h for h in hashes if h]), key=lambda r: r.row):
            found.setdefault(getattr(r, column), r)
        return found

    def heads(self, ids: Sequence[str]) -> set[str]:
        """Which of these document ids already head a cluster (others were attached to
        them)."""
        out: set[str] = set()
        for part in _chunks(list(ids)):
            marks = ",".join("?" * len(part))
            query = f"SELECT DISTINCT cluster_id FROM documents WHERE cluster_id IN ({marks})"
            out.update(r[0] for r in self.db.execute(query, part))
        return out

    def sentence_texts(self, rows: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for part in _chunks(list(rows)):
            marks = ",".join("?" * len(part))
            column = self._crc_of("sentences")
            query = f"SELECT row, texts, {column} FROM sentences WHERE row IN ({marks})"
            out.update(
                (row, json.loads(self._checked(row, texts.encode("utf-8", "surrogatepass"), crc)))
                for row, texts, crc in self.db.execute(query, part)
            )
        return out

    def vectors_for(self, rows: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for part in _chunks(list(rows)):
            marks = ",".join("?" * len(part))
            query = (
                f"SELECT row, vector, {self._crc_of('vectors')} FROM vectors WHERE row IN ({marks})"
            )
            out.update(
                (r, np.frombuffer(self._checked(r, b, crc), dtype=np.float32))
                for r, b, crc in self.db.execute(query, part)
            )
        return out

    def iter_documents(self) -> Iterator[DocumentRow]:
        for values in self.db.execute(f"SELECT {_ROW_COLUMNS} FROM documents ORDER BY row"):
            yield DocumentRow(*values)

    def search(
        self, vectors: np.ndarray, lang: str, k: int, ef_search: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest stored documents of one language: (scores, rows), -1 rows for none.
        `ef_search` overrides the store's HNSW search breadth for this search."""
        index = self._faiss.get(lang)
        n = len(vectors)
        if index is None or index.ntotal == 0 or k <= 0:
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        config = self.config if ef_search is None else replace(self.config, ef_search=ef_search)
        _tune(index, config)
        return index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)

    def search_languages(self) -> list[str]:
        return sorted(self._faiss)

    def vectors_of(self, lang: str) -> tuple[np.ndarray, np.ndarray]:
        """All stored (rows, vectors) of one language, for exact search and training."""
        rows, blobs = [], []
        query = f"SELECT row, vector, {self._crc_of('vectors')} FROM vectors WHERE lang = ?"
        for row, blob, crc in self.db.execute(query, (lang,)):
            rows.append(row)
            blobs.append(self._checked(row, blob, crc))
        matrix = (
            np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, self.dim)
            if blobs
            else np.zeros((0, self.dim), np.float32)
        )
        return np.array(rows, dtype=np.int64), matrix

    # -- writing ---------------------------------------------------------------------------
    def commit(
        self,
        docs: Sequence[StoredDocument],
        centers: dict[str, np.ndarray] | None = None,
        sentence_centers: dict[str, np.ndarray] | None = None,
        space: DocSpace | None = None,
        assignments: Iterable[tuple[int, str, str, float, str | None, str]] = (),
        defer_index: bool = False,
    ) -> dict[str, int]:
        """Add or update documents and record new language centres and cluster assignments
        of already stored rows (row, cluster_id, role, score, matched_doc, run), all in one
        transaction (one generation). A document whose id and content hash are stored is
        left as it is. Returns counts: added, updated, unchanged.

        With `defer_index`, the FAISS indexes are not updated yet: searches miss these
        documents until `take_index_work` (or a cache save) applies the change."""
        if not self.writable:
            raise IndexError_(f"{self.folder}: opened read-only")
        if space is not None:
            centers, sentence_centers = space.centers, space.sentence_centers
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        existing = self.lookup_ids([d.id for d in docs])
        assignments = list(assignments)
        new_centers = []
        for kind, given in (("doc", centers), ("sentence", sentence_centers)):
            stored = self.centers(kind)
            new_centers += [(k, kind, v) for k, v in (given or {}).items() if k not in stored]
        changed = [
            d for d in docs if d.id not in existing or existing[d.id].content_hash != d.content_hash
        ]
        record_space = space is not None and space.kind and self._space_kind() is None
        record_sketch = (
            space is not None and space.sketch is not None and self._sketch_row() is None
        )
        if (
            not changed
            and not new_centers
            and not assignments
            and not record_space
            and not (record_sketch)
        ):
            counts["unchanged"] = len(docs)
            return counts  # nothing to write: the generation stays as it is
        gen = self.generation + 1
        added: dict[str, list[tuple[int, np.ndarray]]] = {}
        removed: dict[str, list[int]] = {}
        with self.db:  # one transaction: all of it, or (after a crash) none of it
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(gen),))
            if record_space and space is not None:
                matrix = None if space.projection is None else space.projection.tobytes()
                self.db.execute(
                    "INSERT INTO projection (id, kind, matrix, crc) VALUES (1, ?, ?, ?)",
                    (space.kind, matrix, None if matrix is None else _crc(matrix)),
                )
            if record_sketch and space is not None and space.sketch is not None:
                blob = np.ascontiguousarray(space.sketch, np.float32).tobytes()
                self.db.execute(
                    "INSERT INTO sketch_projection (id, matrix, crc) VALUES (1, ?, ?)",
                    (blob, _crc(blob)),
                )
            for lang, kind, vector in new_centers:
                blob = np.asarray(vector, np.float32).tobytes()
                self.db.execute(
                    "INSERT INTO centers (lang, kind, vector, crc) VALUES (?, ?, ?, ?)",
                    (lang, kind, blob, _crc(blob)),
                )
            for row, cluster_id, role, score, matched, run in assignments:
                self.db.execute(
                    "UPDATE documents SET cluster_id = ?, role = ?, score = ?, "
                    "matched_doc = ?, run = ? WHERE row = ?",
                    (cluster_id, role, score, matched, run, row),
                )
            for doc in docs:
                old = existing.get(doc.id)
                if old is not None:
                    if old.content_hash == doc.content_hash:
                        counts["unchanged"] += 1
                        continue
                    for table in ("documents", "sentences", "vectors", "sketches"):
                        self.db.execute(f"DELETE FROM {table} WHERE row = ?", (old.row,))
                    self.db.execute(
                        "INSERT OR REPLACE INTO removed VALUES (?, ?, ?)", (old.row, old.lang, gen)
                    )
                    removed.setdefault(old.lang, []).append(old.row)
                    counts["updated"] += 1
                else:
                    counts["added"] += 1
                cursor = self.db.execute(
                    "INSERT INTO documents (id, lang, content_hash, body_hash, title, "
                    "n_sentences, gen, cluster_id, role, score, matched_doc, run) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.id, doc.lang, doc.content_hash, doc.body_hash, doc.title,
                        len(doc.sentences), gen, doc.cluster_id, doc.role, doc.score,
                        doc.matched_doc, doc.run,
                    ),
                )  # fmt: skip
                row = int(cursor.lastrowid or 0)
                vector = np.ascontiguousarray(doc.vector, dtype=np.float32)
                if vector.shape != (self.dim,):
                    raise IndexError_(f"vector of shape {vector.shape} for dimension {self.dim}")
                texts = json.dumps(list(doc.sentences), ensure_ascii=False)
                self.db.execute(
                    "INSERT INTO sentences (row, texts, crc) VALUES (?, ?, ?)",
                    (row, texts, _crc(texts.encode("utf-8", "surrogatepass"))),
                )
                blob = vector.tobytes()
                self.db.execute(
                    "INSERT INTO vectors (row, lang, vector, crc) VALUES (?, ?, ?, ?)",
                    (row, doc.lang, blob, _crc(blob)),
                )
                if doc.sketch is not None:
                    blob = np.ascontiguousarray(doc.sketch, dtype=np.float16).tobytes()
                    self.db.execute(
                        "INSERT INTO sketches (row, sketch, crc) VALUES (?, ?, ?)",
                        (row, blob, _crc(blob)),
                    )
                added.setdefault(doc.lang, []).append((row, vector))
        if defer_index:
            self._deferred.append((added, removed))
        else:
            self._apply(added, removed)
        return counts

    def take_index_work(self) -> Callable[[], None] | None:
        """The FAISS changes deferred by `commit(defer_index=True)`, as a function that may
        run in another thread (FAISS releases the GIL) while this one does anything but
        search the store, commit to it or save its caches; None when there is nothing
        left to do. Changes that need SQLite (removals, an index that changes type) are
        applied here and now, in this thread."""
        deferred, self._deferred = self._deferred, []
        plain: dict[str, list[tuple[int, np.ndarray]]] = {}
        removed: dict[str, list[int]] = {}
        for added_then, removed_then in deferred:
            for lang, items in added_then.items():
                plain.setdefault(lang, []).extend(items)
            for lang, rows in removed_then.items():
                removed.setdefault(lang, []).extend(rows)
        if removed or any(self._needs_rebuild(lang, len(v)) for lang, v in plain.items()):
            # one application of everything (ids are unique within a run, so no row is
            # both added and removed; a rebuild reads every committed row from SQLite)
            self._apply(plain, removed)
            return None
        if not plain:
            return None

        def work() -> None:
            for lang, items in plain.items():
                self._add_rows(lang, items)

        return work

    def _add_rows(self, lang: str, items: list[tuple[int, np.ndarray]]) -> None:
        """Add (row, vector) pairs to a language's FAISS index as it is."""
        rows = np.array([r for r, _ in items], dtype=np.int64)
        self._faiss[lang].add_with_ids(np.stack([v for _, v in items]), rows)
        self._dirty.add(lang)

    def _flush_deferred(self) -> None:
        work = self.take_index_work()
        if work is not None:
            work()

    def _needs_rebuild(self, lang: str, adding: int) -> bool:
        current = self._faiss.get(lang)
        if current is None:
            return True
        wanted = auto_factory(int(current.ntotal) + adding, self.config)
        return wanted != self._factory[lang] and _worth_rebuild(self._factory[lang], wanted)

    def _space_kind(self) -> str | None:
        try:
            row = self.db.execute("SELECT kind FROM projection").fetchone()
        except sqlite3.OperationalError:  # a store from before the table existed
            return "hash"
        return None if row is None else str(row[0])

    def maybe_save_caches(self, every_s: float = 120.0) -> None:
        """Write the FAISS caches if the last write is older than `every_s` seconds (they are
        only a cache: a crash before the next write costs a replay on opening, not data)."""
        if self.cache_save_due(every_s):
            self.save_caches()

    def cache_save_due(self, every_s: float = 120.0) -> bool:
        """Whether `every_s` seconds have passed since the caches were written, and 20
        times as long as writing them took (at a million documents they are GBs: never
        more than a twentieth of the time goes to writing them, and a crash only costs
        replaying what was added since). `every_s` <= 0: always."""
        if every_s <= 0:
            return True
        wait = max(every_s, 20 * self._cache_save_seconds)
        return time.monotonic() - self._last_cache_save >= wait

    def save_caches(self) -> None:
        """Write changed FAISS caches (temporary name, rename), then the manifest, last."""
        if not self.writable:
            return
        started = time.monotonic()
        self._flush_deferred()
        gen = self.generation
        caches = dict(self.manifest.get("caches", {}))
        if (
            not self._dirty
            and set(caches) == set(self._faiss)
            and self.manifest.get("generation") == gen
        ):
            return  # nothing changed: leave every file as it is
        for lang in sorted(self._dirty | (set(self._faiss) - set(caches))):
            name = f"vectors.{lang}.g{gen}.faiss"
            temp = self.folder / f".{name}.tmp"
            faiss.write_index(self._faiss[lang], str(temp))
            _fsync_file(temp)
            os.replace(temp, self.folder / name)
            caches[lang] = {
                "file": name,
                "generation": gen,
                "factory": self._factory[lang],
                **file_checksum(self.folder / name),
            }
        for lang in list(caches):
            if lang not in self._faiss:
                del caches[lang]
        self.manifest["caches"] = caches
        self.manifest["generation"] = gen
        self.manifest["documents"] = self.languages()
        _write_manifest(self.folder, self.manifest)
        self._dirty.clear()
        self._last_cache_save = time.monotonic()
        self._cache_save_seconds = self._last_cache_save - started
        self._cleanup_files()

    # -- FAISS caches ----------------------------------------------------------------------
    def _apply(
        self, added: dict[str, list[tuple[int, np.ndarray]]], removed: dict[str, list[int]]
    ) -> None:
        for lang, rows in removed.items():
            index = self._faiss.get(lang)
            if index is None:
                continue
            if not self._remove(lang, rows):
                added.pop(lang, None)  # rebuilt from SQLite: the new rows are in
            self._dirty.add(lang)
        for lang, items in added.items():
            current = self._faiss.get(lang)
            n = (int(current.ntotal) if current is not None else 0) + len(items)
            if self._needs_rebuild(lang, len(items)):
                self._rebuild(lang, auto_factory(n, self.config))
            else:
                self._add_rows(lang, items)
            self._dirty.add(lang)

    def _remove(self, lang: str, rows: list[int]) -> bool:
        """Remove rows from a language's FAISS index. HNSW cannot remove: there the rows stay
        (searches skip rows that SQLite no longer has) until they are a tenth of the index,
        then it is rebuilt. Returns False when it was rebuilt."""
        index = self._faiss[lang]
        try:
            index.remove_ids(np.array(rows, dtype=np.int64))
            return True
        except RuntimeError:
            live = self.db.execute("SELECT COUNT(*) FROM vectors WHERE lang = ?", (lang,))
            if index.ntotal - int(live.fetchone()[0]) <= 0.1 * index.ntotal:
                return True
            self._rebuild(lang)
            return False

    def _rebuild(self, lang: str, factory: str | None = None) -> None:
        rows, vectors = self.vectors_of(lang)
        factory = factory or auto_factory(len(rows), self.config)
        index = new_faiss(self.dim, factory, self.config.ef_construction)
        if not index.is_trained:
            if len(rows) < 40 * _nlist(factory):
                factory = "Flat"  # too few vectors to train the requested index
                index = new_faiss(self.dim, factory, self.config.ef_construction)
            else:
                rng = np.random.default_rng(0)
                sample = rng.choice(len(rows), min(len(rows), 40 * _nlist(factory)), replace=False)
                index.train(vectors[np.sort(sample)])
        if len(rows):
            index.add_with_ids(vectors, rows)
        self._faiss[lang] = index
        self._factory[lang] = factory

    def _load_caches(self) -> None:
        """Bring every language's FAISS cache to the SQLite generation (see the module)."""
        gen = self.generation
        caches = self.manifest.get("caches", {})
        langs = [r[0] for r in self.db.execute("SELECT DISTINCT lang FROM vectors")]
        for lang in sorted(set(langs) | set(caches)):
            entry = caches.get(lang)
            index = None
            if entry and int(entry["generation"]) <= gen and _cache_intact(self.folder, entry):
                with contextlib.suppress(RuntimeError, OSError):
                    index = faiss.read_index(str(self.folder / entry["file"]))
            if index is None or index.d != self.dim:
                self._rebuild(lang)
                self._dirty.add(lang)
                continue
            self._faiss[lang] = index
            self._factory[lang] = entry["factory"]
            since = int(entry["generation"])
            if since == gen:
                continue
            self._dirty.add(lang)
            gone = [
                r[0]
                for r in self.db.execute(
                    "SELECT row FROM removed WHERE lang = ? AND gen > ?", (lang, since)
                )
            ]
            new = [
                (row, self._checked(row, blob, crc))
                for row, blob, crc in self.db.execute(
                    f"SELECT v.row, v.vector, {self._crc_of('vectors', 'v.')} FROM vectors v "
                    "JOIN documents d ON d.row = v.row WHERE d.lang = ? AND d.gen > ?",
                    (lang, since),
                )
            ]
            try:
                if gone and not self._remove(lang, gone):
                    continue
                if new:
                    vectors = np.frombuffer(b"".join(b for _, b in new), np.float32)
                    index.add_with_ids(
                        vectors.reshape(-1, self.dim), np.array([r for r, _ in new], np.int64)
                    )
            except RuntimeError:
                self._rebuild(lang)

    def _cleanup_files(self) -> None:
        """Remove cache files and temporaries the manifest does not name (left by a crash)."""
        keep = {entry["file"] for entry in self.manifest.get("caches", {}).values()}
        for path in self.folder.iterdir():
            stray_cache = _CACHE_RE.match(path.name) and path.name not in keep
            if stray_cache or (path.name.startswith(".") and path.name.endswith(".tmp")):
                with contextlib.suppress(OSError):
                    path.unlink()

    def _crc_of(self, table: str, prefix: str = "") -> str:
        """The column of a table's checksums, or NULL in a store that predates them."""
        return f"{prefix}crc" if table in self._checksummed else "NULL"

    def _checked(self, what: int | str, data: bytes, crc: int | None) -> bytes:
        """`data` of a row (a row number, or what else it is), unless it no longer matches
        the checksum stored with it."""
        if crc is not None and _crc(data) != crc:
            where = f"row {what}" if isinstance(what, int) else str(what)
            raise IndexError_(
                f"{self.folder}: damaged index ({where} in {DATABASE} does not match its checksum)"
            )
        return data

    def _select_in(self, column: str, values: Sequence[Any]) -> list[DocumentRow]:
        out: list[DocumentRow] = []
        for part in _chunks(list(values)):
            marks = ",".join("?" * len(part))
            query = f"SELECT {_ROW_COLUMNS} FROM documents WHERE {column} IN ({marks})"
            out.extend(DocumentRow(*r) for r in self.db.execute(query, part))
        return out


def _crc(data: bytes) -> int:
    return zlib.crc32(data)


def _add_checksum_columns(db: sqlite3.Connection) -> None:
    """Every stored vector, sentence list and sketch carries a CRC-32 of its bytes, checked
    whenever it is read: SQLite notices a broken page, not changed bytes inside a record.
    Rows written before the column existed keep NULL (unchecked)."""
    for table in _CHECKSUMMED:
        if table not in _checksummed_tables(db):
            db.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER")


_CHECKSUMMED = ("sentences", "vectors", "sketches", "centers", "projection", "sketch_projection")


def _checksummed_tables(db: sqlite3.Connection) -> set[str]:
    return {
        table
        for table in _CHECKSUMMED
        if any(column[1] == "crc" for column in db.execute(f"PRAGMA table_info({table})"))
    }


def file_checksum(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, as the manifest records them."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _cache_intact(folder: Path, entry: dict[str, Any]) -> bool:
    """Whether a FAISS cache file is the one its manifest entry describes. One that is not
    (cut short, overwritten, swapped in; or from a store that predates the checksums) is
    rebuilt from SQLite instead of being searched."""
    path = folder / str(entry.get("file"))
    if Path(str(entry.get("file"))).name != entry.get("file") or not path.is_file():
        return False
    if "sha256" not in entry:
        return path.stat().st_size > 0  # written before checksums were recorded
    return bool(path.stat().st_size == entry.get("bytes") and file_checksum(path) == {
        "bytes": entry.get("bytes"), "sha256": entry.get("sha256")})  # fmt: skip


def _worth_rebuild(current: str, wanted: str) -> bool:
    """Rebuild when leaving exact search, or when an IVF index should have 4x the lists."""
    if current == "Flat":
        return wanted != "Flat"
    if current.startswith("IVF") and wanted.startswith("IVF"):
        return _nlist(wanted) >= 4 * _nlist(current)
    return False


def _nlist(factory: str) -> int:
    match = re.match(r"IVF(\d+)", factory)
    return int(match.group(1)) if match else 1


def _tune(index: faiss.Index, config: StoreConfig) -> None:
    """Search-time knobs: nprobe of an IVF index, efSearch of an HNSW one."""
    try:
        faiss.extract_index_ivf(index).nprobe = config.nprobe
        return
    except RuntimeError:
        pass
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = config.ef_search


def _chunks(values: list[Any], size: int = _SQL_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def damaged(folder: Path, error: sqlite3.DatabaseError) -> AlignerError:
    """What a user is told of an SQLite failure: a damaged store (exit 3), or, where SQLite
    could not get at it (locked for longer than its timeout, a full disk), that."""
    text = str(error)
    if isinstance(error, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "disk", "unable to open", "readonly")
    ):
        return AlignerError(f"{folder / DATABASE}: {text}")
    return IndexError_(f"{folder}: damaged index ({DATABASE}: {text})")


# Stores up to this size are checked whole on opening (SQLite's quick_check: every page
# and B-tree, 0.1 s for 20 MiB here); larger ones only as they are read, since the check of
# a store of several GB would take longer than most commands.
QUICK_CHECK_BYTES = 64 << 20


def _connect(path: Path, write: bool) -> sqlite3.Connection:
    if not path.is_file():
        raise IndexError_(f"{path.parent}: damaged index (no {path.name})")
    # A reader opens read-write too when it may: after a writer was killed mid-transaction,
    # the first connection must roll its journal back, which a read-only one cannot do.
    # Readers never write anything else.
    mode = "rw" if write or os.access(path, os.W_OK) else "ro"
    uri = f"file:{path}?mode={mode}"
    db = sqlite3.connect(uri, uri=True, timeout=60, isolation_level="DEFERRED")
    db.execute("PRAGMA synchronous = NORMAL")
    # 64 MiB of pages rather than SQLite's 2 MiB: dedup looks up rows and hashes all over
    # a store of several GB (B-tree pages read again through the OS for every lookup)
    db.execute("PRAGMA cache_size = -65536")
    if path.stat().st_size <= QUICK_CHECK_BYTES:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            db.close()
            raise sqlite3.DatabaseError("; ".join(map(str, problems)))
    return db


def _create(folder: Path, identity: dict[str, Any] | None, config: StoreConfig) -> None:
    """A new empty store (under the writer lock). The manifest is written last: a folder
    without one is not a store yet, and is initialised again by the next writer."""
    if identity is None:
        raise IndexError_(f"{folder}: no index here")
    _refuse_foreign(folder)
    with contextlib.suppress(FileNotFoundError):
        (folder / DATABASE).unlink()  # an interrupted creation: start over
    db = sqlite3.connect(folder / DATABASE)
    try:
        db.executescript(_SCHEMA + _SKETCH_TABLES + _LANG_INDEX)
        _add_checksum_columns(db)
        db.execute("INSERT INTO meta VALUES ('generation', '0')")
        db.commit()
    finally:
        db.close()
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "encoder": identity,
        "doc_dim": config.doc_dim,
        "factory": config.factory,
        "flat_limit": config.flat_limit,
        "nprobe": config.nprobe,
        "ef_search": config.ef_search,
        "ef_construction": config.ef_construction,
        "generation": 0,
        "caches": {},
        "documents": {},
    }
    _write_manifest(folder, manifest)


def _read_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise IndexError_(f"{folder}: no index here (not a folder)")
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexError_(f"{folder}: not an aligner index (no {MANIFEST})") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexError_(f"{folder}: damaged index ({MANIFEST} unreadable: {exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        other = manifest.get("format") if isinstance(manifest, dict) else None
        if other == _OLD_FORMAT:
            raise IndexError_(
                f"{folder}: an index of an earlier aligner ({_OLD_FORMAT}), which this one "
                "cannot read; rebuild it from its documents into a new folder: "
                "aligner index add DOCUMENTS --index NEW_FOLDER"
            )
        raise IndexError_(f"{folder}: not an aligner index ({MANIFEST} has another format)")
    if manifest.get("version") != FORMAT_VERSION:
        raise IndexError_(
            f"{folder}: archive index version {manifest.get('version')!r}, this aligner "
            f"reads version {FORMAT_VERSION}; rebuild the index"
        )
    caches = manifest.get("caches", {})
    problem = (
        "encoder" if not isinstance(manifest.get("encoder"), dict)
        else "doc_dim" if not isinstance(manifest.get("doc_dim"), int)
        else "caches" if not isinstance(caches, dict)
        or not all(isinstance(c, dict) and isinstance(c.get("file"), str)
                   and isinstance(c.get("generation"), int) for c in caches.values())
        else None
    )  # fmt: skip
    if problem:
        raise IndexError_(f"{folder}: damaged index ({MANIFEST} has no valid {problem!r})")
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    temp = folder / f".{MANIFEST}.tmp"
    temp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    _fsync_file(temp)
    os.replace(temp, folder / MANIFEST)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(identity: dict[str, Any]) -> str:
    return describe_identity(identity)
