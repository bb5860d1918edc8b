"""A damaged, foreign or mismatched index folder is refused with a clear message (exit 3),
never read into a traceback or a wrong answer, and never written over."""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.errors import EXIT_INDEX, IndexError_

ENCODER = "builtin:256"
MANIFEST, DATABASE = "manifest.json", "store.sqlite"
QUERY = "روحانی در تماس تلفنی با پوتین درباره مبارزه با تروریسم گفتگو کرد"


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


def search(folder: Path) -> list[tuple[str, float]]:
    hits = api.search_index(folder, api.Document("q", QUERY, "fa"), k=5, encoder=ENCODER)
    return [(hit.doc_id, round(hit.score, 6)) for hit in hits]


def refused(folder: Path) -> str:
    with pytest.raises(IndexError_) as info:
        search(folder)
    return str(info.value)


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(folder: Path, manifest: object) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def cache_file(folder: Path, lang: str) -> Path:
    return folder / manifest_of(folder)["caches"][lang]["file"]


def test_match_writes_the_index_that_the_index_commands_read(index_dir):
    info = api.index_info(index_dir)
    assert info.documents == 5 and sorted(info.faiss) == ["ar", "fa"]
    hits = search(index_dir)
    assert len(hits) == 5 and hits[0][0][:3] in ("000", "001")  # a Persian report of a call
    caches = manifest_of(index_dir)["caches"]
    assert all(len(entry["sha256"]) == 64 and entry["bytes"] > 0 for entry in caches.values())


def test_a_missing_manifest_is_refused(index_dir):
    (index_dir / MANIFEST).unlink()
    assert "not an aligner index" in refused(index_dir)


def test_a_database_cut_short_is_refused(index_dir):
    path = index_dir / DATABASE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "damaged index" in refused(index_dir)


def test_changed_bytes_inside_a_stored_vector_are_refused(index_dir):
    with sqlite3.connect(index_dir / DATABASE) as db:
        blob = db.execute("SELECT vector FROM vectors ORDER BY row LIMIT 1").fetchone()[0]
    data = bytearray((index_dir / DATABASE).read_bytes())
    at = data.find(blob)
    assert at > 0
    data[at + 8 : at + 12] = b"\xde\xad\xbe\xef"  # still a valid page, another vector
    (index_dir / DATABASE).write_bytes(bytes(data))
    search(index_dir)  # answered from the search caches, which are intact
    for lang in ("fa", "ar"):
        cache_file(index_dir, lang).unlink()  # rebuilt from the vectors: one is damaged
    assert "does not match its checksum" in refused(index_dir)


@pytest.mark.parametrize("damage", ["garbage", "cut short", "missing", "swapped"])
def test_a_damaged_search_cache_is_rebuilt_from_the_database(index_dir, damage, tmp_path):
    before = search(index_dir)
    path = cache_file(index_dir, "ar")
    if damage == "garbage":
        data = bytearray(path.read_bytes())
        data[-64:] = b"\xde\xad\xbe\xef" * 16  # the vectors: FAISS itself reads them fine
        path.write_bytes(bytes(data))
    elif damage == "cut short":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "missing":
        path.unlink()
    else:  # the same file name in another index of other documents
        other = tmp_path / "other"
        api.match([api.Document("x", "روسيا وإيران تبحثان التعاون في مكافحة الإرهاب", "ar")],
                  ENCODER, index=other)  # fmt: skip
        shutil.copy(cache_file(other, "ar"), path)
    assert search(index_dir) == before


@pytest.mark.parametrize(
    "content",
    [b"\x00\xff garbage", b"[1, 2, 3]", b"{" * 100_000, '{"format": "é'.encode("latin-1")],
)
def test_a_garbage_manifest_is_refused(index_dir, content):
    (index_dir / MANIFEST).write_bytes(content)
    message = refused(index_dir)
    assert "not an aligner index" in message or "damaged" in message


@pytest.mark.parametrize("change", [{"doc_dim": "wide"}, {"encoder": "builtin"}, {"caches": None}])
def test_a_manifest_with_wrong_fields_is_refused(index_dir, change):
    manifest = manifest_of(index_dir)
    manifest.update(change)
    write_manifest(index_dir, manifest)
    assert "damaged index" in refused(index_dir)


def test_an_index_of_another_format_version_is_refused(index_dir):
    manifest = manifest_of(index_dir)
    manifest["version"] = 99
    write_manifest(index_dir, manifest)
    message = refused(index_dir)
    assert "version 99" in message and "rebuild" in message


def test_an_index_of_an_earlier_aligner_is_refused_with_the_command_that_rebuilds_it(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    write_manifest(old, {"format": "aligner-index", "version": 2, "files": {}})
    (old / "documents.sqlite").write_bytes(b"")
    message = refused(old)
    assert "earlier aligner" in message and "aligner index add DOCUMENTS --index" in message
    result = CliRunner().invoke(main, ["index", "info", "--index", str(old)])
    assert result.exit_code == EXIT_INDEX and len(result.output.strip().splitlines()) == 1


def test_nothing_in_the_package_loads_pickles():
    source = Path(__file__).resolve().parents[1] / "aligner"
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("import pickle", "allow_pickle=True", "torch.load", "joblib"):
            assert needle not in text, f"{path} uses {needle}"


def test_a_folder_that_is_not_an_index_is_never_written_to(tmp_path, seeds_dir, monkeypatch):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")

    def no_work(*args, **kwargs):
        raise AssertionError("refused only after the work")

    monkeypatch.setattr("aligner.api.match_documents", no_work)
    with pytest.raises(IndexError_, match="not an aligner index and not empty"):
        api.match(api.load_documents([seeds_dir]), ENCODER, index=precious)
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_a_failed_write_leaves_the_previous_index_whole(index_dir, monkeypatch):
    before = search(index_dir)
    generation = api.index_info(index_dir).generation

    def disk_full(data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aligner.store._crc", disk_full)  # inside the transaction
    with pytest.raises(OSError):
        api.match([api.Document("new", QUERY, "fa")], ENCODER, index=index_dir)
    monkeypatch.undo()
    assert api.index_info(index_dir).generation == generation
    assert api.index_info(index_dir).documents == 5
    assert search(index_dir) == before


def test_matching_the_same_documents_again_changes_nothing(index_dir, seeds_dir):
    files = {p.name: p.read_bytes() for p in index_dir.iterdir() if p.name != "lock"}
    api.match(api.load_documents([seeds_dir]), ENCODER, index=index_dir)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.name != "lock"} == files


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


def test_cli_match_adds_to_an_index_that_index_add_made(tmp_path, seeds_dir):
    folder = tmp_path / "news"
    files = sorted(seeds_dir.glob("*.txt"))
    added = CliRunner().invoke(
        main, ["index", "add", *map(str, files[:3]), "--index", str(folder), "-m", ENCODER, "-q"]
    )
    assert added.exit_code == 0, added.output
    result = run_match(folder, seeds_dir, "-o", str(tmp_path / "out.tsv"))
    assert result.exit_code == 0, result.output
    info = CliRunner().invoke(main, ["index", "info", "--index", str(folder)])
    assert info.exit_code == 0 and "documents:  5" in info.output
