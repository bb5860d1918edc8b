"""Held-out quality and calibration: builtin and e5 on the damaged sets of the seeds that
calibration never saw (0, 4, 5), side by side.

    python -m bench.heldout [--seeds 0 4 5] [--models builtin e5] [--pairs fa-ar fa-en ar-en]

For each set, language pair and encoder: document pairs (P/R/F1, distractors matched),
end-to-end strict and lax alignment F1, time; then reliability tables of the link scores
(the exported links of matched pairs: right when in the gold alignment) and of the pair
scores (every verified candidate: right when a gold pair), with the expected calibration
error (ECE: the mean gap between score and share right over ten equal-width bins, weighted
by count), pooled over the sets and pairs of each encoder, and the ECE of each pair.

The sets of every language pair are damaged the same way (`bench.datasets`); the pairs with
English are measured by default when the data has the English side. The encoders' pair and
link calibrations were fitted on fa-ar sets only, so the other pairs measure how they carry
over to a pair they never saw.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aligner import scoring
from aligner.embedding import Embedder
from aligner.encoders import load_encoder
from aligner.match import match_documents
from aligner.prepare import prepare_documents
from aligner.readers import read_documents
from aligner.scoring import Alignments, Scores
from aligner.types import Document, DocumentPair
from bench import datasets
from bench.common import (
    DATA,
    REPO_ROOT,
    Section,
    documents,
    load_sources,
    map_gold,
    prf,
    score_against,
)
from bench.vector_cache import DiskCachedEncoder

HELD_OUT_SEEDS = (0, 4, 5)
SEEDS = REPO_ROOT / "fixtures" / "seeds"  # the five seed reports, shuffled into every set
SETS = ("flores200", "tico19")
PAIRS = (("fa", "ar"), ("fa", "en"), ("ar", "en"))
BINS = 10


@dataclass
class Reliability:
    scores: list[float] = field(default_factory=list)
    right: list[bool] = field(default_factory=list)

    def add(self, score: float, right: bool) -> None:
        self.scores.append(score)
        self.right.append(right)

    def table(self) -> list[tuple[str, int, float, float]]:
        scores, right = np.array(self.scores), np.array(self.right, dtype=float)
        rows = []
        for b in range(BINS):
            lo, hi = b / BINS, (b + 1) / BINS
            inside = (scores >= lo) & ((scores < hi) if b < BINS - 1 else (scores <= hi))
            if inside.any():
                rows.append(
                    (f"{lo:.1f}-{hi:.1f}", int(inside.sum()), float(scores[inside].mean()),
                     float(right[inside].mean()))
                )  # fmt: skip
        return rows

    def ece(self) -> float:
        total = len(self.scores)
        if not total:
            return float("nan")
        return sum(n * abs(mean - share) for _, n, mean, share in self.table()) / total

    @classmethod
    def pooled(cls, parts: Sequence[Reliability]) -> Reliability:
        return cls([s for p in parts for s in p.scores], [r for p in parts for r in p.right])


@dataclass
class Result:
    name: str
    pair: str  # "fa-ar"
    encoder: str
    seed: int
    seconds: float
    pairs: Scores
    strict: Scores  # against the sentence gold (split-aware)
    lax: Scores
    strict_lines: Scores  # against the line gold
    distractors: int
    distractors_matched: int
    seed_pairs: list[tuple[str, str, int]]  # pairs with a seed document: (src, tgt, links)
    links: Reliability
    candidates: Reliability


def evaluate(
    dataset: datasets.Dataset, encoder: DiskCachedEncoder, label: str, seeds: Sequence[Document]
) -> Result:
    """Match the set's documents with the seed reports shuffled in (a verdict depends on
    its pair alone, so they change no other pair's; assignment could), and score the set
    without them."""
    start = time.perf_counter()
    inputs = documents(dataset) + list(seeds)
    random.Random(dataset.seed).shuffle(inputs)
    everything = prepare_documents(inputs)
    embedder = Embedder.for_encoder(encoder)
    outcome = match_documents(everything, embedder)
    seconds = time.perf_counter() - start
    seed_ids = {d.id for d in seeds}
    prepared = [d for d in everything if d.id not in seed_ids]

    def without_seeds(pairs: list[DocumentPair]) -> list[DocumentPair]:
        return [p for p in pairs if p.src.id not in seed_ids and p.tgt.id not in seed_ids]

    seed_pairs = [
        (p.src.id, p.tgt.id, len(p.alignment.links))
        for p in outcome.pairs
        if p.src.id in seed_ids or p.tgt.id in seed_ids
    ]
    matched, rejected = without_seeds(outcome.pairs), without_seeds(outcome.rejected)
    gold = map_gold(dataset, {d.id: d for d in prepared})
    gold_pairs = {frozenset(p) for p in dataset.gold_pairs}
    predicted = [(p.src.id, p.tgt.id) for p in matched]
    links: Alignments = {
        (p.src.id, p.tgt.id): [(link.src, link.tgt) for link in p.alignment.links] for p in matched
    }
    aligned = score_against(links, gold)
    link_rel, pair_rel = Reliability(), Reliability()
    for pair in matched:
        key = (pair.src.id, pair.tgt.id)
        right = set(gold.split_aware.get(key, []))
        if not right and key[::-1] in gold.split_aware:
            right = {(t, s) for s, t in gold.split_aware[key[::-1]]}
        for link in pair.alignment.links:
            link_rel.add(link.score, (link.src, link.tgt) in right)
    for pair in matched + rejected:
        pair_rel.add(pair.score, frozenset((pair.src.id, pair.tgt.id)) in gold_pairs)
    distractors = {d for d, info in dataset.info.items() if info["role"] == "distractor"}
    return Result(
        dataset.name, "-".join(dataset.langs), label, dataset.seed, seconds,
        scoring.score_pairs(predicted, dataset.gold_pairs), aligned["strict split-aware"],
        aligned["lax split-aware"], aligned["strict"],
        len(distractors), sum(1 for s, t in predicted if s in distractors or t in distractors),
        seed_pairs, link_rel, pair_rel,
    )  # fmt: skip


def _seed_pairs(pairs: Sequence[tuple[str, str, int]]) -> str:
    """ "001-004 (8 links)" for each pair with a seed document."""
    return ", ".join(f"{s[:3]}-{t[:3]} ({n} links)" for s, t, n in pairs) or "none"


def default_pairs(sources: dict[str, list[datasets.SourceDoc]]) -> list[tuple[str, str]]:
    """All of PAIRS when every source document has its English side, else fa-ar only."""
    with_english = all(s.en for docs in sources.values() for s in docs)
    return list(PAIRS) if with_english else [datasets.LANGS]


def run(
    data: Path = DATA,
    seeds: Sequence[int] = HELD_OUT_SEEDS,
    models: Sequence[str] = ("builtin", "e5"),
    pairs: Sequence[tuple[str, str]] | None = None,
) -> Section:
    sources = {name: load_sources(name, data) for name in SETS}
    pairs = list(pairs) if pairs is not None else default_pairs(sources)
    names = ", ".join("-".join(p) for p in pairs)
    section = Section("Held-out quality and calibration")
    section.add(
        f"Damaged {names} sets of seeds {', '.join(map(str, seeds))} (calibration was fitted "
        "on fa-ar sets of seeds 1-3; `python -m bench.heldout`). Pairs: P/R/F1 of matched "
        "document pairs. "
        "Alignment: end-to-end strict and lax F1 against the sentence gold (a data row "
        "that our segmenter splits into k sentences on both sides is k 1-1 links, see "
        "`bench.common.MappedGold`), and strict F1 against the line gold (such a row one "
        "k-k link). Link reliability: the links of matched pairs, right when in the "
        "sentence gold. Pair reliability: every verified "
        "candidate, right when a gold pair. *Seeds shuffled in*: the five seed reports "
        "are matched inside every set; the pairs found with a seed (only 001-004 with 8 "
        "links is right), the set scored without them. ECE: expected calibration error over ten "
        "equal-width bins. *s*: match time, vectors from a disk cache after the first run.",
        "",
    )
    seed_reports = read_documents([SEEDS])
    results: list[Result] = []
    for model in models:
        encoder = DiskCachedEncoder(load_encoder(model))
        for name in SETS:
            for langs in pairs:
                for seed in seeds:
                    dataset = datasets.generate(sources[name], name, seed, langs=langs)
                    pair = "-".join(langs)
                    print(f"heldout: {name} {pair} seed {seed} with {model} ...", flush=True)
                    results.append(evaluate(dataset, encoder, model, seed_reports))
                    encoder.save()
    section.table(
        ["set", "pair", "seed", "encoder", "pair P", "pair R", "pair F1", "distractors matched",
         "strict F1", "lax F1", "strict F1, line gold", "link ECE", "pair ECE",
         "seeds shuffled in: pairs", "s"],
        [
            (r.name, r.pair, r.seed, r.encoder, *prf(r.pairs),
             f"{r.distractors_matched}/{r.distractors}", r.strict.f1, r.lax.f1,
             r.strict_lines.f1, r.links.ece(), r.candidates.ece(), _seed_pairs(r.seed_pairs),
             r.seconds)
            for r in results
        ],
    )  # fmt: skip
    if len(pairs) > 1:
        section.add("ECE of each language pair, pooled over sets and seeds:", "")
        rows = []
        for model in models:
            for langs in pairs:
                mine = [r for r in results if r.encoder == model and r.pair == "-".join(langs)]
                links = Reliability.pooled([r.links for r in mine])
                candidates = Reliability.pooled([r.candidates for r in mine])
                rows.append(
                    ("-".join(langs), model, len(links.scores), links.ece(),
                     len(candidates.scores), candidates.ece())
                )  # fmt: skip
        section.table(["pair", "encoder", "links", "link ECE", "candidates", "pair ECE"], rows)
    for model in models:
        mine = [r for r in results if r.encoder == model]
        links = Reliability.pooled([r.links for r in mine])
        candidates = Reliability.pooled([r.candidates for r in mine])
        for what, rel in (("link", links), ("pair", candidates)):
            section.add(f"### {what} scores of {model}: ECE {rel.ece():.3f}", "")
            section.table(
                ["score bin", "count", "mean score", "share right"], rel.table()
            )  # fmt: skip
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(HELD_OUT_SEEDS))
    parser.add_argument("--models", nargs="+", default=["builtin", "e5"])
    parser.add_argument(
        "--pairs",
        nargs="+",
        type=datasets.parse_pair,
        default=None,
        help="language pairs, source-target (default: fa-ar fa-en ar-en when the data has "
        "the English side, else fa-ar)",
    )
    args = parser.parse_args(argv)
    section = run(args.data, args.seeds, args.models, args.pairs)
    print("\n".join(section.lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
