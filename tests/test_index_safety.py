"""A damaged, foreign or mismatched index folder is refused with a clear message (exit 3),
never read into a traceback or a wrong answer."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.errors import EXIT_INDEX, IndexError_
from aligner.index import DATABASE, MANIFEST, DocumentIndex

ENCODER = "builtin:256"


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, seeds_dir) -> Path:
    folder = tmp_path_factory.mktemp("built") / "seeds"
    api.match(api.load_documents([seeds_dir]), ENCODER, index=folder)
    return folder


@pytest.fixture
def index_dir(built_index, tmp_path) -> Path:
    """A fresh copy of a good index, to damage."""
    copy = tmp_path / "index"
    shutil.copytree(built_index, copy)
    return copy


def refused(folder: Path) -> str:
    with pytest.raises(IndexError_) as info:
        DocumentIndex.load(folder)
    return str(info.value)


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(folder: Path, manifest: object) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_a_good_index_loads_and_lists_a_checksum_per_file(index_dir):
    index = DocumentIndex.load(index_dir)
    assert len(index) == 5
    files = manifest_of(index_dir)["files"]
    assert set(files) == {DATABASE, "vectors.fa.faiss", "vectors.ar.faiss"}
    assert all(len(entry["sha256"]) == 64 for entry in files.values())


@pytest.mark.parametrize("name", [DATABASE, "vectors.fa.faiss", "vectors.ar.faiss"])
def test_a_missing_file_is_refused(index_dir, name):
    (index_dir / name).unlink()
    assert f"{name} is missing" in refused(index_dir)


def test_a_missing_manifest_is_refused(index_dir):
    (index_dir / MANIFEST).unlink()
    assert "not an aligner index" in refused(index_dir)


@pytest.mark.parametrize("name", [DATABASE, "vectors.fa.faiss", MANIFEST])
def test_a_file_cut_short_is_refused(index_dir, name):
    path = index_dir / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = refused(index_dir)
    assert "damaged index" in message
    if name != MANIFEST:
        assert "truncated" in message


@pytest.mark.parametrize("name", [DATABASE, "vectors.fa.faiss", "vectors.ar.faiss"])
def test_garbage_bytes_of_the_same_length_are_refused(index_dir, name):
    path = index_dir / name
    data = bytearray(path.read_bytes())
    data[100:164] = b"\xde\xad\xbe\xef" * 16
    path.write_bytes(bytes(data))
    assert f"{name} does not match its checksum" in refused(index_dir)


@pytest.mark.parametrize(
    "content",
    [b"\x00\xff garbage", b"[1, 2, 3]", b"{" * 100_000, '{"format": "é'.encode("latin-1")],
)
def test_a_garbage_manifest_is_refused(index_dir, content):
    (index_dir / MANIFEST).write_bytes(content)
    assert "aligner index" in refused(index_dir) or "damaged" in refused(index_dir)


@pytest.mark.parametrize(
    "change",
    [
        {"languages": "fa"},
        {"languages": {"../../etc/passwd": 1}},
        {"dim": "wide"},
        {"encoder": "builtin"},
        {"documents": None},
        {"files": None},
        {"files": {DATABASE: {"bytes": 1, "sha256": "0"}}},
    ],
)
def test_a_manifest_with_wrong_fields_is_refused(index_dir, change):
    manifest = manifest_of(index_dir)
    manifest.update(change)
    write_manifest(index_dir, manifest)
    assert "damaged index" in refused(index_dir)


def test_an_index_of_another_format_version_is_refused(index_dir):
    manifest = manifest_of(index_dir)
    manifest["version"] = 1
    del manifest["files"]
    write_manifest(index_dir, manifest)
    message = refused(index_dir)
    assert "version 1" in message and "rebuild" in message


def test_a_file_swapped_in_from_another_index_is_refused(index_dir, tmp_path):
    other = tmp_path / "other"
    api.match(
        [api.Document("x", "وزیر امور خارجه ایران امروز با همتای روسی خود دیدار کرد.", "fa")],
        ENCODER,
        index=other,
    )
    shutil.copy(other / "vectors.fa.faiss", index_dir / "vectors.fa.faiss")
    assert "vectors.fa.faiss" in refused(index_dir)
    # Even with the checksum "fixed", vectors and documents must agree.
    manifest = manifest_of(index_dir)
    manifest["files"]["vectors.fa.faiss"] = manifest_of(other)["files"]["vectors.fa.faiss"]
    write_manifest(index_dir, manifest)
    assert "list different documents" in refused(index_dir) or "counts disagree" in refused(
        index_dir
    )


def test_nothing_in_the_package_loads_pickles():
    source = Path(__file__).resolve().parents[1] / "aligner"
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("import pickle", "allow_pickle=True", "torch.load", "joblib"):
            assert needle not in text, f"{path} uses {needle}"


def test_save_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    index = DocumentIndex({"kind": "test"}, 4)
    with pytest.raises(IndexError_, match="not an aligner index"):
        index.save(precious)
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_a_failed_save_leaves_the_previous_index_whole(index_dir, monkeypatch):
    before = {p.name: p.read_bytes() for p in index_dir.iterdir()}
    index = DocumentIndex.load(index_dir)

    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aligner.index._write_database", disk_full)
    with pytest.raises(OSError):
        index.save(index_dir)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir()} == before
    assert sorted(p.name for p in index_dir.parent.iterdir()) == ["index"]  # no staging left
    DocumentIndex.load(index_dir)


# -- through the command line: exit code 3 and one line ---------------------------------------


def run_match(index_dir: Path, seeds_dir: Path, *extra: str):
    return CliRunner().invoke(
        main, ["match", str(seeds_dir), "--index", str(index_dir), "-m", ENCODER, *extra]
    )


def test_cli_refuses_a_corrupted_index_with_exit_3(index_dir, seeds_dir):
    (index_dir / DATABASE).write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = run_match(index_dir, seeds_dir)
    assert result.exit_code == EXIT_INDEX
    assert result.output.startswith("aligner: error: ") and "damaged index" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_refuses_an_index_made_with_another_encoder(index_dir, seeds_dir):
    before = manifest_of(index_dir)
    result = CliRunner().invoke(
        main, ["match", str(seeds_dir), "--index", str(index_dir), "-m", "builtin:128"]
    )
    assert result.exit_code == EXIT_INDEX
    assert "was made with encoder builtin (dim 256)" in result.output
    assert manifest_of(index_dir) == before  # refused before anything was overwritten


def test_cli_reuses_a_good_index(index_dir, seeds_dir):
    result = run_match(index_dir, seeds_dir)
    assert result.exit_code == 0, result.output
    DocumentIndex.load(index_dir)
