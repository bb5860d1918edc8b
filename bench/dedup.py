"""A small same-language near-duplicate comparison: MinHash (datasketch) against the builtin
encoder's document vectors.

This is not the benchmark of `aligner dedup` (that one lives in `bench/archive.py`); it only
shows, on real text, what the two ways of spotting republished copies cost and find.

Each FLORES-200 document, in Persian and in Arabic, is one archive entry. A seeded share of
them is republished: the copy gets other page furniture, may lose a sentence and may have
two sentences packed into one. Some other entries borrow two sentences from an original
without being copies (the hard negatives). Gold: (original, copy) pairs. Both methods score
every pair of documents of one language; a pair is predicted above a threshold, and each
method is shown at its own best threshold from a grid (an oracle choice, the same for both).
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aligner.encoders import BuiltinEncoder, l2_normalize
from aligner.normalize import normalize
from aligner.scoring import Scores, score_pairs
from bench import datasets, junk
from bench.common import DATA, Section, Skip, load_sources, prf

COPY_SHARE = 0.3
BORROW_SHARE = 0.1
NUM_PERM = 128
SHINGLE = 3  # words
MINHASH_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
COSINE_GRID = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True)
class Archive:
    lang: str
    ids: list[str]
    texts: list[str]
    gold: list[tuple[str, str]]


def build_archive(sources: Sequence[datasets.SourceDoc], lang: str, seed: int = 0) -> Archive:
    """The archive of one language: entries, their republished copies, and borrowers (a
    document kept out of the archive, carrying two sentences of an entry)."""
    rng = random.Random(seed)
    order = list(range(len(sources)))
    rng.shuffle(order)
    n_hosts = round(BORROW_SHARE * len(sources))
    hosts, entries = order[:n_hosts], sorted(order[n_hosts:])
    ids, texts, gold = [], [], []
    for index in entries:
        src = sources[index]
        sentences = list(getattr(src, lang))
        ids.append(src.key)
        texts.append("\n".join(_dressed(sentences, lang, rng)))
        if rng.random() < COPY_SHARE:
            ids.append(f"{src.key}#copy")
            texts.append("\n".join(_dressed(_republished(sentences, lang, rng), lang, rng)))
            gold.append((src.key, f"{src.key}#copy"))
    for n, host in enumerate(hosts):
        donor = getattr(sources[rng.choice(entries)], lang)
        body = list(getattr(sources[host], lang))
        for sentence in rng.sample(donor, min(2, len(donor))):
            body.insert(rng.randint(0, len(body)), sentence)
        ids.append(f"borrower{n}")
        texts.append("\n".join(_dressed(body, lang, rng)))
    return Archive(lang, ids, texts, gold)


def _republished(sentences: list[str], lang: str, rng: random.Random) -> list[str]:
    """A copy: maybe one sentence fewer, maybe two sentences packed into one."""
    copy = list(sentences)
    if len(copy) >= 3 and rng.random() < 0.5:
        del copy[rng.randrange(len(copy))]
    if len(copy) >= 2 and rng.random() < 0.5:
        k = rng.randrange(len(copy) - 1)
        if datasets.can_merge(copy[k : k + 2]):
            copy[k : k + 2] = [datasets.merge_sentences(copy[k : k + 2], lang)]
    return copy


def _dressed(sentences: list[str], lang: str, rng: random.Random) -> list[str]:
    top = junk.header_lines(lang, rng) if rng.random() < 0.5 else []
    bottom = junk.footer_lines(lang, rng) if rng.random() < 0.5 else []
    return [*top, *sentences, *bottom]


def shingles(text: str) -> set[bytes]:
    words = re.findall(r"\w+", normalize(text))
    if len(words) < SHINGLE:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def minhash_similarities(texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Estimated Jaccard similarity of every pair, and the seconds to make the sketches."""
    from datasketch import MinHash

    start = time.perf_counter()
    sketches = MinHash.bulk([sorted(shingles(t)) for t in texts], num_perm=NUM_PERM)
    seconds = time.perf_counter() - start
    values = np.stack([m.hashvalues for m in sketches])
    sims = np.zeros((len(texts), len(texts)))
    for i in range(len(texts)):
        sims[i] = (values == values[i]).mean(axis=1)
    return sims, seconds


def builtin_similarities(texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Cosine of every pair of document vectors (the mean of the sentence vectors)."""
    encoder = BuiltinEncoder()
    encoder.encode(["warm-up"])
    start = time.perf_counter()
    lines = [[line for line in t.split("\n") if line.strip()] for t in texts]
    vectors = encoder.encode([s for doc in lines for s in doc])
    bounds = np.cumsum([0, *map(len, lines)])
    docs = np.stack([vectors[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])
    docs = l2_normalize(docs)
    seconds = time.perf_counter() - start
    return docs @ docs.T, seconds


def best(archive: Archive, sims: np.ndarray, grid: Sequence[float]) -> tuple[float, Scores]:
    upper = np.triu_indices(len(archive.ids), k=1)
    scored = []
    for threshold in grid:
        keep = sims[upper] >= threshold
        pred = [(archive.ids[i], archive.ids[j]) for i, j in zip(*(u[keep] for u in upper))]
        scored.append((threshold, score_pairs(pred, archive.gold)))
    return max(scored, key=lambda ts: (ts[1].f1, -ts[0]))


def run(data: Path = DATA, quick: bool = False) -> Section:
    section = Section("Near-duplicates in one language: MinHash vs builtin (small)")
    try:
        import datasketch  # noqa: F401

        sources = load_sources("flores200", data)
    except ImportError:
        section.skip("near-duplicates", "datasketch is not installed (pip install datasketch)")
        return section
    except Skip as why:
        section.skip("near-duplicates", str(why))
        return section
    section.add(
        f"Each FLORES-200 document is an archive entry in its language; {COPY_SHARE:.0%} are "
        "republished with other page furniture, maybe one sentence fewer and maybe two "
        f"sentences packed into one; {BORROW_SHARE:.0%} more entries borrow two sentences "
        "from another document without being copies. Every pair of one language is "
        f"scored: MinHash ({NUM_PERM} permutations, word {SHINGLE}-shingles of normalised "
        "text, estimated Jaccard) and the builtin encoder (cosine of mean sentence "
        "vectors), each at its best threshold on a grid (an oracle choice for both). Time: "
        "making the sketches or vectors, not the all-pairs comparison.",
        "",
    )
    rows = []
    for lang in ("fa", "ar"):
        archive = build_archive(sources, lang)
        print(f"dedup: {len(archive.ids)} {lang} documents ...", flush=True)
        for name, measure, grid in (
            ("MinHash (datasketch)", minhash_similarities, MINHASH_GRID),
            ("builtin encoder", builtin_similarities, COSINE_GRID),
        ):
            sims, seconds = measure(archive.texts)
            threshold, scores = best(archive, sims, grid)
            rows.append((lang, name, len(archive.ids), len(archive.gold), threshold,
                         *prf(scores), len(archive.ids) / seconds))  # fmt: skip
    section.table(["lang", "method", "docs", "copies", "threshold", "P", "R", "F1", "docs/s"], rows)
    return section
