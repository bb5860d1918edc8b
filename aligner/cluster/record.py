"""`index add --engine ray`: the distributed record of an archive, and its import.

The record sits in the index folder, under `record/`:

    record.json                       what it holds: encoder, chunk size, the chunks written
    space.npz                         the document space (projection, language centres)
    documents/lang=fa/date=2020-05/part-000001.parquet
                                      one chunk's documents of one language and month
                                      (date=none: undated): position in the chunk, id,
                                      hashes, title, date, sentences, vector, sketch
    ivf/fa.trained, ivf/fa.faiss      the IVF,SQfp16 index trained once, and the merged one
    shards/fa/part-000001.faiss       that index filled with one part's vectors

Chunks are prepared and written by actors, so documents never pass through the driver,
which only reads the input, keeps `record.json` and trains the IVF indexes on a sample.
Every file is written under a temporary name and renamed; a chunk counts once the driver
has recorded it in `record.json`, so a rerun (after a crash, or with more input appended)
skips the chunks and shards already written and redoes the rest. The first chunk is
prepared on the driver, as on the local engine: it decides the document space.

`import_record` fills the SQLite store of the same folder from the record, chunk by chunk
in input order, so that `index info`, `index search` and `dedup --index` work on it as on
one machine: the same rows as the local engine's `index add` (tested).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa

from aligner.cluster import shards
from aligner.cluster.engine import RayEngine, kill_actors, require_ray
from aligner.docvec import DocSpace
from aligner.encoders.base import Encoder
from aligner.errors import AlignerError, IndexError_, InputError
from aligner.ingest import (
    PreparedBatch,
    check_unique_ids,
    content_hash,
    first_chunk,
    merge_space,
    new_run_id,
    prepare_batch,
    read_chunks,
)
from aligner.progress import Progress
from aligner.readers import input_size
from aligner.store import MANIFEST as STORE_MANIFEST
from aligner.store import RECORD_FOLDER, ArchiveStore, StoredDocument
from aligner.types import Document

FORMAT = "aligner-record"
VERSION = 1
MANIFEST = "record.json"
SPACE = "space.npz"
SAMPLE_PER_LIST = 64  # IVF training vectors per list (faiss wants at least 39)
MAX_SAMPLE = 200_000


@dataclass
class RecordStats:
    documents: int = 0
    written: int = 0  # documents in the chunks written by this run
    skipped_chunks: int = 0  # chunks a previous run wrote
    shards: int = 0  # shards filled by this run
    languages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    imported: dict[str, int] | None = None  # the import's added/updated/unchanged


def record_folder(index_folder: str | Path) -> Path:
    return Path(index_folder) / RECORD_FOLDER


# ---------------------------------------------------------------- the space and manifest


def save_space(path: Path, space: DocSpace) -> None:
    arrays: dict[str, np.ndarray] = {"dim": np.array(space.dim), "kind": np.array(space.kind)}
    if space.projection is not None:
        arrays["projection"] = space.projection
    if space.sketch is not None:
        arrays["sketch"] = space.sketch
    arrays.update({f"center:{k}": v for k, v in space.centers.items()})
    arrays.update({f"sentence:{k}": v for k, v in space.sentence_centers.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as handle:
        np.savez(handle, **arrays)
    shards.write_atomic(path, temp.read_bytes())
    temp.unlink()


def load_space(path: Path) -> DocSpace:
    with np.load(path, allow_pickle=False) as data:
        space = DocSpace(int(data["dim"]), kind=str(data["kind"]))
        space.projection = data.get("projection")
        space.sketch = data.get("sketch")
        for key in data.files:
            kind, _, lang = key.partition(":")
            if kind == "center":
                space.centers[lang] = data[key]
            elif kind == "sentence":
                space.sentence_centers[lang] = data[key]
    return space


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AlignerError(f"{folder / MANIFEST}: unreadable ({exc})") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise IndexError_(f"{folder}: not an aligner record of version {VERSION}")
    return manifest


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True)
    shards.write_atomic(folder / MANIFEST, text.encode("utf-8"))


def _chunk_entry(chunk: Sequence[tuple[Document, str | None]]) -> dict[str, Any]:
    """What identifies a chunk of the input on a rerun."""
    return {"count": len(chunk), "first": chunk[0][0].id, "last": chunk[-1][0].id}


# ---------------------------------------------------------------- writing chunks


def part_name(chunk_number: int) -> str:
    return f"{chunk_number:06d}"


def write_chunk(folder: Path, part: str, batch: PreparedBatch) -> dict[str, int]:
    """The prepared chunk's documents as Parquet parts, one per language and month of
    their dates (`shards.date_partition`: "none" for undated ones); their counts by
    language."""
    groups: dict[tuple[str, str], list[int]] = {}
    for k, doc in enumerate(batch.docs):
        groups.setdefault((doc.lang, shards.date_partition(doc.doc.date)), []).append(k)
    assert batch.vectors is not None or not batch.docs
    counts: dict[str, int] = {}
    for (lang, month), ks in sorted(groups.items()):
        sketches = [batch.sketches[k] if batch.sketches else None for k in ks]
        rows = {
            "position": np.array(ks, dtype=np.int64),
            "id": [batch.docs[k].id for k in ks],
            "content_hash": [content_hash(batch.docs[k].doc.text) for k in ks],
            "body_hash": [batch.body_hashes[k] for k in ks],
            # typed: a part may hold only nulls of a column, and every part has one schema
            "title": pa.array([batch.docs[k].doc.display_title for k in ks], pa.string()),
            "date": pa.array([batch.docs[k].doc.date for k in ks], pa.string()),  # as given
            "sentences": pa.array([list(batch.docs[k].texts()) for k in ks], pa.list_(pa.string())),
            "vector": np.ascontiguousarray(batch.vectors[ks], dtype=np.float32),  # type: ignore[index]
            "sketch": pa.array(
                [None if s is None else s.astype(np.float16).tobytes() for s in sketches],
                pa.binary(),
            ),
            "sketch_rows": [0 if s is None else len(s) for s in sketches],
        }
        shards.write_partition(folder / "documents", lang, part, rows, date=month)
        counts[lang] = counts.get(lang, 0) + len(ks)
    return counts


def _centres_only(space: DocSpace) -> DocSpace:
    """What the driver needs back from an actor's copy of the space (not the projection,
    which the first chunk fixed)."""
    return replace(space, projection=None, sketch=None)


class _Recorder:
    """An actor that prepares chunks with its own copy of the encoder and writes them."""

    def __init__(self, encoder: Encoder) -> None:
        from aligner.runtime import init_worker

        init_worker()
        self.encoder = encoder

    def record(
        self, folder: str, part: str, docs: list[Document], space: DocSpace
    ) -> tuple[dict[str, int], DocSpace]:
        batch = prepare_batch(docs, space, self.encoder, False)
        counts = write_chunk(Path(folder), part, batch)
        return counts, _centres_only(batch.space)


def _fill_shard(folder: str, lang: str, part: str, trained: bytes, start: int) -> int:
    """A task: the part's vectors of `lang` into a copy of the trained index, as ids from
    `start` (the row of the language's first document of the part)."""
    vectors = part_vectors(Path(folder), lang, part)
    ids = np.arange(start, start + len(vectors), dtype=np.int64)
    data = shards.fill_shard(trained, vectors, ids)
    shards.write_atomic(_shard_path(Path(folder), lang, part), data)
    return len(vectors)


def part_vectors(folder: Path, lang: str, part: str) -> np.ndarray:
    """The document vectors of one part of a language, [rows, dim] float32, in the order
    the shard of that part gives them ids."""
    table = shards.read_language(folder / "documents", lang, ["vector"], parts=[part])
    vectors = np.asarray(table.column("vector").combine_chunks().flatten(), np.float32)
    return vectors.reshape(table.num_rows, -1)


def _shard_path(folder: Path, lang: str, part: str) -> Path:
    return folder / "shards" / lang / f"part-{part}.faiss"


# ---------------------------------------------------------------- the run


def add_to_record(
    inputs: Sequence[str | Path],
    index_folder: str | Path,
    encoder: Encoder,
    engine: RayEngine,
    doc_dim: int,
    chunk_size: int = 1000,
    show_progress: bool = True,
) -> RecordStats:
    """Write the inputs' documents into the record of `index_folder` on `engine`'s actors,
    then train, fill and merge its IVF indexes (see the module docstring)."""
    ray = require_ray()
    folder = record_folder(index_folder)
    stats = RecordStats()
    manifest = read_manifest(folder)
    if manifest is None:
        manifest = {
            "format": FORMAT, "version": VERSION, "encoder": encoder.identity,
            "doc_dim": doc_dim, "chunk_size": chunk_size, "chunks": [], "ivf": {},
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }  # fmt: skip
        space = DocSpace(doc_dim)
    else:
        if manifest["encoder"] != encoder.identity:
            raise IndexError_(
                f"{folder}: a record of encoder {manifest['encoder'].get('name')}, not "
                f"{encoder.identity.get('name')}; use another --index folder"
            )
        if manifest["chunk_size"] != chunk_size:
            raise IndexError_(
                f"{folder}: written in chunks of {manifest['chunk_size']}; run again with "
                f"--chunk-size {manifest['chunk_size']}"
            )
        space = load_space(folder / SPACE) if (folder / SPACE).is_file() else DocSpace(doc_dim)
    done: list[dict[str, Any]] = manifest["chunks"]
    started = time.monotonic()
    actor = ray.remote(num_cpus=engine.cpus_each, num_gpus=engine.gpus_each)(_Recorder)
    recorders = [actor.remote(encoder) for _ in range(engine.workers)]
    pending: list[tuple[int, list[tuple[Document, str | None]], Any]] = []

    saved: tuple[Any, ...] = _space_signature(space) if manifest["chunks"] else ()

    def prepare(chunk: list[tuple[Document, str | None]]) -> PreparedBatch:
        return prepare_batch([doc for doc, _ in chunk], space, encoder, False)

    def recorded(number: int, chunk: list[tuple[Document, str | None]], counts: dict) -> None:
        """A chunk whose parts are written: the space if it changed, then the manifest."""
        nonlocal saved
        if _space_signature(space) != saved:  # the first chunk, or a new language centre
            save_space(folder / SPACE, space)
            saved = _space_signature(space)
        done.append({**_chunk_entry(chunk), "part": part_name(number), "langs": counts})
        _write_manifest(folder, manifest)
        stats.written += len(chunk)

    def finish() -> None:
        number, chunk, ref = pending.pop(0)
        counts, returned = ray.get(ref)
        if not merge_space(space, returned):
            # a language new to the record met in two chunks at once: write this one again
            # with the centre the earlier one fixed
            counts = write_chunk(folder, part_name(number), prepare(chunk))
        recorded(number, chunk, counts)

    try:
        with Progress("recording", input_size(inputs), show_progress) as progress:
            # the chunks of a first run, whatever this one finds recorded
            chunks = read_chunks(inputs, first_chunk(DocSpace(doc_dim), chunk_size))
            for number, (chunk, nbytes) in enumerate(chunks):
                check_unique_ids(chunk)
                stats.documents += len(chunk)
                if number < len(done):
                    if {k: done[number][k] for k in ("count", "first", "last")} != _chunk_entry(
                        chunk
                    ):
                        raise InputError(
                            f"{folder}: chunk {number + 1} of the input differs from the one "
                            "recorded; a record only grows at the end (use another --index)"
                        )
                    stats.skipped_chunks += 1
                elif number == 0 or not space.kind:  # the first chunk decides the space
                    recorded(number, chunk, write_chunk(folder, part_name(number), prepare(chunk)))
                else:
                    docs = [doc for doc, _ in chunk]
                    ref = recorders[number % len(recorders)].record.remote(
                        str(folder), part_name(number), docs, space
                    )
                    pending.append((number, chunk, ref))
                    if len(pending) > len(recorders):
                        finish()
                progress.advance(nbytes, len(chunk))
            while pending:
                finish()
    finally:
        kill_actors(recorders)
    stats.shards = build_indexes(folder, manifest)
    _write_manifest(folder, manifest)
    stats.languages = _language_counts(manifest)
    stats.seconds = time.monotonic() - started
    return stats


def _space_signature(space: DocSpace) -> tuple[Any, ...]:
    """What changes when a space must be saved again: its kind (the first chunk fixes it
    with the projection) and the languages it has centres for (centres never change)."""
    return (space.kind, frozenset(space.centers), frozenset(space.sentence_centers))


def _language_counts(manifest: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for chunk in manifest["chunks"]:
        for lang, n in chunk["langs"].items():
            counts[lang] = counts.get(lang, 0) + n
    return dict(sorted(counts.items()))


def build_indexes(folder: Path, manifest: dict[str, Any]) -> int:
    """Per language: train the IVF index once (on a sample of the first parts), fill a
    shard per part not filled yet (Ray tasks), merge them all. Returns shards filled."""
    ray = require_ray()
    filled = 0
    fill = ray.remote(num_cpus=1)(_fill_shard)
    for lang, total in _language_counts(manifest).items():
        parts = [(c["part"], c["langs"][lang]) for c in manifest["chunks"] if c["langs"].get(lang)]
        trained_path = folder / "ivf" / f"{lang}.trained"
        if not trained_path.is_file():
            nlist = shards.nlist_for(total)
            sample = _sample(folder, lang, parts, min(MAX_SAMPLE, max(nlist * SAMPLE_PER_LIST, 1)))
            shards.write_atomic(trained_path, shards.train_ivf(sample, min(nlist, len(sample))))
            manifest["ivf"][lang] = {"nlist": nlist, "factory": f"IVF{nlist},SQfp16"}
        trained = trained_path.read_bytes()
        refs, start = [], 0
        for part, count in parts:
            if not _shard_path(folder, lang, part).is_file():
                refs.append(fill.remote(str(folder), lang, part, trained, start))
            start += count
        filled += len(ray.get(refs))
        merged = shards.merge_shards(trained, [_shard_path(folder, lang, p) for p, _ in parts])
        shards.write_atomic(
            folder / "ivf" / f"{lang}.faiss", faiss.serialize_index(merged).tobytes()
        )
        manifest["ivf"].setdefault(lang, {})["vectors"] = int(merged.ntotal)
    return filled


def _sample(folder: Path, lang: str, parts: list[tuple[str, int]], size: int) -> np.ndarray:
    """The first `size` vectors of the language, in part order."""
    out, have = [], 0
    for part, _ in parts:
        out.append(part_vectors(folder, lang, part))
        have += len(out[-1])
        if have >= size:
            break
    return np.ascontiguousarray(np.concatenate(out)[:size])


# ---------------------------------------------------------------- import


def refuse_local_index(index_folder: str | Path) -> None:
    """An index filled without a record cannot take one's import (its documents were
    embedded in a space of its own): refused before any work."""
    folder = Path(index_folder)
    if read_manifest(record_folder(folder)) is None and (folder / STORE_MANIFEST).exists():
        with ArchiveStore.open(folder) as store:
            if len(store):
                raise IndexError_(
                    f"{folder}: an index filled without --engine ray; add to it without "
                    "--engine ray, or give --engine ray a new --index folder"
                )


def import_record(
    index_folder: str | Path, store: ArchiveStore, show_progress: bool = True
) -> dict[str, int]:
    """Fill `store` from the record in its folder, chunk by chunk in input order (one
    transaction each). Returns the counts of `store.commit`, summed."""
    folder = record_folder(index_folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise AlignerError(f"{folder}: no record to import")
    if manifest["encoder"] != store.encoder_identity:
        raise AlignerError(f"{folder}: the record's encoder is not the index's")
    space = load_space(folder / SPACE)
    stored = store.doc_space()
    if stored.kind and (
        stored.kind != space.kind
        or (
            stored.projection is not None
            and not np.array_equal(stored.projection, space.projection)
        )
    ):
        raise AlignerError(
            f"{store.folder}: its documents were embedded in another space than the record's; "
            "import into a new --index folder"
        )
    run = new_run_id()
    totals = {"added": 0, "updated": 0, "unchanged": 0}
    with Progress("importing", len(manifest["chunks"]), show_progress) as progress:
        for chunk in manifest["chunks"]:
            docs: list[tuple[int, StoredDocument]] = []
            for lang in chunk["langs"]:
                table = shards.read_language(folder / "documents", lang, parts=[chunk["part"]])
                docs.extend(_stored_documents(lang, table.to_pylist(), run))
            docs.sort(key=lambda item: item[0])
            counts = store.commit([doc for _, doc in docs], space=space)
            for key in totals:
                totals[key] += counts[key]
            progress.advance(1, len(docs))
    store.save_caches()
    return totals


def _stored_documents(
    lang: str, rows: list[dict[str, Any]], run: str
) -> list[tuple[int, StoredDocument]]:
    out = []
    for row in rows:
        sketch = None
        if row["sketch"] is not None:
            sketch = np.frombuffer(row["sketch"], np.float16).reshape(row["sketch_rows"], -1)
        doc = StoredDocument(
            id=row["id"], lang=lang, content_hash=row["content_hash"],
            body_hash=row["body_hash"], title=row["title"], sentences=tuple(row["sentences"]),
            vector=np.asarray(row["vector"], np.float32), sketch=sketch, run=run,
        )  # fmt: skip
        out.append((row["position"], doc))
    return out
