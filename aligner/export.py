"""Writing results: the parallel corpus and the matched document pairs.

Files are written to a temporary file beside the target and renamed into place, so a
failed or interrupted run never leaves a partial file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from aligner.errors import AlignerError
from aligner.normalize import clean_for_export
from aligner.types import Alignment, DocumentPair

PARALLEL_COLUMNS = (
    "src_doc", "tgt_doc", "src_lang", "tgt_lang", "src_sents", "tgt_sents", "score",
    "src_text", "tgt_text",
)  # fmt: skip
PAIR_COLUMNS = (
    "src_doc", "tgt_doc", "src_lang", "tgt_lang", "score", "retrieval_score",
    "src_coverage", "tgt_coverage", "mean_link_score", "links", "src_sentences",
    "tgt_sentences",
)  # fmt: skip


def _temp_beside(target: Path) -> tuple[int, str]:
    """A temporary file in the target's folder (so that the final rename is atomic), with
    the permissions a newly created file would get (mkstemp makes them owner-only)."""
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(temp_name, 0o666 & ~umask)
    return fd, temp_name


def check_output_path(path: str | Path | None) -> None:
    """Fail before any work is done when `path` cannot be written: its folder is missing,
    it is a folder itself, or the folder is read-only."""
    if path is None or str(path) == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise AlignerError(f"{target}: is a folder, not a file")
    if not target.parent.is_dir():
        raise AlignerError(f"{target}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise AlignerError(f"{target}: folder {target.parent} is not writable")


@contextlib.contextmanager
def atomic_output(path: str | Path | None) -> Iterator[IO[str]]:
    """A text handle for `path` ("-" or None: standard output) that only replaces the file
    once everything was written."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    check_output_path(target)
    try:
        fd, temp_name = _temp_beside(target)
    except OSError as exc:
        raise AlignerError(f"{target}: cannot write ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise AlignerError(f"{target}: write failed ({exc.strerror}); nothing was written") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | Path]) -> Iterator[list[IO[str]]]:
    """Text handles for several files that belong together (e.g. the two sides of a Moses
    corpus): none of them is replaced until all of them were written completely."""
    targets = [Path(p) for p in paths]
    for target in targets:
        check_output_path(target)
    temps: list[str] = []
    handles: list[IO[str]] = []
    try:
        try:
            for target in targets:
                fd, temp_name = _temp_beside(target)
                temps.append(temp_name)
                handles.append(os.fdopen(fd, "w", encoding="utf-8", newline=""))
            yield handles
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
            # Renames come last and are near-instant: a failure before this point leaves
            # every old file as it was.
            for temp_name, target in zip(temps, targets):
                os.replace(temp_name, target)
        except OSError as exc:
            raise AlignerError(
                f"{', '.join(map(str, targets))}: write failed ({exc.strerror}); "
                "nothing was written"
            ) from exc
    finally:
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temp_name in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)


def parallel_rows(alignments: Iterable[Alignment]) -> Iterator[dict[str, str]]:
    """One row per aligned segment, texts cleaned so that no row breaks the TSV."""
    for alignment in alignments:
        src, tgt = alignment.src, alignment.tgt
        for link in alignment.links:
            yield {
                "src_doc": clean_for_export(src.id),
                "tgt_doc": clean_for_export(tgt.id),
                "src_lang": clean_for_export(src.lang),
                "tgt_lang": clean_for_export(tgt.lang),
                "src_sents": ",".join(map(str, link.src)),
                "tgt_sents": ",".join(map(str, link.tgt)),
                "score": f"{link.score:.4f}",
                "src_text": clean_for_export(" ".join(src.sentences[i].text for i in link.src)),
                "tgt_text": clean_for_export(" ".join(tgt.sentences[j].text for j in link.tgt)),
            }


def pair_rows(pairs: Iterable[DocumentPair]) -> Iterator[dict[str, str]]:
    for pair in pairs:
        evidence = pair.evidence
        yield {
            "src_doc": clean_for_export(pair.src.id),
            "tgt_doc": clean_for_export(pair.tgt.id),
            "src_lang": clean_for_export(pair.src.lang),
            "tgt_lang": clean_for_export(pair.tgt.lang),
            "score": f"{pair.score:.4f}",
            "retrieval_score": f"{pair.retrieval_score:.4f}",
            "src_coverage": f"{evidence['src_coverage']:.4f}",
            "tgt_coverage": f"{evidence['tgt_coverage']:.4f}",
            "mean_link_score": f"{evidence['mean_link_score']:.4f}",
            "links": str(len(pair.alignment.links)),
            "src_sentences": str(len(pair.src.sentences)),
            "tgt_sentences": str(len(pair.tgt.sentences)),
        }


def write_tsv(
    rows: Iterable[dict[str, str]], columns: tuple[str, ...], path: str | Path | None
) -> int:
    """Write rows as TSV with a header; no quoting (values never hold tabs or newlines)."""
    count = 0
    with atomic_output(path) as handle:
        handle.write("\t".join(columns) + "\n")
        for row in rows:
            # values are already free of tabs and line breaks (clean_for_export), so plain
            # joining is exact; quoting would make the file harder to read with cut/awk.
            handle.write("\t".join(row[c] for c in columns) + "\n")
            count += 1
    return count


def write_parallel_tsv(alignments: Iterable[Alignment], path: str | Path | None) -> int:
    return write_tsv(parallel_rows(alignments), PARALLEL_COLUMNS, path)


def write_pairs_tsv(pairs: Iterable[DocumentPair], path: str | Path | None) -> int:
    return write_tsv(pair_rows(pairs), PAIR_COLUMNS, path)
