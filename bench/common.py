"""What the benchmark sections share: the data, the gold mapped onto our sentences, the
machine description and the report's tables."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aligner import scoring
from aligner.scoring import Alignments, Scores
from aligner.types import Document, PreparedDocument
from bench import datasets

REPO_ROOT = datasets.REPO_ROOT
DATA = datasets.DEFAULT_DATA
SEED = 0


class Skip(Exception):
    """A part of the benchmark that cannot run here (data or a peer missing): its message
    goes into the report instead of its figures."""


@dataclass
class Section:
    """One part of the report: markdown lines, and the headline figures for the summary."""

    title: str
    lines: list[str] = field(default_factory=list)
    summary: list[tuple[str, str, str, str]] = field(default_factory=list)

    def target(self, what: str, value: str, target: str, met: bool | None) -> None:
        """A headline figure against its target (met: None when there is no verdict)."""
        verdict = "–" if met is None else ("yes" if met else "**no**")
        self.summary.append((what, value, target, verdict))

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.lines.extend(markdown_table(header, rows))
        self.lines.append("")

    def skip(self, what: str, why: str) -> None:
        message = f"skipped {what}: {why}"
        print(message, flush=True)
        self.add(f"- *{message}*", "")

    def markdown(self) -> str:
        return "\n".join([f"## {self.title}", "", *self.lines]).rstrip() + "\n"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub table, columns padded so that it also reads well in a terminal."""
    cells = [[str(h) for h in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    return [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(row) for row in cells[1:]
    ]


def fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def prf(scores: Scores) -> tuple[float, float, float]:
    return scores.precision, scores.recall, scores.f1


# --- data ----------------------------------------------------------------------------------


def corpus_path(name: str, data: Path = DATA) -> Path:
    file, _ = datasets.CORPORA[name]
    path = data / file
    if not path.is_file():
        raise Skip(f"{path} not found (development data is not part of the repo)")
    return path


def load_sources(name: str, data: Path = DATA) -> list[datasets.SourceDoc]:
    _, group_by = datasets.CORPORA[name]
    return datasets.load_corpus(corpus_path(name, data), group_by)


def generate_set(
    name: str, data: Path = DATA, seed: int = SEED, langs: tuple[str, str] = datasets.LANGS
) -> datasets.Dataset:
    """The damaged set of one corpus in one language pair (fa-ar unless told), as the
    quality section measures it."""
    return datasets.generate(load_sources(name, data), name, seed, langs=langs)


def documents(dataset: datasets.Dataset) -> list[Document]:
    """The set's documents without their language: detection is part of what is measured."""
    return [Document(doc["id"], doc["text"]) for doc in dataset.docs]


def sentence_spans(doc: PreparedDocument) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in doc.sentences]


@dataclass(frozen=True)
class MappedGold:
    """Gold links rewritten over our sentence indices, and the gold links we cannot express
    because our preparation dropped one of their sides (they count as missed).

    `split_aware` is the same gold with one refinement: a 1-1 link between two lines that
    our segmenter split into the same number k > 1 of sentences on both sides (a data row
    holding two sentences, translated sentence by sentence) becomes k 1-1 links. As mapped,
    it is one k-k link, and strict scoring counts the k finer (and almost always right) 1-1
    links an aligner predicts there as wrong."""

    links: Alignments
    lost: int  # links
    lost_pairs: int  # the (src line, tgt line) pairs of the lost links, for lax scoring
    split_aware: Alignments = field(default_factory=dict)


def map_gold(dataset: datasets.Dataset, prepared: dict[str, PreparedDocument]) -> MappedGold:
    """The set's gold links over the sentences of `prepared` (through character spans)."""
    links: Alignments = {}
    split_aware: Alignments = {}
    lost = lost_pairs = 0
    for a, b in dataset.gold_pairs:  # (source side, target side) of the set's language pair
        a_map = datasets.map_lines(dataset.line_spans[a], sentence_spans(prepared[a]))
        b_map = datasets.map_lines(dataset.line_spans[b], sentence_spans(prepared[b]))
        links[(a, b)], split_aware[(a, b)] = [], []
        for line_link in dataset.gold_links[(a, b)]:
            mapped, n_lost = datasets.map_links([line_link], a_map, b_map)
            if n_lost:
                lost += 1
                lost_pairs += len(line_link[0]) * len(line_link[1])
                continue
            src, tgt = mapped[0]
            links[(a, b)].append((src, tgt))
            one_to_one_lines = len(line_link[0]) == len(line_link[1]) == 1
            if one_to_one_lines and len(src) == len(tgt) > 1:
                split_aware[(a, b)].extend(((i,), (j,)) for i, j in zip(src, tgt))
            else:
                split_aware[(a, b)].append((src, tgt))
    return MappedGold(links, lost, lost_pairs, split_aware)


def score_against(pred: Alignments, gold: MappedGold) -> dict[str, Scores]:
    """Strict and lax scores against the line gold and against the split-aware gold (the
    sentence gold); lost gold links counted as missed."""
    return {
        "strict": with_lost(scoring.score_strict(pred, gold.links), gold.lost),
        "lax": with_lost(scoring.score_lax(pred, gold.links), gold.lost_pairs),
        "strict split-aware": with_lost(scoring.score_strict(pred, gold.split_aware), gold.lost),
        "lax split-aware": with_lost(scoring.score_lax(pred, gold.split_aware), gold.lost_pairs),
    }


def with_lost(scores: Scores, lost: int) -> Scores:
    """Scores with `lost` more gold items, none of them found."""
    return Scores.from_counts(scores.true_positives, scores.n_pred, scores.n_gold + lost)


# --- machine and measuring -----------------------------------------------------------------


def machine() -> dict[str, str]:
    memory = "unknown"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "uname": " ".join(platform.uname()),
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "python": sys.version.split()[0],
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": "yes" if git("status", "--porcelain", "--untracked-files=no") else "no",
    }


def git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: VmHWM from /proc/self/status, which starts
    afresh at exec (ru_maxrss, the fallback, can carry the parent's peak into a child that
    was started with fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def best_time(function: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of `repeat` runs, in seconds (after a first run as warm-up)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
