"""The distributed record of an archive index: IVF shards that merge exactly, atomic
writes, and the Parquet rows partitioned by language."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import faiss
import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")  # the record's Parquet (aligner[ray])

from aligner.cluster import shards  # noqa: E402
from aligner.cluster.shards import (  # noqa: E402
    IVF_NPROBE,
    fill_shard,
    merge_shards,
    nlist_for,
    read_language,
    search,
    train_ivf,
    write_atomic,
    write_partition,
    written_parts,
)
from aligner.errors import AlignerError  # noqa: E402

DIM = 64


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(
    rng: np.random.Generator, count: int, centres: np.ndarray, noise: float = 0.2
) -> np.ndarray:
    """Noisy copies of the centres: data on which an IVF index has lists worth probing."""
    labels = rng.integers(0, len(centres), count)
    return unit(centres[labels] + noise * rng.standard_normal((count, centres.shape[1])))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240611)
    centres = unit(rng.standard_normal((50, DIM)))
    return clustered(rng, 4000, centres), clustered(rng, 200, centres)


@pytest.fixture(scope="module")
def trained(data: tuple[np.ndarray, np.ndarray]) -> bytes:
    vectors, _ = data
    return train_ivf(vectors[:3000], nlist_for(len(vectors)))


def test_nlist_for_bounds() -> None:
    assert nlist_for(0) == 1
    assert nlist_for(1) == 1
    assert nlist_for(77) == 1  # 77 // 39 = 1
    assert nlist_for(390) == 10  # 39 points per centroid bounds 4*sqrt(390) = 79
    assert nlist_for(1_000_000) == 4000
    assert nlist_for(10**12) == 65536
    for count in (2, 39, 100, 5000, 123_456, 10**7):
        nlist = nlist_for(count)
        assert 1 <= nlist <= max(1, count // 39)
        assert nlist <= round(4 * count**0.5)


def test_training_is_deterministic(data: tuple[np.ndarray, np.ndarray], trained: bytes) -> None:
    vectors, _ = data
    again = train_ivf(vectors[:3000], nlist_for(len(vectors)))
    assert again == trained
    index = faiss.deserialize_index(np.frombuffer(trained, dtype=np.uint8))
    assert index.is_trained and index.ntotal == 0
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT


def test_train_refuses_bad_samples() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(AlignerError, match="empty"):
        train_ivf(np.zeros((0, DIM), dtype=np.float32), 1)
    with pytest.raises(AlignerError, match="float32"):
        train_ivf(rng.standard_normal((100, DIM)), 2)
    with pytest.raises(AlignerError, match="shape"):
        train_ivf(rng.standard_normal(DIM).astype(np.float32), 1)
    with pytest.raises(AlignerError, match="IVF lists"):
        train_ivf(unit(rng.standard_normal((10, DIM))), 20)


def test_merged_shards_search_like_one_index(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], trained: bytes
) -> None:
    vectors, queries = data
    ids = np.arange(len(vectors), dtype=np.int64) * 3 + 7  # not positions: ids must be kept
    bounds = [0, 1000, 2500, len(vectors)]
    filled = [fill_shard(trained, vectors[a:b], ids[a:b]) for a, b in pairwise(bounds)]
    on_disk = tmp_path / "shard-1.faiss"
    write_atomic(on_disk, filled[1])
    merged = merge_shards(trained, [filled[0], on_disk, filled[2]])

    whole = faiss.deserialize_index(np.frombuffer(fill_shard(trained, vectors, ids), np.uint8))
    faiss.extract_index_ivf(whole).nprobe = IVF_NPROBE
    assert merged.ntotal == len(vectors)
    assert faiss.extract_index_ivf(merged).nprobe == IVF_NPROBE
    merged_scores, merged_ids = search(merged, queries, 10)
    whole_scores, whole_ids = search(whole, queries, 10)
    np.testing.assert_array_equal(merged_ids, whole_ids)
    np.testing.assert_array_equal(merged_scores, whole_scores)
    assert set(merged_ids.ravel()) <= set(ids)


def test_merge_refuses_a_shard_of_another_dimension(trained: bytes) -> None:
    rng = np.random.default_rng(2)
    other = train_ivf(unit(rng.standard_normal((100, 32))), 2)
    with pytest.raises(AlignerError, match="dimension"):
        merge_shards(trained, [other])


def test_ivf_recall_against_exact_search(
    data: tuple[np.ndarray, np.ndarray], trained: bytes
) -> None:
    vectors, queries = data
    ids = np.arange(len(vectors))
    index = merge_shards(trained, [fill_shard(trained, vectors, ids)])
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)

    def recall() -> float:
        _, found = search(index, queries, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))

    assert recall() >= 0.9
    faiss.extract_index_ivf(index).nprobe = 1
    assert recall() < 0.9  # the data is clustered enough that probing matters


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "folder" / "file.bin"
    write_atomic(target, b"old content")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert [path.name for path in target.parent.iterdir()] == ["file.bin"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.bin"
    write_atomic(target, b"old content")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_atomic(target, b"new content")
    assert target.read_bytes() == b"old content"
    assert [path.name for path in tmp_path.iterdir()] == ["file.bin"]


def rows(start: int, count: int) -> dict[str, list | np.ndarray]:
    rng = np.random.default_rng(start)
    return {
        "id": [f"doc-{n}" for n in range(start, start + count)],
        "row": np.arange(start, start + count, dtype=np.int64),
        "content_hash": [f"{n:016x}" for n in range(start, start + count)],
        "title": [f"عنوان {n}" for n in range(start, start + count)],
        "sentences": [[f"جمله {n}.", "دوم"] if n % 3 else [] for n in range(start, start + count)],
        "vector": unit(rng.standard_normal((count, 8))),
    }


def test_parquet_round_trip(tmp_path: Path) -> None:
    written = rows(0, 5)
    path = write_partition(tmp_path, "fa", "00001", written)
    assert path == tmp_path / "lang=fa" / "part-00001.parquet"

    table = read_language(tmp_path, "fa")
    assert table.column_names == list(written)
    assert table["row"].type == pa.int64()
    assert table["sentences"].type == pa.list_(pa.string())
    assert table["vector"].type == pa.list_(pa.float32(), 8)
    assert table["id"].to_pylist() == written["id"]
    assert table["title"].to_pylist() == written["title"]
    assert table["sentences"].to_pylist() == written["sentences"]
    vectors = np.asarray(table["vector"].combine_chunks().flatten()).reshape(-1, 8)
    np.testing.assert_array_equal(vectors, written["vector"])

    only = read_language(tmp_path, "fa", columns=["id", "row"])
    assert only.column_names == ["id", "row"]


def test_parts_are_read_in_name_order(tmp_path: Path) -> None:
    write_partition(tmp_path, "ar", "00002", rows(10, 3))
    write_partition(tmp_path, "ar", "00001", rows(0, 4))
    write_partition(tmp_path, "en", "00001", rows(100, 2))
    table = read_language(tmp_path, "ar", columns=["row"])
    assert table["row"].to_pylist() == [0, 1, 2, 3, 10, 11, 12]
    with pytest.raises(AlignerError, match="no parts"):
        read_language(tmp_path, "de")


def test_written_parts_ignores_temp_files(tmp_path: Path) -> None:
    assert written_parts(tmp_path / "missing") == {}
    write_partition(tmp_path, "fa", "00001", rows(0, 2))
    write_partition(tmp_path, "fa", "00002", rows(2, 2))
    write_partition(tmp_path, "en-GB", "a_1", rows(4, 2))
    (tmp_path / "lang=fa" / ".part-00003.parquet.x1y2.tmp").write_bytes(b"half a file")
    (tmp_path / "lang=fa" / "notes.txt").write_text("not a part")
    (tmp_path / "stray.parquet").write_bytes(b"")
    assert written_parts(tmp_path) == {"fa": {"00001", "00002"}, "en-GB": {"a_1"}}


@pytest.mark.parametrize(("lang", "part"), [("../x", "1"), ("fa", "../1"), ("", "1"), ("f a", "1")])
def test_unsafe_names_are_refused(tmp_path: Path, lang: str, part: str) -> None:
    folder = tmp_path / "record"
    with pytest.raises(AlignerError, match="unsafe"):
        write_partition(folder, lang, part, rows(0, 1))
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written beside the record either


def test_columns_of_different_lengths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AlignerError, match="different lengths"):
        write_partition(tmp_path, "fa", "1", {"id": ["a", "b"], "row": np.arange(3)})
    assert written_parts(tmp_path) == {}


def test_fill_refuses_mismatched_ids(trained: bytes) -> None:
    vectors = unit(np.random.default_rng(3).standard_normal((5, DIM)))
    with pytest.raises(AlignerError, match="ids"):
        fill_shard(trained, vectors, np.arange(4))
    with pytest.raises(AlignerError, match="dimension"):
        fill_shard(trained, vectors[:, :32].copy(), np.arange(5))


def test_module_imports_no_ray() -> None:
    source = Path(shards.__file__).read_text(encoding="utf-8")
    assert "import ray" not in source and "from ray" not in source


def test_date_partitions_are_months_and_read_in_part_then_date_order(tmp_path: Path) -> None:
    assert shards.date_partition("2020-05-01") == "2020-05"
    assert shards.date_partition("2020/5/1") == "2020-05"
    assert shards.date_partition("1404/05/12") == "1404-05"
    assert shards.date_partition(None) == shards.date_partition("") == "none"
    assert shards.date_partition("May 2020") == "other"
    for part, date, ids in (("2", "2020-06", ["c"]), ("1", "2020-06", ["b"]),
                            ("1", "2020-05", ["a"]), ("1", None, ["u"])):  # fmt: skip
        write_partition(tmp_path, "fa", part, {"id": ids}, date=date)
    assert written_parts(tmp_path) == {"fa": {"1", "2"}}
    assert read_language(tmp_path, "fa").column("id").to_pylist() == ["u", "a", "b", "c"]
    assert read_language(tmp_path, "fa", parts=["2"]).column("id").to_pylist() == ["c"]
    with pytest.raises(AlignerError):
        write_partition(tmp_path, "fa", "3", {"id": ["x"]}, date="../up")
