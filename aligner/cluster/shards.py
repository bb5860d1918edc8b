"""The distributed record of an archive index: vectors in FAISS shards, rows in Parquet.

Per language, document vectors go into `IVF{nlist},SQfp16` inner-product indexes. One empty
index is trained on a sample; workers each fill a copy of it with their share of the
vectors (`fill_shard`), and the shards are merged into one index (`merge_shards`). IVF is
used because its inverted lists can be merged (HNSW graphs cannot), and a merge gives
exactly the index that adding every vector in one go would, since every shard shares the
trained centroids and lists are appended in shard order.

The document rows are Parquet files partitioned by language, and by month where the
caller gives dates: `lang=<lang>[/date=<YYYY-MM>]/part-<part>.parquet`, each written to a
temporary name and renamed, so a rerun after a crash finds only whole parts
(`written_parts`) and redoes only the missing ones.

Pure functions on bytes, arrays and paths: Ray tasks call them, this module imports no Ray.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aligner.errors import AlignerError

IVF_NPROBE = 32
MAX_NLIST = 65536
MIN_POINTS_PER_CENTROID = 39  # below this faiss warns that k-means is poorly trained
CLUSTERING_SEED = 1234

# Language codes and part names become file names: letters, digits, - and _ only.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_PART_FILE = re.compile(r"part-([A-Za-z0-9_-]+)\.parquet")
_LANG_DIR = re.compile(r"lang=([A-Za-z0-9_-]+)")
_DATE_DIR = re.compile(r"date=([A-Za-z0-9_-]+)")
_YEAR_MONTH = re.compile(r"(\d{4})[-/.](\d{1,2})(?!\d)")


def nlist_for(count: int) -> int:
    """The number of IVF lists for `count` vectors: about 4*sqrt(count) (the usual balance
    of list scanning against centroid search), but few enough that each centroid gets at
    least 39 training points, at least 1 and at most 65536."""
    nlist = round(4 * math.sqrt(max(count, 0)))
    return max(1, min(nlist, count // MIN_POINTS_PER_CENTROID, MAX_NLIST))


def _check_vectors(vectors: np.ndarray, what: str, dim: int | None = None) -> np.ndarray:
    """`vectors` as a C-contiguous float32 [n, dim] array, else a one-line AlignerError
    (faiss would otherwise crash or silently reinterpret the memory)."""
    if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32:
        dtype = getattr(vectors, "dtype", type(vectors).__name__)
        raise AlignerError(f"{what} must be a float32 numpy array, not {dtype}")
    if vectors.ndim != 2 or vectors.shape[1] == 0:
        raise AlignerError(f"{what} must have shape [n, dim], not {list(vectors.shape)}")
    if dim is not None and vectors.shape[1] != dim:
        raise AlignerError(f"{what} have dimension {vectors.shape[1]}, the index has {dim}")
    return np.ascontiguousarray(vectors)


def _load(data: bytes | Path) -> faiss.Index:
    """An index from serialised bytes or a file."""
    try:
        if isinstance(data, Path):
            return faiss.read_index(str(data))
        return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as error:
        where = data if isinstance(data, Path) else f"{len(data)} bytes"
        raise AlignerError(f"cannot read a FAISS index from {where}") from error


def _dump(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def train_ivf(sample: np.ndarray, nlist: int) -> bytes:
    """The trained, empty `IVF{nlist},SQfp16` inner-product index for unit vectors like
    `sample`, serialised. Trained once and shipped to every worker so that all shards share
    the same centroids (a condition of merging); the k-means seed is fixed so that a rerun
    trains the same index."""
    sample = _check_vectors(sample, "the training sample")
    if sample.shape[0] == 0:
        raise AlignerError("the training sample is empty")
    if nlist < 1 or sample.shape[0] < nlist:
        raise AlignerError(
            f"cannot train {nlist} IVF lists on {sample.shape[0]} vectors (need 1 <= nlist <= n)"
        )
    index = faiss.index_factory(sample.shape[1], f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.seed = CLUSTERING_SEED
    # a small language gets few lists on few points: faiss would print a warning that
    # nlist_for has already taken into account
    ivf.cp.min_points_per_centroid = 1
    index.train(sample)
    return _dump(index)


def fill_shard(trained: bytes, vectors: np.ndarray, ids: np.ndarray) -> bytes:
    """A copy of the trained index holding `vectors` under `ids` (int64 row numbers that
    the caller assigns, unique across shards), serialised."""
    index = _load(trained)
    vectors = _check_vectors(vectors, "the vectors", index.d)
    ids = np.ascontiguousarray(np.asarray(ids).astype(np.int64))
    if ids.shape != (vectors.shape[0],):
        raise AlignerError(f"{vectors.shape[0]} vectors but ids of shape {list(ids.shape)}")
    index.add_with_ids(vectors, ids)
    return _dump(index)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so
    that a crash leaves the old file or the new one, never a partial file under `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it owner-only
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def merge_shards(trained: bytes, shards: Sequence[bytes | Path]) -> faiss.Index:
    """The trained index with every shard's vectors merged in, in the order given, ready
    to search (nprobe set). Gives the same results as filling one index with all vectors
    in that order."""
    index = _load(trained)
    ivf = faiss.extract_index_ivf(index)
    for shard in shards:
        other = _load(shard)
        if other.d != index.d:
            raise AlignerError(f"a shard has dimension {other.d}, the index has {index.d}")
        try:
            ivf.merge_from(faiss.extract_index_ivf(other), 0)
        except RuntimeError as error:
            raise AlignerError("a shard was not filled from the same trained index") from error
        index.ntotal = ivf.ntotal
    ivf.nprobe = IVF_NPROBE
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Inner-product scores [n, k] and ids [n, k] of the `k` nearest vectors of each query
    (id -1 where fewer than `k` were found)."""
    queries = _check_vectors(queries, "the queries", index.d)
    if k < 1:
        raise AlignerError(f"k must be at least 1, not {k}")
    scores, ids = index.search(queries, k)
    return scores, ids


def _safe(name: str, what: str) -> str:
    """`name` if it can be a piece of a file name (no path separators, dots or spaces)."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise AlignerError(f"unsafe {what} {name!r}: use letters, digits, - and _ only")
    return name


def _column(values: list | np.ndarray | pa.Array) -> pa.Array:
    """A Parquet column: a 2-D numpy array becomes a fixed-size list per row (a vector); an
    Arrow array (a typed column that may hold only nulls) is taken as it is."""
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.ndim == 2:
        flat = pa.array(np.ascontiguousarray(values).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    return pa.array(values)


def _partition(folder: Path, lang: str) -> Path:
    return folder / f"lang={_safe(lang, 'language')}"


def write_partition(
    folder: Path,
    lang: str,
    part: str,
    rows: dict[str, list | np.ndarray | pa.Array],
    date: str | None = None,
) -> Path:
    """Write `rows` (column name -> values, all the same length) to
    `folder/lang=<lang>/part-<part>.parquet`, or with `date` (a partition value such as
    "2020-05", see `date_partition`) `folder/lang=<lang>/date=<date>/part-<part>.parquet`,
    atomically, and return that path."""
    partition = _partition(folder, lang)
    if date is not None:
        partition = partition / f"date={_safe(date, 'date partition')}"
    path = partition / f"part-{_safe(part, 'part name')}.parquet"
    lengths = {name: len(values) for name, values in rows.items()}
    if not rows:
        raise AlignerError(f"no columns to write to {path}")
    if len(set(lengths.values())) > 1:
        raise AlignerError(f"columns of different lengths for {path}: {lengths}")
    try:
        table = pa.table({name: _column(values) for name, values in rows.items()})
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise AlignerError(f"cannot make a Parquet table for {path}: {error}") from error
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(path, sink.getvalue().to_pybytes())
    return path


def date_partition(date: str | None) -> str:
    """The month partition of a document's date as the input gives it: "2020-05" for
    "2020-05-01" or "2020/5/1" (any calendar: "1404-05" for "1404/05/12"), "none" where
    there is none, "other" where it does not start with a year and a month."""
    if not date:
        return "none"
    match = _YEAR_MONTH.match(date.strip())
    return f"{match.group(1)}-{int(match.group(2)):02d}" if match else "other"


def _part_files(folder: Path, lang: str) -> dict[str, list[Path]]:
    """Per part of `lang`, its files: the undated one first, then one per date partition
    in the partitions' order. Temporary files (a write that never finished) and other
    names are not parts."""
    root = _partition(folder, lang)
    found: dict[str, list[Path]] = {}
    if not root.is_dir():
        return found
    dated = sorted(d for d in root.iterdir() if _DATE_DIR.fullmatch(d.name) and d.is_dir())
    places = [root, *dated]
    for place in places:
        for path in sorted(place.iterdir()):
            match = _PART_FILE.fullmatch(path.name)
            if match and path.is_file():
                found.setdefault(match.group(1), []).append(path)
    return found


def written_parts(folder: Path) -> dict[str, set[str]]:
    """Per language, the parts already written under `folder`, so that a rerun skips them."""
    found: dict[str, set[str]] = {}
    if not folder.is_dir():
        return found
    for lang_dir in folder.iterdir():
        lang = _LANG_DIR.fullmatch(lang_dir.name)
        if lang is None or not lang_dir.is_dir():
            continue
        parts = set(_part_files(folder, lang.group(1)))
        if parts:
            found[lang.group(1)] = parts
    return found


def read_language(
    folder: Path, lang: str, columns: list[str] | None = None, parts: Sequence[str] | None = None
) -> pa.Table:
    """All parts of `lang` (or those named in `parts`) as one table, ordered by part name,
    then by date partition, then by row (name parts so that they sort: zero-padded
    numbers)."""
    files = _part_files(folder, _safe(lang, "language"))
    if parts is not None:
        missing = [part for part in parts if part not in files]
        if missing:
            raise AlignerError(f"part {missing[0]!r} of {lang!r} is missing in {folder}")
        files = {part: files[part] for part in parts}
    if not files:
        raise AlignerError(f"no parts written for language {lang!r} in {folder}")
    try:
        tables = [
            pq.read_table(path, columns=columns) for part in sorted(files) for path in files[part]
        ]
        return pa.concat_tables(tables)
    except (pa.ArrowException, OSError) as error:
        raise AlignerError(f"cannot read the parts of {lang!r} in {folder}: {error}") from error
