"""Output files written safely.

A regular output file (or a new one) is written to a temporary file beside it and renamed
into place, so a failed or interrupted run never leaves a partial file that looks complete.
A symbolic link is followed: the file it names is replaced and the link stays a link. A
device, FIFO, socket or one of this process's descriptors (`/dev/stdout`,
`/proc/self/fd/N`) is written through, in place: renaming a file onto `/dev/null` would
replace the device, and the reader of a FIFO would get nothing. `output_target` is the one
place that decides which.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aligner.errors import AlignerError

# Pseudo file systems: nothing in them is replaced by a rename, everything is written through.
_PSEUDO_FS = ("/proc", "/sys")
# One of this process's descriptors: /proc/self/fd/N, /dev/stdout, /dev/fd/N, once resolved.
_PROC_FD = re.compile(r"/proc/(\d+)(?:/task/\d+)?/fd/(\d+)")
_MAX_LINKS = 40  # as the kernel's limit on a chain of symbolic links
# What fsync answers for an object that has nothing to flush to disk (a FIFO, a tty,
# /dev/null): not a failure of the write.
_NO_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EROFS}


@dataclass(frozen=True)
class OutputTarget:
    """Where an output path really goes, and how it is written."""

    given: str  # the path as given, for messages
    path: Path  # symbolic links followed: the file that is replaced, created or written
    # True: a regular file or a new path, written to a temporary file beside `path` and
    # renamed onto it. False: a device, FIFO, socket or descriptor, written through in place.
    atomic: bool
    fd: int | None = None  # this process's descriptor that `path` names, written through
    st: os.stat_result | None = None  # what `path` is now (None: it does not exist yet)

    @property
    def character_device(self) -> bool:
        return self.st is not None and stat.S_ISCHR(self.st.st_mode)


def _in_pseudo_fs(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in _PSEUDO_FS)


def _follow_links(given: str) -> str:
    """The absolute path `given` leads to, following symbolic links one at a time (a dangling
    link gives the path it names). Stops inside /proc and /sys, whose links (/proc/self/fd/1
    -> pipe:[123]) name no path."""
    current = given.rstrip("/") or "/"
    if not os.path.isabs(current):
        current = os.path.join(os.getcwd(), current)
    for _ in range(_MAX_LINKS):
        folder, name = os.path.split(current)
        current = os.path.join(os.path.realpath(folder), name)
        if _in_pseudo_fs(current) or not os.path.islink(current):
            return current
        # a relative target is relative to the link's folder; join keeps an absolute one
        current = os.path.join(os.path.dirname(current), os.readlink(current)).rstrip("/") or "/"
    raise AlignerError(f"{given}: cannot write (Too many levels of symbolic links)")


def output_target(path: str | Path) -> OutputTarget:
    """Decide how `path` is written, and fail before any work is done when it cannot be: it
    is a folder, its folder is missing or read-only, or a special file is not writable."""
    given = str(path)
    final = _follow_links(given)
    own = _PROC_FD.fullmatch(final)
    fd = int(own[2]) if own and int(own[1]) == os.getpid() else None
    try:
        st: os.stat_result | None = os.stat(final)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise AlignerError(f"{given}: cannot write ({exc.strerror or exc})") from exc
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise AlignerError(f"{given}: is a folder, not a file")
    if fd is not None or _in_pseudo_fs(final) or (st is not None and not stat.S_ISREG(st.st_mode)):
        if st is None:
            raise AlignerError(f"{given}: cannot write (No such file or directory)")
        if fd is not None:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                raise AlignerError(f"{given}: not open for writing")
        elif not os.access(final, os.W_OK):
            raise AlignerError(f"{given}: not writable")
        return OutputTarget(given, Path(final), atomic=False, fd=fd, st=st)
    # The folder as given when no link was followed (messages name what the user typed).
    folder = Path(final).parent
    shown = Path(given).parent if os.path.abspath(given) == final else folder
    if not folder.is_dir():
        raise AlignerError(f"{given}: folder {shown} does not exist")
    if not os.access(folder, os.W_OK):
        raise AlignerError(f"{given}: folder {shown} is not writable")
    return OutputTarget(given, Path(final), atomic=True, st=st)


def check_output_path(path: str | Path | None) -> OutputTarget | None:
    """Fail before any work is done when `path` cannot be written (see `output_target`);
    None and "-" are standard output."""
    if path is None or str(path) == "-":
        return None
    return output_target(path)


def _temp_beside(target: Path) -> tuple[int, str]:
    """A temporary file in the target's folder (so that the final rename is atomic), with
    the permissions a newly created file would get (mkstemp makes them owner-only)."""
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(temp_name, 0o666 & ~umask)
    return fd, temp_name


def _open_through(target: OutputTarget) -> int:
    """A descriptor that writes to the special file itself: a copy of this process's own
    descriptor (its offset and append mode kept, as for standard output), else the path
    opened without O_CREAT (a special file that vanished is not recreated as a file)."""
    if target.fd is not None:
        return os.dup(target.fd)
    return os.open(target.path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)


def _finish(handle: IO[str], target: OutputTarget) -> None:
    handle.flush()
    try:
        os.fsync(handle.fileno())
    except OSError as exc:
        if target.atomic or exc.errno not in _NO_FSYNC:
            raise
    handle.close()


@contextlib.contextmanager
def atomic_output(path: str | Path | None) -> Iterator[IO[str]]:
    """A text handle for `path` ("-" or None: standard output) that only replaces the file
    once everything was written (special files are written through, see `output_target`)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_outputs([path]) as handles:
        yield handles[0]


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[str | Path]) -> Iterator[list[IO[str]]]:
    """Text handles for several files that belong together (e.g. the two sides of a Moses
    corpus): none of them is replaced until all of them were written completely. Each
    regular file is written to a temporary file and renamed; special files are written
    through (see `output_target`)."""
    targets = [output_target(p) for p in paths]
    temps: list[str] = []
    handles: list[IO[str]] = []
    try:
        try:
            for target in targets:
                if target.atomic:
                    fd, temp_name = _temp_beside(target.path)
                    temps.append(temp_name)
                else:
                    fd = _open_through(target)
                handles.append(os.fdopen(fd, "w", encoding="utf-8", newline=""))
            yield handles
            for handle, target in zip(handles, targets):
                _finish(handle, target)
            # Renames come last and are near-instant: a failure before this point leaves
            # every old file as it was.
            for temp_name, target in zip(temps, [t for t in targets if t.atomic]):
                os.replace(temp_name, target.path)
        except OSError as exc:
            names = ", ".join(t.given for t in targets)
            kept = "; nothing was written" if all(t.atomic for t in targets) else ""
            raise AlignerError(f"{names}: write failed ({exc.strerror or exc}){kept}") from exc
    finally:
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temp_name in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
