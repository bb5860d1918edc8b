"""Speed and memory: encoder throughput, alignment throughput, and how `aligner.api.match`
grows with the number of documents.

Sizes that need their own peak memory run in a subprocess (`python -m bench.speed --task
...`), which prints one JSON line; `ru_maxrss` is then that run's own peak.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aligner import api
from aligner.alignment import AlignParams, align_embeddings
from aligner.embedding import Embedder
from aligner.encoders import BuiltinEncoder, Encoder, load_encoder
from aligner.prepare import prepare_document
from aligner.scoring import score_strict
from aligner.types import Document
from aligner.verify import background_for, pair_sides
from bench import datasets
from bench.common import (
    DATA,
    REPO_ROOT,
    Section,
    Skip,
    generate_set,
    load_sources,
    peak_rss_mib,
    sentence_spans,
)

ENCODER_SENTENCES = 50_000
ENCODER_TARGET = 20_000  # sentences/s
MATCH_SIZES = (50, 100, 200, 400, 800)
QUICK_MATCH_SIZES = (50, 100, 200)
LONG_PAIR_LINES = 3000
LINEAR_ENOUGH = 1.2  # growth exponent still called "close to linear"
WARMUP_DOCS = 20
MATCH_BUDGET_S = 600  # the most one size of the match run may take


# --- inputs --------------------------------------------------------------------------------


def parallel_rows(data: Path = DATA) -> list[tuple[str, str]]:
    """Every (fa, ar) sentence pair of FLORES-200 then TICO-19, in file order."""
    rows: list[tuple[str, str]] = []
    for name in ("flores200", "tico19"):
        for doc in load_sources(name, data):
            rows.extend(zip(doc.fa, doc.ar))
    return rows


def news_sentences(rows: Sequence[tuple[str, str]], low: int = 100, high: int = 180) -> list[str]:
    """Real sentences of news length (about 140 characters), both languages."""
    return [s for pair in rows for s in pair if low <= len(s) <= high]


def repeat_to(items: Sequence[str], n: int) -> list[str]:
    return [items[i % len(items)] for i in range(n)]


def synthetic_documents(
    rows: Sequence[tuple[str, str]], n: int, seed: int = 0
) -> tuple[list[Document], list[tuple[str, str]]]:
    """`n` Persian and `n` Arabic documents of 6 to 14 consecutive sentence pairs taken at
    seeded random places in the data (so documents overlap and sentences repeat, with
    variation in where they start and end), and the true pairs."""
    rng = random.Random(seed)
    fa_docs, ar_docs, truth = [], [], []
    for i in range(n):
        length = rng.randint(6, 14)
        start = rng.randrange(len(rows) - length)
        window = rows[start : start + length]
        fa_docs.append(Document(f"fa{i:04d}", "\n".join(fa for fa, _ in window)))
        ar_docs.append(Document(f"ar{i:04d}", "\n".join(ar for _, ar in window)))
        truth.append((f"fa{i:04d}", f"ar{i:04d}"))
    return fa_docs + ar_docs, truth


# --- measurements --------------------------------------------------------------------------


def encoder_throughput(
    make: Callable[[], Encoder],
    sentences: Sequence[str],
    warmup: Sequence[str] = (),
    repeat: int = 3,
) -> dict[str, float]:
    """Sentences per second of a fresh encoder (empty caches), then of the same encoder
    again (warm caches); the best of `repeat` fresh encoders, because on a shared machine
    the fastest run is the one least disturbed. `warmup` runs on a separate instance first
    (shared tables)."""
    if warmup:
        make().encode(list(warmup))
    rates = {"fresh": 0.0, "warm": 0.0}
    for _ in range(repeat):
        encoder = make()
        for run in ("fresh", "warm"):
            start = time.perf_counter()
            encoder.encode(list(sentences))
            rate = len(sentences) / (time.perf_counter() - start)
            rates[run] = max(rates[run], rate)
    return rates


def alignment_throughput(data: Path, encoder: Encoder) -> dict[str, float]:
    """Document pairs per second on the gold pairs of the damaged FLORES set: embedding and
    alignment (`api.align`), and the alignment step alone."""
    dataset = generate_set("flores200", data)
    langs = {d["id"]: d["lang"] for d in dataset.docs}
    prepared = {
        d["id"]: prepare_document(Document(d["id"], d["text"], lang=langs[d["id"]]))
        for d in dataset.docs
    }
    pairs = [(prepared[fa], prepared[ar]) for fa, ar in dataset.gold_pairs]
    start = time.perf_counter()
    for src, tgt in pairs:
        api.align(src, tgt, encoder)
    with_embedding = time.perf_counter() - start
    embedder = Embedder.for_encoder(encoder)
    params = AlignParams()
    embedded = [
        (pair_sides(s, t, embedder, bg, params), bg)
        for s, t in pairs
        for bg in [background_for(embedder.stats, s.lang, t.lang)]
    ]
    start = time.perf_counter()
    for (src_side, tgt_side), bg in embedded:
        align_embeddings(src_side, tgt_side, params, bg)
    align_only = time.perf_counter() - start
    sentences = sum(len(s.sentences) + len(t.sentences) for s, t in pairs) / len(pairs)
    return {
        "pairs": len(pairs),
        "sentences_per_pair": sentences,
        "pairs_per_s": len(pairs) / with_embedding,
        "align_only_pairs_per_s": len(pairs) / align_only,
    }


def long_pair(data: Path, lines: int = LONG_PAIR_LINES) -> dict[str, Any]:
    """One pair of thousands of sentences: the TICO-19 rows as two documents."""
    rows = [row for doc in load_sources("tico19", data) for row in zip(doc.fa, doc.ar)]
    rows = rows[:lines]
    fa_lines, ar_lines = [fa for fa, _ in rows], [ar for _, ar in rows]
    src = prepare_document(Document("fa", "\n".join(fa_lines), lang="fa"))
    tgt = prepare_document(Document("ar", "\n".join(ar_lines), lang="ar"))
    encoder = load_encoder("builtin")
    before = peak_rss_mib()
    start = time.perf_counter()
    alignment = api.align(src, tgt, encoder)
    seconds = time.perf_counter() - start
    fa_map = datasets.map_lines(datasets.line_spans(fa_lines), sentence_spans(src))
    ar_map = datasets.map_lines(datasets.line_spans(ar_lines), sentence_spans(tgt))
    gold, _ = datasets.map_links([((i,), (i,)) for i in range(len(rows))], fa_map, ar_map)
    pred = [(link.src, link.tgt) for link in alignment.links]
    strict = score_strict({("fa", "ar"): pred}, {("fa", "ar"): gold})
    return {
        "src_sentences": len(src.sentences),
        "tgt_sentences": len(tgt.sentences),
        "seconds": seconds,
        "strict_f1": strict.f1,
        "rss_before_mib": before,
        "peak_rss_mib": peak_rss_mib(),
    }


def match_run(data: Path, n: int) -> dict[str, Any]:
    """`aligner.api.match` on n Persian and n Arabic documents (builtin encoder)."""
    rows = parallel_rows(data)
    docs, truth = synthetic_documents(rows, n)
    encoder = load_encoder("builtin")
    # The first call in a process pays a one-time start (tables, thread pools, first
    # allocations): timed apart, on a small set with other documents, so that the sizes
    # compare the steady state.
    start = time.perf_counter()
    api.match(synthetic_documents(rows, WARMUP_DOCS, seed=1)[0], encoder)
    cold = time.perf_counter() - start
    before = peak_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    result = api.match(docs, encoder)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    found = {(p.src.id, p.tgt.id) for p in result.pairs}
    found |= {(t, s) for s, t in found}
    return {
        "n": n,
        "sentences": sum(len(d.sentences) for d in result.documents),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cold_start_seconds": cold,
        "pairs": len(result.pairs),
        "right": sum(1 for pair in truth if pair in found),
        "rss_before_mib": before,
        "peak_rss_mib": peak_rss_mib(),
    }


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def in_subprocess(
    task: str, data: Path, n: int = 0, timeout: float = 600, env: dict[str, str] | None = None
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.speed", "--task", task, "--data", str(data)]
    if n:
        command += ["--n", str(n)]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"{' '.join(command[1:])} failed: {' '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the section ---------------------------------------------------------------------------


def run(data: Path = DATA, quick: bool = False) -> Section:
    section = Section("Speed and memory")
    try:
        rows = parallel_rows(data)
    except Skip as why:
        section.skip("speed and memory", str(why))
        return section

    sentences = news_sentences(rows)
    count = ENCODER_SENTENCES // 5 if quick else ENCODER_SENTENCES
    batch = repeat_to(sentences, count)
    mean = sum(map(len, batch)) / len(batch)
    print(f"speed: builtin encoder on {len(batch):,} sentences ...", flush=True)
    rates = encoder_throughput(BuiltinEncoder, batch, warmup=sentences[:2000])
    section.add(
        "### Builtin encoder",
        "",
        f"{len(batch):,} real sentences of 100–180 characters (mean {mean:.0f}; "
        f"{len(sentences):,} distinct, repeated), one process, default batch size, best of "
        "3. *Fresh*: a new encoder (its word cache empty; character tables warmed on another "
        "instance); *warm*: the same encoder a second time.",
        "",
    )
    section.table(
        ["run", "sentences/s", "target"],
        [("fresh", rates["fresh"], f"≥ {ENCODER_TARGET:,}"), ("warm", rates["warm"], "")],
    )
    section.target(
        "builtin encoder, sentences/s (fresh instance)", f"{rates['fresh']:,.0f}",
        f"≥ {ENCODER_TARGET:,}", rates["fresh"] >= ENCODER_TARGET,
    )  # fmt: skip

    print("speed: alignment of news-length pairs ...", flush=True)
    try:
        news = alignment_throughput(data, load_encoder("builtin"))
        print("speed: one long pair ...", flush=True)
        long = in_subprocess("long", data)
    except Skip as why:
        section.skip("alignment throughput", str(why))
    else:
        section.add("### Sentence alignment", "")
        section.table(
            ["input", "sentences", "pairs/s (embed + align)", "pairs/s (align only)",
             "seconds", "strict F1", "peak RSS MiB"],
            [
                (f"{news['pairs']} gold pairs of damaged FLORES",
                 f"{news['sentences_per_pair']:.0f} per pair", news["pairs_per_s"],
                 news["align_only_pairs_per_s"], news["pairs"] / news["pairs_per_s"], "", ""),
                ("one long pair: TICO-19 rows", f"{long['src_sentences']:,} × "
                 f"{long['tgt_sentences']:,}", "", "", long["seconds"], long["strict_f1"],
                 long["peak_rss_mib"]),
            ],
        )  # fmt: skip

    sizes = QUICK_MATCH_SIZES if quick else MATCH_SIZES
    results: list[dict[str, Any]] = []
    for n in sizes:
        if results and results[-1]["seconds"] > MATCH_BUDGET_S / 4:
            section.skip(f"match on N={n}", f"N={results[-1]['n']} took "
                         f"{results[-1]['seconds']:.0f} s; the next size would exceed the "
                         f"{MATCH_BUDGET_S} s a size may take")  # fmt: skip
            break
        print(f"speed: match on {n} + {n} documents ...", flush=True)
        try:
            result = in_subprocess("match", data, n, timeout=MATCH_BUDGET_S)
            print(f"speed: match on {n} + {n} documents, one BLAS thread ...", flush=True)
            single = in_subprocess("match", data, n, timeout=MATCH_BUDGET_S, env=ONE_THREAD)
            result["one_thread_seconds"] = single["seconds"]
            results.append(result)
        except subprocess.TimeoutExpired:
            section.skip(f"match on N={n}", f"did not finish in {MATCH_BUDGET_S} s")
            break
    section.add(
        "### `aligner.api.match` as the collection grows",
        "",
        "N Persian + N Arabic documents of 6–14 consecutive sentence pairs from FLORES-200 "
        "and TICO-19 at seeded random places (documents overlap, so some sentences repeat); "
        "builtin encoder, language detection on; each size in its own process, timed after "
        f"a first call on {WARMUP_DOCS} + {WARMUP_DOCS} other documents (the one-time start "
        "of a process is shown below). *CPU seconds*: user + system time of all threads. "
        "*1 BLAS thread*: the same run with `OPENBLAS_NUM_THREADS=1` (and OMP, MKL): "
        "many small matrix products are slower with a thread pool, above all on a busy "
        "machine. *right*: true pairs found. *RSS before*: peak resident memory before the call "
        "(imports, data, the first call); *peak RSS*: after it.",
        "",
    )
    rows_out = []
    previous = None
    for r in results:
        growth = (
            f"×{r['seconds'] / previous['seconds']:.2f} for ×{r['n'] / previous['n']:.0f} docs"
            if previous
            else ""
        )
        rows_out.append(
            (r["n"], r["sentences"], r["seconds"], r["cpu_seconds"], growth,
             r["one_thread_seconds"], r["pairs"],
             f"{r['right']}/{r['n']}", r["rss_before_mib"], r["peak_rss_mib"])
        )  # fmt: skip
        previous = r
    section.table(
        ["N per language", "sentences", "seconds", "CPU seconds", "time growth",
         "seconds, 1 BLAS thread", "pairs", "right",
         "RSS before MiB", "peak RSS MiB"],
        rows_out,
    )  # fmt: skip
    if results:
        colds = ", ".join(f"{r['cold_start_seconds']:.1f}" for r in results)
        section.add(
            f"First `match` call in a fresh process ({WARMUP_DOCS} + {WARMUP_DOCS} documents): "
            f"{colds} s in the runs above.",
            "",
        )
    if len(results) >= 2:
        first, before_last, last = results[0], results[-2], results[-1]
        growth = {
            key: (_growth_exponent(first, last, key), _growth_exponent(before_last, last, key))
            for key in ("seconds", "one_thread_seconds")
        }
        section.add(
            f"Time grows as N^{growth['seconds'][0]:.2f} from N={first['n']} to N={last['n']} "
            f"and as N^{growth['seconds'][1]:.2f} from N={before_last['n']} to N={last['n']}; "
            f"with one BLAS thread N^{growth['one_thread_seconds'][0]:.2f} and "
            f"N^{growth['one_thread_seconds'][1]:.2f} (N^1.00 is linear).",
            "",
        )
        worst = max(growth["seconds"][1], growth["one_thread_seconds"][1])
        section.target(
            f"match time growth, N={before_last['n']}→{last['n']} (default / 1 BLAS thread)",
            f"N^{growth['seconds'][1]:.2f} / N^{growth['one_thread_seconds'][1]:.2f}",
            f"close to N^1 (≤ N^{LINEAR_ENOUGH})", worst <= LINEAR_ENOUGH,
        )  # fmt: skip
    return section


def _growth_exponent(first: dict[str, Any], last: dict[str, Any], key: str) -> float:
    return math.log(last[key] / first[key]) / math.log(last["n"] / first["n"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed")
    parser.add_argument("--task", choices=["match", "long"], required=True)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    result = match_run(args.data, args.n) if args.task == "match" else long_pair(args.data)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
