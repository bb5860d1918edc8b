"""Output paths a command must refuse before it starts: an input, another output of the same
run, or a path inside an index folder in use.

Without this check `aligner match archive.jsonl -o archive.jsonl` would replace the archive
with the corpus and exit 0. Paths are compared as the files they are: symbolic links are
followed (`files.output_target`) and an existing file is known by its device and inode, so
that a hard link is caught too. A folder input stands for every `.txt` file below it, as it
is read. Standard input and output (`-`) never clash, and neither do two outputs that are
the same character device (`/dev/null` given twice).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aligner.files import OutputTarget, output_target
from aligner.readers import TEXT_SUFFIXES

Key = tuple[object, ...]


class PathClash(ValueError):
    """An output path that would destroy an input, another output or an index."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option  # the output's option, e.g. "--output"
        self.message = message


@dataclass(frozen=True)
class _Output:
    option: str
    target: OutputTarget

    @property
    def key(self) -> Key:
        st = self.target.st  # for /proc/self/fd/N: what the descriptor is open on
        if st is None:  # a new file: known by the path it will have
            return ("path", str(self.target.path))
        return ("file", st.st_dev, st.st_ino)

    @property
    def exists(self) -> bool:
        return self.target.st is not None


def _file_key(path: Path) -> Key:
    try:
        st = path.stat()
    except OSError:  # gone, or unreadable: the reader will say so
        return ("missing", str(path))
    return ("file", st.st_dev, st.st_ino)


def _input_files(inputs: Iterable[str | Path]) -> Iterator[tuple[Path, Path | None]]:
    """Every file the inputs read, with the input folder it was found in (None: named)."""
    for item in inputs:
        if str(item) == "-":
            continue
        path = Path(item)
        if path.is_dir():
            for file in path.rglob("*"):  # as readers.iter_folder reads it
                if file.suffix.lower() in TEXT_SUFFIXES and file.is_file():
                    yield file, path
        else:
            yield path, None


def _input_clash(given: str, file: Path, folder: Path | None) -> str:
    named = os.path.abspath(given) == os.path.abspath(file)  # else a link to it
    if folder is None:
        what = "an input file" if named else f"the input file {file}"
    else:
        what = f"{'a file' if named else f'the file {file}'} read from the input folder {folder}"
    return f"{given} is {what}; writing it would destroy the input"


def check_outputs(
    outputs: Sequence[tuple[str, str | Path | None]],
    inputs: Iterable[str | Path] = (),
    indexes: Iterable[tuple[str, str | Path | None]] = (),
) -> None:
    """Fail before any work when an output cannot be written (`AlignerError`, from
    `output_target`), or would overwrite an input, another output or a file of an index in
    use (`PathClash`). `outputs` and `indexes` are (option, path) pairs; None and "-" are
    left out."""
    found = [
        _Output(option, output_target(path))
        for option, path in outputs
        if path is not None and str(path) != "-"
    ]
    seen: dict[Key, _Output] = {}
    for out in found:
        first = seen.setdefault(out.key, out)
        if first is not out and not out.target.character_device:
            same = "" if first.target.given == out.target.given else f" {first.target.given}"
            raise PathClash(out.option, f"{out.target.given} is also the {first.option} file{same}")
    existing = {out.key: out for out in found if out.exists and not out.target.character_device}
    if existing:
        for path, folder in _input_files(inputs):
            out = existing.get(_file_key(path))
            if out is not None:
                raise PathClash(out.option, _input_clash(out.target.given, path, folder))
    for option, folder in indexes:
        if folder is not None:
            _check_index(found, existing, option, Path(folder))


def _check_index(
    found: list[_Output], existing: dict[Key, _Output], option: str, folder: Path
) -> None:
    real = os.path.realpath(folder)
    for out in found:
        path = str(out.target.path)
        if path == real or path.startswith(real.rstrip("/") + "/"):
            raise PathClash(
                out.option, f"{out.target.given} is inside the {option} folder {folder}"
            )
    if existing and folder.is_dir():  # a hard link to a file of the index
        for file in folder.rglob("*"):
            out = existing.get(_file_key(file))
            if out is not None and file.is_file():
                raise PathClash(
                    out.option, f"{out.target.given} is {file}, a file of the {option} folder"
                )
