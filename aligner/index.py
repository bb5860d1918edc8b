"""A persistent document index: FAISS vectors per language plus SQLite metadata.

Layout of an index folder (see indexes/README.md):

    manifest.json        format name and version, the encoder identity, dimension, counts
    documents.sqlite     one row per document: id, lang, content hash, title, sentences
    vectors.<lang>.faiss one FAISS index per language; FAISS ids are the SQLite row ids

Nothing is ever unpickled. A folder whose manifest is missing, unreadable, of another format
version, or made by another encoder is refused with a message that says which. The manifest
records the size and SHA-256 of every other file, checked before anything is read, so a
truncated, overwritten or swapped file is refused instead of giving wrong answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from aligner.encoders.base import describe_identity
from aligner.errors import IndexError_

FORMAT = "aligner-index"
FORMAT_VERSION = 2  # 2: the manifest lists "files" with sizes and SHA-256 checksums
MANIFEST = "manifest.json"
DATABASE = "documents.sqlite"
# Language codes become file names (vectors.<lang>.faiss): nothing that could leave the folder.
_LANG_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class IndexedDocument:
    row: int
    id: str
    lang: str
    content_hash: str
    title: str | None
    sentences: int


@dataclass(frozen=True)
class SearchHit:
    id: str
    lang: str
    score: float


class DocumentIndex:
    """Document vectors searchable per language, with the encoder that made them."""

    def __init__(self, encoder_identity: dict[str, Any], dim: int) -> None:
        self.encoder_identity = encoder_identity
        self.dim = dim
        self._faiss: dict[str, faiss.Index] = {}
        self._docs: dict[int, IndexedDocument] = {}
        self._by_id: dict[str, int] = {}
        self._next_row = 1

    # -- building ------------------------------------------------------------------------
    def add(
        self,
        ids: Sequence[str],
        langs: Sequence[str],
        vectors: np.ndarray,
        hashes: Sequence[str],
        titles: Sequence[str | None] | None = None,
        sentences: Sequence[int] | None = None,
    ) -> dict[str, int]:
        """Add or update documents. A document whose id and content hash are already there
        is left as it is. Returns counts: added, updated, unchanged."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1:] != (self.dim,):
            raise IndexError_(
                f"vectors of dimension {vectors.shape[1:]} for an index of {self.dim}"
            )
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        for position, doc_id in enumerate(ids):
            old_row = self._by_id.get(doc_id)
            if old_row is not None:
                if self._docs[old_row].content_hash == hashes[position]:
                    counts["unchanged"] += 1
                    continue
                self._remove_row(old_row)
                counts["updated"] += 1
            else:
                counts["added"] += 1
            row = self._next_row
            self._next_row += 1
            lang = langs[position]
            index = self._faiss.get(lang)
            if index is None:
                index = self._faiss[lang] = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
            index.add_with_ids(vectors[position : position + 1], np.array([row], dtype=np.int64))
            self._docs[row] = IndexedDocument(
                row,
                doc_id,
                lang,
                hashes[position],
                titles[position] if titles else None,
                sentences[position] if sentences else 0,
            )
            self._by_id[doc_id] = row
        return counts

    def _remove_row(self, row: int) -> None:
        doc = self._docs.pop(row)
        del self._by_id[doc.id]
        self._faiss[doc.lang].remove_ids(np.array([row], dtype=np.int64))

    # -- querying ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._by_id

    def languages(self) -> dict[str, int]:
        return {lang: int(index.ntotal) for lang, index in sorted(self._faiss.items())}

    def documents(self) -> list[IndexedDocument]:
        return [self._docs[row] for row in sorted(self._docs)]

    def search(self, vectors: np.ndarray, lang: str, k: int) -> list[list[SearchHit]]:
        index = self._faiss.get(lang)
        if index is None or index.ntotal == 0:
            return [[] for _ in range(len(vectors))]
        k = min(k, int(index.ntotal))
        scores, rows = index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return [
            [
                SearchHit(self._docs[int(r)].id, lang, float(s))
                for s, r in zip(score_row, row_ids)
                if r >= 0
            ]
            for score_row, row_ids in zip(scores, rows)
        ]

    def check_encoder(self, identity: dict[str, Any], where: str = "index") -> None:
        if identity != self.encoder_identity:
            raise IndexError_(
                f"{where} was made with encoder {_describe(self.encoder_identity)}, "
                f"not {_describe(identity)}; use the same --model or build a new index"
            )

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write the index atomically: a complete new folder replaces the old one, so an
        interrupted save leaves the previous index intact."""
        folder = Path(folder)
        if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
            # Saving replaces the whole folder: never do that to a folder that holds
            # something else (a mistyped --index pointing at a home or data folder).
            raise IndexError_(
                f"{folder}: not an aligner index and not empty; refusing to replace it"
            )
        for lang in self._faiss:
            if not _LANG_NAME.fullmatch(lang):
                raise IndexError_(f"language code {lang!r} cannot name an index file")
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            for lang, index in self._faiss.items():
                faiss.write_index(index, str(staging / f"vectors.{lang}.faiss"))
            _write_database(staging / DATABASE, self.documents())
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "encoder": self.encoder_identity,
                "dim": self.dim,
                "documents": len(self),
                "languages": self.languages(),
                "next_row": self._next_row,
                "files": file_checksums(staging, sorted(p.name for p in staging.iterdir())),
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            _replace_folder(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: str | Path) -> DocumentIndex:
        folder = Path(folder)
        manifest_path = folder / MANIFEST
        if not folder.is_dir():
            raise IndexError_(f"{folder}: no index here (not a folder)")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexError_(f"{folder}: not an aligner index (no {MANIFEST})") from exc
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad UTF-8 or JSON
            raise IndexError_(f"{folder}: damaged index ({MANIFEST} unreadable: {exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexError_(f"{folder}: not an aligner index ({MANIFEST} has another format)")
        if manifest.get("version") != FORMAT_VERSION:
            raise IndexError_(
                f"{folder}: index format version {manifest.get('version')!r}, this aligner "
                f"reads version {FORMAT_VERSION}; rebuild the index"
            )
        try:
            if not isinstance(manifest["encoder"], dict):
                raise TypeError(f"encoder is {manifest['encoder']!r:.40}")
            languages = dict(manifest["languages"])
            expected_docs = int(manifest["documents"])
            index = cls(manifest["encoder"], int(manifest["dim"]))
            index._next_row = int(manifest["next_row"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexError_(
                f"{folder}: damaged index ({MANIFEST} is incomplete: {exc!r})"
            ) from exc
        bad = [lang for lang in languages if not _LANG_NAME.fullmatch(str(lang))]
        if bad:
            raise IndexError_(f"{folder}: damaged index ({MANIFEST} names languages {bad})")
        required = {DATABASE, *(f"vectors.{lang}.faiss" for lang in languages)}
        verify_checksums(folder, manifest.get("files"), required)
        try:
            docs = _read_database(folder / DATABASE)
            for lang in languages:
                path = folder / f"vectors.{lang}.faiss"
                index._faiss[lang] = faiss.read_index(str(path))
        except IndexError_:
            raise
        except Exception as exc:
            raise IndexError_(f"{folder}: damaged index ({type(exc).__name__}: {exc})") from exc
        for doc in docs:
            index._docs[doc.row] = doc
            index._by_id[doc.id] = doc.row
        _check_consistency(folder, index, docs, expected_docs)
        return index


def file_checksums(folder: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of each named file in `folder`, for the manifest."""
    return {
        name: {"bytes": (folder / name).stat().st_size, "sha256": _sha256(folder / name)}
        for name in names
    }


def verify_checksums(folder: Path, files: Any, required: set[str]) -> None:
    """Refuse an index whose files are missing, cut short or changed since it was saved."""
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise IndexError_(f"{folder}: damaged index ({MANIFEST} lists no file checksums)")
    unlisted = sorted(required - set(files))
    if unlisted:
        raise IndexError_(f"{folder}: damaged index ({MANIFEST} has no checksum for {unlisted})")
    for name, expected in sorted(files.items()):
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise IndexError_(f"{folder}: damaged index ({name} is missing)")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise IndexError_(
                f"{folder}: damaged index ({name} has {size} bytes, {expected.get('bytes')} "
                "were saved: truncated or overwritten)"
            )
        if _sha256(path) != expected.get("sha256"):
            raise IndexError_(f"{folder}: damaged index ({name} does not match its checksum)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_consistency(
    folder: Path, index: DocumentIndex, docs: list[IndexedDocument], expected_docs: int
) -> None:
    """The vectors and the document table must describe the same documents."""
    for lang, vectors in index._faiss.items():
        if vectors.d != index.dim:
            raise IndexError_(
                f"{folder}: damaged index (vectors.{lang}.faiss has dimension {vectors.d}, "
                f"the manifest says {index.dim})"
            )
        id_map = getattr(vectors, "id_map", None)
        rows = set(faiss.vector_to_array(id_map).tolist()) if id_map is not None else None
        if rows != {d.row for d in docs if d.lang == lang}:
            raise IndexError_(
                f"{folder}: damaged index (vectors.{lang}.faiss and {DATABASE} list "
                "different documents)"
            )
    counts: dict[str, int] = {lang: 0 for lang in index._faiss}
    for doc in docs:
        counts[doc.lang] = counts.get(doc.lang, 0) + 1
    if counts != index.languages() or len(docs) != expected_docs:
        raise IndexError_(
            f"{folder}: damaged index (vector and document counts disagree: "
            f"{index.languages()} vs {counts})"
        )


def _describe(identity: dict[str, Any]) -> str:
    return describe_identity(identity)


def _write_database(path: Path, docs: Sequence[IndexedDocument]) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "CREATE TABLE documents (row INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, "
            "lang TEXT NOT NULL, content_hash TEXT NOT NULL, title TEXT, sentences INTEGER)"
        )
        connection.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
            [(d.row, d.id, d.lang, d.content_hash, d.title, d.sentences) for d in docs],
        )
        connection.commit()
    finally:
        connection.close()


def _read_database(path: Path) -> list[IndexedDocument]:
    if not path.is_file():
        raise IndexError_(f"{path.parent}: damaged index (no {path.name})")
    # as_uri() escapes "?" and "#" in the path, which a plain "file:" string would not
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT row, id, lang, content_hash, title, sentences FROM documents ORDER BY row"
        ).fetchall()
    finally:
        connection.close()
    return [IndexedDocument(*row) for row in rows]


def _replace_folder(staging: Path, folder: Path) -> None:
    """Put `staging` where `folder` is, never leaving a moment with a half-written index."""
    if folder.exists():
        backup = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, backup)
        os.replace(staging, folder)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, folder)
