"""`--engine ray` against the local engine on the benchmark archive (bench/archive.py).

    python -m bench.scale --docs 100000 --workers 1 --workers 2
    python -m bench.scale --docs 20000 --add          # index add as well

Generates the archive, runs `aligner dedup` (and with --add `aligner index add`) with the
local engine, then with `--engine ray --ray-workers N` for each N (a local Ray started by
the command; dedup then decides over the distributed record), each into a new index.
Records documents/s (wall: Ray's workers are not the command's children, so its CPU time
is not comparable), the peak memory of the command with every process under it (Ray's
raylet, object store and actors included), precision and recall on the planted stories,
and the agreement with the local engine: the share of identical clusters.tsv rows, and of
documents in the same cluster with the same role.
Prints JSON, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.archive import (
    ArchiveSpec,
    load_rows,
    pair_quality,
    read_clusters,
    run_cli,
    write_archive,
)
from bench.datasets import DEFAULT_DATA


def agreement(reference: Path, other: Path) -> float:
    """The share of the reference's clusters.tsv rows found identical in `other`."""
    ref = reference.read_text(encoding="utf-8").splitlines()
    got = set(other.read_text(encoding="utf-8").splitlines())
    return sum(line in got for line in ref) / max(len(ref), 1)


def cluster_agreement(reference: Path, other: Path) -> float:
    """The share of the reference's documents given the same cluster and role in `other`
    (the earlier member of the cluster a document was attached to may differ)."""
    ref, got = read_clusters(reference), read_clusters(other)
    return sum(got.get(doc) == value for doc, value in ref.items()) / max(len(ref), 1)


def run_engine(
    command: str, archive: Path, work: Path, label: str, engine: list[str]
) -> dict[str, Any]:
    index = work / f"{command}-{label}"
    shutil.rmtree(index, ignore_errors=True)
    if command == "dedup":
        clusters = work / f"clusters-{label}.tsv"
        args = ["dedup", str(archive), "--index", str(index), "-o", str(clusters), *engine]
    else:
        clusters = None
        args = ["index", "add", str(archive), "--index", str(index), *engine]
    run = run_cli(args)
    with open(archive, encoding="utf-8") as handle:
        n = sum(1 for _ in handle)
    out: dict[str, Any] = {
        "command": command, "engine": label, "seconds": round(run.seconds, 1),
        "docs_per_s": round(n / run.seconds, 1), "peak_tree_mib": round(run.tree_rss_mib),
        # the command's own process: on Ray the driver, the part that does not spread
        "own_cpu_ms_per_doc": round(1000 * run.own_cpu_seconds / n, 3),
        "summary": run.output[-300:],
    }  # fmt: skip
    if clusters is not None:
        assigned = read_clusters(clusters)
        quality = pair_quality({doc: c for doc, (c, _) in assigned.items()})
        out["precision"], out["recall"] = quality["precision"], quality["recall"]
        out["clusters"] = str(clusters)
    shutil.rmtree(index, ignore_errors=True)
    return out


def _round(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--docs", type=int, default=100000)
    parser.add_argument("--workers", type=int, action="append", help="Ray actors per pool")
    parser.add_argument("--add", action="store_true", help="time index add as well")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    args = parser.parse_args(argv)
    try:
        rows = load_rows(args.data)
    except OSError:
        print(f"bench.scale: skipped: development data not found in {args.data}")
        return {"skipped": f"no data in {args.data}"}
    work = args.work or Path(tempfile.mkdtemp(prefix="aligner-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    archive = work / f"archive-{args.docs}.jsonl"
    if not archive.is_file():
        write_archive(archive, ArchiveSpec(args.docs), rows)
    results = []
    commands = ["index add", "dedup"] if args.add else ["dedup"]
    try:
        for command in commands:
            name = command.split()[-1]
            runs = [("local", [])] + [
                (f"ray-{w}", ["--engine", "ray", "--ray-workers", str(w)])
                for w in (args.workers or [1, 2])
            ]
            local = None
            for label, engine in runs:
                result = run_engine(name, archive, work, label, engine)
                if name == "dedup":
                    if local is None:
                        local = Path(result["clusters"])
                    result["agreement"] = round(agreement(local, Path(result["clusters"])), 6)
                    result["cluster_agreement"] = round(
                        cluster_agreement(local, Path(result["clusters"])), 6
                    )
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.docs:,} documents\n")
    print("| command | engine | seconds | documents/s | command's own CPU ms/doc | peak memory MiB "
          "| precision | recall | rows as the local engine's | clusters and roles as the local "
          "engine's |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['command']} | {r['engine']} | {r['seconds']} | {r['docs_per_s']} "
            f"| {r['own_cpu_ms_per_doc']} "
            f"| {r['peak_tree_mib']} | {_round(r.get('precision'))} | {_round(r.get('recall'))} "
            f"| {r.get('agreement', '-')} | {r.get('cluster_agreement', '-')} |"
        )
    return {"results": results}


if __name__ == "__main__":
    main()
