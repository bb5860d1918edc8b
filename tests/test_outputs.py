"""Output paths: what is replaced atomically, what is written through, what is refused.

A regular file (or a new path) is written to a temporary file and renamed into place; a
symbolic link keeps being a link and the file it names is replaced; a device, FIFO or one of
the process's descriptors is written through, never replaced by a regular file. Devices are
made with mknod under tmp_path (never the machine's /dev/null)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.export import output_target

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
