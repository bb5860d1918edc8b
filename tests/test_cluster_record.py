"""`index add --engine ray`: the distributed record (Parquet parts, IVF shards merged) and
its import into the index, which then holds what the local engine's `index add` makes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pyarrow")  # the record's Parquet (aligner[ray])

from aligner.cli import main
from aligner.cluster import record, shards
from aligner.docvec import DocSpace
from aligner.encoders import load_encoder
from aligner.ingest import ChunkItem, content_hash, fill_items, prepare_batch, stored_document
from aligner.readers import read_documents
from tests.test_index_incremental import CHUNK, DIM, FIRST, make_archive, snapshot

ARGS = ["--chunk-size", str(CHUNK), "--doc-dim", str(DIM)]


@pytest.fixture(scope="module")
def archive(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("record") / "archive.jsonl"
    make_archive(seeds_dir, path, FIRST + 3 * CHUNK)
    return path


@pytest.fixture(scope="module")
def local_index(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("local") / "idx"
    add(str(archive), "--index", str(folder), *ARGS, "-q")
    return snapshot(folder)


def add(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["index", "add", *args])
    assert result.exit_code == expect, result.output
    return result.output


# ---------------------------------------------------------------- without Ray


def test_space_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    space = DocSpace(8, kind="pca", projection=rng.random((16, 8), np.float32))
    space.centers["fa"] = rng.random(8, np.float32)
    space.sentence_centers["ar"] = rng.random(16, np.float32)
    record.save_space(tmp_path / "space.npz", space)
    back = record.load_space(tmp_path / "space.npz")
    assert (back.dim, back.kind, back.sketch) == (8, "pca", None)
    assert np.array_equal(back.projection, space.projection)
    assert back.centers.keys() == {"fa"} and np.array_equal(back.centers["fa"], space.centers["fa"])
    assert np.array_equal(back.sentence_centers["ar"], space.sentence_centers["ar"])
    assert [p.name for p in tmp_path.iterdir()] == ["space.npz"]


def test_a_written_chunk_reads_back_as_the_documents_the_store_gets(
    seeds_dir: Path, tmp_path: Path
) -> None:
    encoder = load_encoder("builtin")
    docs = [replace(d, date="2020-05-0" + str(i)) if i % 2 else d
            for i, d in enumerate(read_documents([seeds_dir]))]  # fmt: skip
    batch = prepare_batch(docs, DocSpace(64), encoder, False)
    counts = record.write_chunk(tmp_path, "000000", batch)
    assert counts == {"fa": 3, "ar": 2} or sum(counts.values()) == len(docs)
    items = [ChunkItem(d, None, content_hash(d.text), None) for d in docs]
    expected = [stored_document(i, run="r") for i in fill_items(items, batch)]
    got = []
    for lang in counts:
        table = shards.read_language(tmp_path / "documents", lang, parts=["000000"])
        got.extend(record._stored_documents(lang, table.to_pylist(), "r"))
    got.sort(key=lambda item: item[0])
    assert [doc.id for _, doc in got] == [doc.id for doc in expected]
    dates = {}
    for lang in counts:
        table = shards.read_language(tmp_path / "documents", lang, ["id", "date"])
        dates.update((row["id"], row["date"]) for row in table.to_pylist())
    assert dates == {d.id: d.date for d in docs} and None in dates.values()
    # partitioned by language and month, the undated ones under date=none
    months = {path.parent.name for path in (tmp_path / "documents").rglob("part-000000.parquet")}
    assert months == {"date=2020-05", "date=none"}
    for (_, a), b in zip(got, expected):
        assert (a.lang, a.content_hash, a.body_hash, a.title, a.sentences) == (
            b.lang, b.content_hash, b.body_hash, b.title, b.sentences
        )  # fmt: skip
        assert np.array_equal(a.vector, b.vector)
        assert (a.sketch is None) == (b.sketch is None)
        if a.sketch is not None:
            assert a.sketch.dtype == b.sketch.dtype and np.array_equal(a.sketch, b.sketch)


def test_record_only_needs_engine_ray(archive: Path, tmp_path: Path) -> None:
    out = add(str(archive), "--index", str(tmp_path / "i"), "--record-only", expect=2)
    assert "--record-only needs --engine ray" in out
    assert not (tmp_path / "i").exists()


# ---------------------------------------------------------------- on a local Ray


@pytest.mark.ray
def test_record_then_import_gives_the_local_index(
    ray_cluster, archive: Path, local_index: dict, tmp_path: Path
) -> None:
    folder = tmp_path / "idx"
    out = add(str(archive), "--index", str(folder), *ARGS, "--engine", "ray", "--ray-workers", "1")
    assert "imported: " in out and f"{FIRST + 3 * CHUNK:,} added" in out
    on_ray = snapshot(folder)
    assert on_ray["docs"] == local_index["docs"] and on_ray["v"] == local_index["v"]
    # the record: one entry per chunk, a merged IVF index per language holding every vector
    rec = folder / "record"
    manifest = json.loads((rec / "record.json").read_text(encoding="utf-8"))
    assert len(manifest["chunks"]) == 4  # the first chunk (FIRST documents), then 3
    for lang, count in record._language_counts(manifest).items():
        index = faiss.read_index(str(rec / "ivf" / f"{lang}.faiss"))
        assert index.ntotal == count == manifest["ivf"][lang]["vectors"]
        vectors = np.asarray(
            shards.read_language(rec / "documents", lang, ["vector"]).column("vector")
            .combine_chunks().flatten(), np.float32,
        ).reshape(count, -1)  # fmt: skip
        index.nprobe = shards.IVF_NPROBE
        _, ids = index.search(vectors[:20], 1)
        assert ids[:, 0].tolist() == list(range(20))  # each finds itself, ids in part order
    # again: every chunk and shard is there already, the index does not change
    before = {p: p.stat().st_mtime_ns for p in rec.rglob("*.parquet")}
    out = add(str(archive), "--index", str(folder), *ARGS, "--engine", "ray")
    assert "0 recorded, 4 chunks already there, 0 shards filled" in out
    assert "0 added, 0 updated" in out
    assert {p: p.stat().st_mtime_ns for p in rec.rglob("*.parquet")} == before
    assert snapshot(folder)["docs"] == local_index["docs"]


@pytest.mark.ray
def test_record_only_then_import_and_a_changed_input_is_refused(
    ray_cluster, archive: Path, local_index: dict, tmp_path: Path
) -> None:
    folder = tmp_path / "idx"
    add(str(archive), "--index", str(folder), *ARGS, "--engine", "ray", "--record-only", "-q")
    assert (folder / "record" / "record.json").is_file()
    assert not (folder / "store.sqlite").exists()
    add(str(archive), "--index", str(folder), *ARGS, "--engine", "ray", "-q")
    assert snapshot(folder)["docs"] == local_index["docs"]
    # an input whose first chunk is not the recorded one: refused, nothing written
    lines = archive.read_text(encoding="utf-8").splitlines(True)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(lines[1:]), encoding="utf-8")
    manifest = (folder / "record" / "record.json").read_bytes()
    out = add(str(other), "--index", str(folder), *ARGS, "--engine", "ray", expect=4)
    assert "differs from the one recorded" in out
    assert (folder / "record" / "record.json").read_bytes() == manifest
    # another encoder: refused before any work
    out = add(str(archive), "--index", str(folder), "--engine", "ray", "--model", "builtin:1024",
              expect=3)  # fmt: skip
    assert "encoder" in out


@pytest.mark.ray
def test_a_foreign_folder_is_refused_before_any_work(ray_cluster, archive: Path, tmp_path: Path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    out = add(str(archive), "--index", str(folder), "--engine", "ray", expect=3)
    assert "not an aligner index" in out
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.ray
def test_an_index_filled_on_one_machine_is_not_given_a_record(
    ray_cluster, archive: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "idx"
    add(str(archive), "--index", str(folder), *ARGS, "-q")
    before = snapshot(folder)
    out = add(str(archive), "--index", str(folder), *ARGS, "--engine", "ray", expect=3)
    assert "filled without --engine ray" in out
    assert not (folder / "record").exists() and snapshot(folder) == before
