"""Output paths: what is replaced atomically, what is written through, what is refused.

A regular file (or a new path) is written to a temporary file and renamed into place; a
symbolic link keeps being a link and the file it names is replaced; a device, FIFO or one of
the process's descriptors is written through, never replaced by a regular file. Devices are
made with mknod under tmp_path (never the machine's /dev/null)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.errors import AlignerError
from aligner.files import check_output_path, output_target

FA_DOC, AR_DOC = "001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa"  # the one seed pair


def cli(*args: str | Path):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args: str | Path):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def char_device(path: Path) -> Path:
    """A character device with /dev/null's numbers (1, 3): writes to it are discarded."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as exc:  # not root, or no mknod in this container
        pytest.skip(f"cannot make a character device ({exc.strerror})")
    return path


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


class FifoReader:
    """A FIFO under `folder` with a thread reading everything written to it."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as handle:  # blocks until a writer opens it
            self.data = handle.read()

    def text(self) -> str:
        self.thread.join(timeout=30)
        if self.thread.is_alive():  # nobody opened it for writing: release the reader
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            self.thread.join(timeout=5)
        assert stat.S_ISFIFO(os.lstat(self.path).st_mode), "the FIFO was replaced"
        return self.data.decode("utf-8")


# -- devices, FIFOs, descriptors: written through --------------------------------------------


def test_match_writes_through_character_devices(seeds_dir, tmp_path):
    out, pairs, html = (char_device(tmp_path / name) for name in ("out", "pairs", "html"))
    ok("match", seeds_dir, "-o", out, "--pairs", pairs, "--html", html)
    assert all(is_char_device(p) for p in (out, pairs, html))
    assert leftovers(tmp_path) == [] and len(list(tmp_path.iterdir())) == 3


def test_report_dedup_and_moses_write_through_character_devices(seeds_dir, tmp_path):
    report = char_device(tmp_path / "report")
    ok("report", seeds_dir, "-o", report)
    clusters, keep = char_device(tmp_path / "clusters"), char_device(tmp_path / "keep")
    ok("dedup", seeds_dir, "-o", clusters, "--keep", keep, "--quiet")
    moses = [char_device(tmp_path / f"corpus.{suffix}") for suffix in ("fa", "ar", "ids")]
    ok("match", seeds_dir, "--format", "moses", "-o", tmp_path / "corpus")
    assert all(is_char_device(p) for p in (report, clusters, keep, *moses))
    assert leftovers(tmp_path) == [] and len(list(tmp_path.iterdir())) == 6


def test_match_writes_through_fifos(seeds_dir, tmp_path):
    out, pairs, html = (FifoReader(tmp_path / name) for name in ("out.tsv", "pairs", "html"))
    ok("match", seeds_dir, "-o", out.path, "--pairs", pairs.path, "--html", html.path)
    rows = out.text().splitlines()
    assert rows[0].startswith("src_doc\t") and len(rows) > 1
    assert all(row.startswith(f"{FA_DOC}\t{AR_DOC}\t") for row in rows[1:])
    assert pairs.text().splitlines()[1].startswith(f"{FA_DOC}\t{AR_DOC}\t")
    assert html.text().lstrip().lower().startswith("<!doctype html")
    assert leftovers(tmp_path) == []


def test_report_dedup_and_moses_write_through_fifos(seeds_dir, tmp_path):
    report = FifoReader(tmp_path / "report.html")
    ok("report", seeds_dir, "-o", report.path)
    assert "</html>" in report.text()
    clusters, keep = FifoReader(tmp_path / "clusters"), FifoReader(tmp_path / "keep")
    ok("dedup", seeds_dir, "-o", clusters.path, "--keep", keep.path, "--quiet")
    assert f"{AR_DOC}\t{FA_DOC}\tar\ttranslation" in clusters.text()
    assert len(keep.text().splitlines()) == 4  # the Arabic translation is not kept
    moses = [FifoReader(tmp_path / f"corpus.{suffix}") for suffix in ("fa", "ar", "ids")]
    ok("match", seeds_dir, "--format", "moses", "-o", tmp_path / "corpus")
    fa, ar, ids = (m.text().splitlines() for m in moses)
    assert len(fa) == len(ar) == len(ids) > 0 and ids[0].startswith(f"{FA_DOC}\t{AR_DOC}\t")
    assert leftovers(tmp_path) == []


def test_a_descriptor_of_the_process_is_written_through(seeds_dir, tmp_path):
    """/proc/self/fd/N (and /dev/stdout) writes to the descriptor itself, at its offset and in
    its append mode, as standard output would: the file behind it is not replaced."""
    log = tmp_path / "log"
    log.write_text("earlier line\n")
    inode = log.stat().st_ino
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        ok("match", seeds_dir, "-o", f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "earlier line" and lines[1].startswith("src_doc\t") and len(lines) > 2
    assert log.stat().st_ino == inode and leftovers(tmp_path) == []
    read_end, write_end = os.pipe()
    try:
        target = output_target(f"/proc/self/fd/{write_end}")
        assert not target.atomic and target.fd == write_end
        assert "not open for writing" in cli("match", seeds_dir, "-o", f"/dev/fd/{read_end}").output
    finally:
        os.close(read_end)
        os.close(write_end)


# -- symbolic links: followed, kept --------------------------------------------------------


def test_a_symlink_stays_a_link_and_its_target_is_replaced(seeds_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    target = data / "parallel.tsv"
    target.write_text("old content\n")
    link = tmp_path / "parallel.tsv"
    link.symlink_to(target)
    dangling = tmp_path / "pairs.tsv"
    dangling.symlink_to(data / "pairs.tsv")  # names a file that does not exist yet
    ok("match", seeds_dir, "-o", link, "--pairs", dangling)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8").startswith("src_doc\t")
    assert dangling.is_symlink() and (data / "pairs.tsv").is_file()
    assert (data / "pairs.tsv").read_text(encoding="utf-8").count("\n") == 2  # header + the pair
    assert leftovers(tmp_path) == leftovers(data) == []


def test_output_target_decides_rename_or_write_through(tmp_path):
    assert output_target(tmp_path / "new.tsv").atomic
    (tmp_path / "file.tsv").write_text("x")
    assert output_target(tmp_path / "file.tsv").atomic
    (tmp_path / "link").symlink_to("file.tsv")  # relative link
    assert output_target(tmp_path / "link").path == tmp_path / "file.tsv"
    os.mkfifo(tmp_path / "fifo")
    assert not output_target(tmp_path / "fifo").atomic
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(Exception, match="symbolic links"):
        output_target(tmp_path / "loop")


# -- outputs that would destroy an input, another output or an index: refused, exit 2 -----


@pytest.fixture
def archive(seeds_dir, tmp_path) -> Path:
    """The seed reports as one JSONL archive."""
    path = tmp_path / "archive.jsonl"
    lines = [
        json.dumps({"id": p.stem, "text": p.read_text(encoding="utf-8")}, ensure_ascii=False)
        for p in sorted(seeds_dir.glob("*.txt"))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if documents are read: a clash must be refused before any work."""

    def never(*args, **kwargs):
        raise AssertionError("the command started working before refusing its outputs")

    monkeypatch.setattr(api, "load_documents", never)
    monkeypatch.setattr("aligner.cli.load_encoder", never)


def refused(option: str, *args: str | Path) -> str:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}" in result.output and "Traceback" not in result.output
    return result.output


def test_an_output_that_is_the_input_is_refused(archive, tmp_path, no_work):
    before = archive.read_bytes()
    message = refused("'-o' / '--output'", "match", archive, "-o", archive)
    assert "would destroy the input" in message
    refused("'--html'", "match", archive, "--html", archive)
    refused("'-o' / '--output'", "report", archive, "-o", archive)
    refused("'--keep'", "dedup", archive, "--keep", archive)
    refused("'-o' / '--output'", "dedup", archive, "-o", archive)
    hard = tmp_path / "hard.tsv"  # another name for the same file
    os.link(archive, hard)
    assert str(archive) in refused("'--pairs'", "match", archive, "--pairs", hard)
    link = tmp_path / "link.tsv"
    link.symlink_to(archive)
    refused("'-o' / '--output'", "match", archive, "-o", link)
    assert archive.read_bytes() == before


def test_an_output_inside_an_input_folder_is_refused(seeds_dir, tmp_path, no_work):
    folder = tmp_path / "news"
    (folder / "fa").mkdir(parents=True)
    for path in seeds_dir.glob("*.txt"):
        (folder / "fa" / path.name).write_bytes(path.read_bytes())
    fa, ar = folder / "fa" / f"{FA_DOC}.txt", folder / "fa" / f"{AR_DOC}.txt"
    before = fa.read_bytes()
    assert "input folder" in refused("'-o' / '--output'", "match", folder, "-o", fa)
    refused("'--html'", "match", folder, "-o", tmp_path / "ok.tsv", "--html", fa)
    refused("'-o' / '--output'", "align", fa, ar, "-o", ar)
    assert fa.read_bytes() == before and not (tmp_path / "ok.tsv").exists()


def test_two_outputs_that_are_one_file_are_refused(archive, tmp_path, no_work):
    out = tmp_path / "out.tsv"
    link = tmp_path / "link.tsv"
    link.symlink_to(out)  # dangling: out.tsv does not exist yet
    assert "--output" in refused("'--pairs'", "match", archive, "-o", out, "--pairs", link)
    out.write_text("previous\n")
    refused("'--pairs'", "match", archive, "-o", link, "--pairs", out)
    refused("'--keep'", "dedup", archive, "-o", out, "--keep", link)
    assert out.read_text() == "previous\n"


def test_an_output_inside_the_index_folder_is_refused(archive, tmp_path):
    index = tmp_path / "index"
    ok("match", archive, "--index", index, "-o", tmp_path / "out.tsv")
    files = {p.name: p.read_bytes() for p in index.iterdir()}
    manifest = index / "manifest.json"
    message = refused("'-o' / '--output'", "match", archive, "--index", index, "-o", manifest)
    assert "inside the --index folder" in message
    refused("'--pairs'", "match", archive, "--index", index, "--pairs", index / "new.tsv")
    store = tmp_path / "store"
    ok("index", "add", archive, "--index", store, "--quiet")
    refused("'--keep'", "dedup", archive, "--index", store, "--keep", store / "kept.jsonl")
    hard = tmp_path / "hard.json"
    os.link(manifest, hard)
    assert "a file of the --index folder" in refused(
        "'-o' / '--output'", "match", archive, "--index", index, "-o", hard
    )
    assert {p.name: p.read_bytes() for p in index.iterdir()} == files


def test_a_moses_file_that_is_an_input_is_refused_before_matching(seeds_dir, tmp_path, monkeypatch):
    fa = tmp_path / "corpus.fa"  # NAME.fa for -o corpus: known once the languages are
    fa.write_bytes((seeds_dir / f"{FA_DOC}.txt").read_bytes())
    ar = seeds_dir / f"{AR_DOC}.txt"

    def never(*args, **kwargs):
        raise AssertionError("matched before refusing the output")

    monkeypatch.setattr("aligner.cli.load_encoder", never)
    args = ("--format", "moses", "-o", tmp_path / "corpus")
    assert "corpus.fa" in refused("'-o' / '--output'", "match", fa, ar, *args)
    refused("'-o' / '--output'", "align", fa, ar, *args)
    assert fa.read_bytes() == (seeds_dir / f"{FA_DOC}.txt").read_bytes()


def test_special_and_standard_outputs_are_not_clashes(seeds_dir, tmp_path):
    null = char_device(tmp_path / "null")
    ok("match", seeds_dir, "-o", null, "--pairs", null, "--html", null)
    ok("dedup", seeds_dir, "-o", "-", "--keep", null, "--quiet")
    assert is_char_device(null) and len(list(tmp_path.iterdir())) == 1


def test_check_output_path_accepts_a_writable_special_file_in_a_read_only_folder(
    tmp_path, monkeypatch
):
    os.mkfifo(tmp_path / "fifo")
    real_access = os.access
    # as if tmp_path were read-only (root passes every access check)
    monkeypatch.setattr(
        "aligner.files.os.access",
        lambda path, mode: not Path(path).is_dir() and real_access(path, mode),
    )
    assert check_output_path(tmp_path / "fifo") is not None
    with pytest.raises(AlignerError, match="not writable"):
        check_output_path(tmp_path / "new.tsv")


# -- Moses usage errors: before the run, exit 2 ----------------------------------------------


def test_moses_to_standard_output_is_a_usage_error_before_any_work(seeds_dir, no_work):
    for args in (("match", seeds_dir), ("match", seeds_dir, "-o", "-")):
        result = cli(*args, "--format", "moses")
        assert result.exit_code == 2 and "-o NAME" in result.output, result.output
    fa, ar = seeds_dir / f"{FA_DOC}.txt", seeds_dir / f"{AR_DOC}.txt"
    result = cli("align", fa, ar, "--format", "moses")
    assert result.exit_code == 2 and "-o NAME" in result.output, result.output


def test_moses_with_several_language_pairs_is_a_usage_error_before_matching(
    archive, tmp_path, monkeypatch
):
    english = tmp_path / "en.jsonl"
    english.write_text(json.dumps({"id": "en1", "text": "Presidents spoke.", "lang": "en"}) + "\n")

    def never(*args, **kwargs):
        raise AssertionError("the encoder was loaded before the usage error")

    monkeypatch.setattr("aligner.cli.load_encoder", never)
    result = cli("match", archive, english, "--format", "moses", "-o", tmp_path / "corpus")
    assert result.exit_code == 2, result.output
    assert "exactly one language pair (found: ar-en, fa-ar, fa-en)" in result.output
    assert "--src-lang" in result.output and list(tmp_path.glob("corpus*")) == []
    fa, ar = (tmp_path / "a.txt", tmp_path / "b.txt")
    fa.write_text("سلام دنیا.", encoding="utf-8")
    ar.write_text("سلام دنیا.", encoding="utf-8")
    result = cli("align", fa, ar, "--format", "moses", "-o", tmp_path / "corpus")
    assert result.exit_code == 2 and "two different languages" in result.output, result.output
    monkeypatch.undo()
    ok("match", archive, english, "--format", "moses", "-o", tmp_path / "corpus",
       "--src-lang", "fa", "--tgt-lang", "ar")  # fmt: skip
    assert sorted(p.name for p in tmp_path.glob("corpus*")) == [
        "corpus.ar",
        "corpus.fa",
        "corpus.ids",
    ]


# -- a bad input names --skip-bad where the command has it -----------------------------------

HINT = "(use --skip-bad to skip it)"


def error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("aligner: error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_bad_input_error_ends_with_the_skip_bad_hint(archive, seeds_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": oops}\n', encoding="utf-8")
    for command in ("match", "report"):
        line = error_line(cli(command, bad, "-o", tmp_path / "out"), 4)
        assert "bad.jsonl:2: malformed JSON" in line and line.endswith(HINT)
    assert error_line(cli("match", archive, archive), 4).endswith(HINT)  # duplicate ids
    line = error_line(cli("align", seeds_dir / f"{FA_DOC}.txt", tmp_path / "missing.txt"), 4)
    assert "no such file" in line and line.endswith(HINT)
    ok("match", bad, "--skip-bad")  # the hint's advice works
    # no hint where there is no --skip-bad to use
    assert HINT not in error_line(cli("dedup", bad, "--quiet"), 4)
    assert HINT not in error_line(cli("score", "--gold", bad, "--pred", tmp_path / "none"), 4)
    # nor on errors that are not about the input
    assert HINT not in error_line(cli("match", archive, "-o", tmp_path / "no" / "out.tsv"), 1)
