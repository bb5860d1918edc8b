"""Fit an encoder's statistics on the development data and ship them with the package.

    python -m bench.calibrate --model e5        # or builtin; from the repository root

What is fitted (docs/calibration.md has the method and the figures):
1. language centres: each language's mean sentence vector, over the sentences of
   FLORES-200 and TICO-19 (fa, ar, en);
2. backgrounds: per ordered language pair and link type (a, b), the mean and spread of the
   similarity of centred windows of a and b sentences drawn from *different* documents,
   and the same pooled over the pairs (for languages nobody fitted);
3. link calibration: a logistic regression of "this link is in the gold alignment" on the
   link's z-score and size, over the links of the gold pairs among the verified candidates
   of the damaged sets of seeds 1-3 (seeds 0, 4 and 5 stay held out for the benchmark);
4. pair calibration: a logistic regression of "these two documents are a gold pair" on the
   verdict's evidence, over the same candidates.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aligner.alignment import AlignParams
from aligner.embedding import Embedder, recenter, window_texts
from aligner.encoders import Encoder, load_encoder
from aligner.encoders.stats import POOLED, POOLED_SAME, EncoderStats, fit_logistic, stats_path
from aligner.match import MatchParams, match_documents
from aligner.prepare import prepare_documents
from aligner.types import DocumentPair
from aligner.verify import PAIR_FEATURES
from bench import datasets
from bench.common import DATA, documents, load_sources, map_gold
from bench.vector_cache import DiskCachedEncoder

FIT_SEEDS = (1, 2, 3)
# Rewrites, not only translations: news agencies drop and add sentences when they rewrite
# a report in another language. The calibration also sees FLORES-200 sets in which a third
# of the sentences lose their counterpart, so that a rewrite's lower coverage and margin
# are not taken for a look-alike's.
REWRITE = datasets.Rates(drop=0.33, merge=0.15)
LANGS = ("fa", "ar", "en")
LINK_FEATURES = ("z", "sentences")
# Nearly separable classes make an unregularised logistic arbitrarily steep, its boundary
# anywhere in the gap; a ridge keeps the probabilities graded across it.
PAIR_L2 = 1.0
# The pair features are recorded in the fitted file (the calibration names them); builtin
# keeps the link probabilities: its look-alikes share names, numbers and loanwords, whose
# character n-grams give their links z-scores as high as a translation's (with
# PAIR_FEATURES its seed look-alikes scored 0.61-0.91, with these at most 0.20), while
# e5's look-alike links look as right as a translation's (0.80-0.86) and only their
# z-scores against the rest of the pair tell them apart (docs/calibration.md).
PAIR_FEATURES_OF = {"builtin": ("coverage", "mean_link_score", "margin", "same_event", "log_links")}


def sentences_by_language(sources: Sequence[datasets.SourceDoc]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {lang: [] for lang in LANGS}
    for doc in sources:
        out["fa"].append(list(doc.fa))
        out["ar"].append(list(doc.ar))
        if doc.en:
            out["en"].append(list(doc.en))
    return out


def fit_centres(
    encoder: Encoder, docs: dict[str, list[list[str]]], per_language: int, rng: random.Random
) -> dict[str, np.ndarray]:
    centres = {}
    for lang, lang_docs in docs.items():
        sentences = [s for doc in lang_docs for s in doc]
        if len(sentences) > per_language:
            sentences = rng.sample(sentences, per_language)
        centres[lang] = encoder.encode(sentences).mean(axis=0).astype(np.float32)
    return centres


def _windows(
    lang_docs: list[list[str]], size: int, count: int, rng: random.Random
) -> tuple[list[str], list[int]]:
    eligible = [i for i, d in enumerate(lang_docs) if len(d) >= size]
    texts, owners = [], []
    for _ in range(count):
        i = rng.choice(eligible)
        start = rng.randrange(len(lang_docs[i]) - size + 1)
        texts.extend(window_texts(lang_docs[i], size, [start]))
        owners.append(i)
    return texts, owners


def fit_backgrounds(
    encoder: Encoder,
    centres: dict[str, np.ndarray],
    docs: dict[str, list[list[str]]],
    per_type: int,
    link_types: Sequence[tuple[int, int]],
    rng: random.Random,
) -> dict[str, dict[tuple[int, int], tuple[float, float]]]:
    """Similarities of windows of different documents (line i of every language is from the
    same document i of the parallel data, so 'different' is by document position)."""
    vectors: dict[tuple[str, int], tuple[np.ndarray, list[int]]] = {}
    for lang in LANGS:
        for size in sorted({a for t in link_types for a in t}):
            texts, owners = _windows(docs[lang], size, per_type, rng)
            vectors[(lang, size)] = (recenter(encoder.encode(texts), centres[lang]), owners)
    backgrounds: dict[str, dict[tuple[int, int], tuple[float, float]]] = {}
    pooled: dict[tuple[bool, tuple[int, int]], list[np.ndarray]] = {}
    for l1 in LANGS:
        for l2 in LANGS:
            # one language with itself too: an archive's near copies are verified by the
            # same verdict, and two unrelated texts of one language are more alike than
            # texts of two (shared function words, script, names)
            table = {}
            for a, b in link_types:
                va, oa = vectors[(l1, a)]
                vb, ob = vectors[(l2, b)]
                sims = va @ vb.T
                different = np.array(oa)[:, None] != np.array(ob)[None, :]
                values = sims[different]
                table[(a, b)] = (float(values.mean()), float(max(values.std(), 0.02)))
                pooled.setdefault((l1 == l2, (a, b)), []).append(values)
            backgrounds[f"{l1}-{l2}"] = table
    for same, key in ((False, POOLED), (True, POOLED_SAME)):
        backgrounds[key] = {
            kind: (float(np.concatenate(v).mean()), float(max(np.concatenate(v).std(), 0.02)))
            for (is_same, kind), v in pooled.items()
            if is_same == same
        }
    return backgrounds


def centres_and_backgrounds(
    encoder: DiskCachedEncoder, data: Path
) -> tuple[dict[str, np.ndarray], dict[str, dict[tuple[int, int], tuple[float, float]]]]:
    """The language centres and backgrounds, from fixed draws (random.Random(0))."""
    rng = random.Random(0)
    sources = [d for name in ("flores200", "tico19") for d in load_sources(name, data)]
    docs = sentences_by_language(sources)
    heavy = not encoder.cheap_windows
    centres = fit_centres(encoder, docs, 1500 if heavy else 100_000, rng)
    backgrounds = fit_backgrounds(
        encoder, centres, docs, 400 if heavy else 2000, AlignParams().link_types(), rng
    )
    encoder.save()
    return centres, backgrounds


def refit_backgrounds(model: str, data: Path = DATA) -> EncoderStats:
    """The shipped statistics with their centres and backgrounds fitted again (the same
    draws as `fit`, so the fitted language pairs come out as they were) and the
    calibrations kept: for adding backgrounds without refitting the calibrations."""
    encoder = DiskCachedEncoder(load_encoder(model))
    shipped = EncoderStats.load(stats_path(encoder.identity))
    _, backgrounds = centres_and_backgrounds(encoder, data)
    for key, table in shipped.backgrounds.items():
        for kind, (mean, std) in table.items():
            new_mean, new_std = backgrounds[key][kind]
            if abs(new_mean - mean) > 1e-4 or abs(new_std - std) > 1e-4:
                raise SystemExit(
                    f"{key} {kind}: {new_mean:.5f}/{new_std:.5f} refitted against "
                    f"{mean:.5f}/{std:.5f} shipped: refit all instead"
                )
    shipped.backgrounds = backgrounds
    return shipped


def link_z(link_score: float, params: AlignParams) -> float:
    """The z-score behind an uncalibrated link score (a logistic of z - threshold)."""
    p = min(max(link_score, 1e-12), 1 - 1e-12)
    return params.threshold + math.log(p / (1 - p))


def candidate_rows(
    dataset: datasets.Dataset, embedder: Embedder, align_params: AlignParams
) -> tuple[list[dict[str, float]], list[bool], list[tuple[DocumentPair, bool, set]]]:
    """Every link of every verified candidate (features, right or not), and every
    candidate with whether it is a gold pair and its gold links."""
    prepared = prepare_documents(documents(dataset))
    by_id = {d.id: d for d in prepared}
    gold = map_gold(dataset, by_id)
    gold_pairs = {frozenset(p) for p in dataset.gold_pairs}
    outcome = match_documents(prepared, embedder, params=MatchParams(), align_params=align_params)
    link_rows, link_labels, pairs = [], [], []
    for pair in outcome.pairs + outcome.rejected:
        key = (pair.src.id, pair.tgt.id)
        # the sentence gold: a row split into k sentences on both sides is k 1-1 links
        gold_links = gold.split_aware.get(key)
        flipped = False
        if gold_links is None and key[::-1] in gold.split_aware:
            gold_links, flipped = gold.split_aware[key[::-1]], True
        right = {(s, t) if not flipped else (t, s) for s, t in (gold_links or [])}
        is_gold = frozenset(key) in gold_pairs
        # Links are exported from accepted pairs, nearly all gold ones: whether a link is
        # right is asked of gold pairs' links (a wrong pair's links are the pair verdict's).
        for link in pair.alignment.links if is_gold else ():
            link_rows.append(
                {"z": link_z(link.score, align_params), "sentences": len(link.src) + len(link.tgt)}
            )
            link_labels.append((link.src, link.tgt) in right)
        pairs.append((pair, is_gold, right))
    return link_rows, link_labels, pairs


def pair_features(pair: DocumentPair, stats: EncoderStats, params: AlignParams) -> dict:
    """The verdict's evidence with link scores recomputed by the fitted link calibration
    (the candidates were verified before it existed)."""
    found = dict(pair.verdict.evidence)
    links = pair.alignment.links
    if links and stats.link_calibration is not None:
        weights = [len(link.src) + len(link.tgt) for link in links]
        probs = [
            stats.link_calibration.probability({"z": link_z(link.score, params), "sentences": w})
            for link, w in zip(links, weights)
        ]
        found["mean_link_score"] = sum(w * p for w, p in zip(weights, probs)) / sum(weights)
        found["same_event"] = found["coverage"] * found["mean_link_score"]
    return found


def fit(
    model: str, data: Path = DATA, seeds: Sequence[int] = FIT_SEEDS, pair_level: bool = True
) -> EncoderStats:
    start = time.perf_counter()
    encoder = DiskCachedEncoder(load_encoder(model))
    align_params = AlignParams()
    sources = {name: load_sources(name, data) for name in ("flores200", "tico19")}
    centres, backgrounds = centres_and_backgrounds(encoder, data)
    stats = EncoderStats(dict(encoder.identity), centres, backgrounds, pair_level=pair_level)
    print(f"centres and backgrounds: {time.perf_counter() - start:.0f}s")

    link_rows, link_labels, candidates = [], [], []
    runs = [(name, seed, None) for name in sources for seed in seeds]
    runs += [("flores200", seed, REWRITE) for seed in seeds]
    for name, seed, rates in runs:
        dataset = datasets.generate(sources[name], name, seed, rates)
        embedder = Embedder(encoder, stats)
        rows, labels, pairs = candidate_rows(dataset, embedder, align_params)
        link_rows += rows
        link_labels += labels
        candidates += pairs
        encoder.save()
        print(f"{name} seed {seed}{' rewrites' if rates else ''}: {len(pairs)} candidates, "
              f"{len(rows)} links, {time.perf_counter() - start:.0f}s")  # fmt: skip
    stats.link_calibration = fit_logistic(link_rows, link_labels, LINK_FEATURES)
    rows = [pair_features(p, stats, align_params) for p, _, _ in candidates]
    features = PAIR_FEATURES_OF.get(str(encoder.identity.get("kind")), PAIR_FEATURES)
    stats.pair_calibration = fit_logistic(rows, [g for _, g, _ in candidates], features, l2=PAIR_L2)
    stats.notes = {
        "fitted_on": "FLORES-200 devtest and TICO-19 (fa, ar, en): centres and backgrounds; "
        f"damaged fa-ar sets of seeds {list(seeds)}, and FLORES-200 rewrite sets (a third "
        "of the sentences without counterpart) of the same seeds: calibrations",
        "links": len(link_rows),
        "right_links": int(sum(link_labels)),
        "candidates": len(candidates),
        "gold_candidates": int(sum(g for _, g, _ in candidates)),
    }
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="e5")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--pair-level", choices=("on", "off"), default="on",
        help="raise the background to each pair's own level before aligning it",
    )  # fmt: skip
    parser.add_argument(
        "--backgrounds-only", action="store_true",
        help="fit the centres and backgrounds again and keep the shipped calibrations",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.backgrounds_only:
        stats = refit_backgrounds(args.model, args.data)
    else:
        stats = fit(args.model, args.data, pair_level=args.pair_level == "on")
    path = stats_path(stats.identity)
    stats.save(path)
    print(f"wrote {path}: {stats.notes}")
    print("link calibration:", stats.link_calibration)
    print("pair calibration:", stats.pair_calibration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
