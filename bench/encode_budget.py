"""Encode once: what `match` costs against one encoding pass over its sentences.

    python -m bench.encode_budget [--model e5] [--docs 200]

News-length documents: the TICO-19 reports cut into parallel pieces of 16 sentences (a
news report's length), damaged as the benchmark sets are (seed 0), up to `--docs`. Both
runs start from a fresh encoder in this process (no vector cache on disk or in memory):
first one encoding pass over every sentence of the input, then `match` on the same
documents, which encodes each sentence once more and the multi-sentence windows its
verdicts need (`aligner.embedding.Embedder`). Issue 16's budget: match within 3x the pass.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from aligner.embedding import Embedder
from aligner.encoders import load_encoder
from aligner.match import match_documents
from aligner.prepare import prepare_documents
from aligner.types import PreparedDocument
from bench import datasets
from bench.common import DATA, Section, documents, load_sources

BUDGET = 3.0
NEWS_SENTENCES = 16


def news_documents(data: Path, count: int, size: int = NEWS_SENTENCES) -> list[PreparedDocument]:
    """Up to `count` prepared documents of a damaged set made from the TICO-19 reports cut
    into parallel pieces of `size` sentences."""
    pieces = [
        datasets.SourceDoc(f"{doc.key}-{k}", doc.domain, doc.fa[k : k + size],
                           doc.ar[k : k + size], doc.en[k : k + size])
        for doc in load_sources("tico19", data)
        for k in range(0, len(doc.fa), size)
    ]  # fmt: skip
    dataset = datasets.generate(pieces, "news", 0)
    return prepare_documents(documents(dataset))[:count]


def measure(model: str, docs: Sequence[PreparedDocument]) -> dict[str, float]:
    sentences = [s.text for d in docs for s in d.sentences]
    encoder = load_encoder(model)
    encoder.encode(sentences[:8])  # load the weights before the clock starts
    start = time.perf_counter()
    encoder.encode(sentences)
    one_pass = time.perf_counter() - start
    encoder = load_encoder(model)
    encoder.encode(sentences[:8])
    embedder = Embedder.for_encoder(encoder)
    start = time.perf_counter()
    outcome = match_documents(list(docs), embedder)
    match_seconds = time.perf_counter() - start
    return {
        "documents": len(docs),
        "sentences": len(sentences),
        "pass_s": one_pass,
        "match_s": match_seconds,
        "ratio": match_seconds / one_pass,
        "texts_encoded": embedder.encoded,
        "pairs": len(outcome.pairs),
        "verified": len(outcome.pairs) + len(outcome.rejected),
    }


def run(data: Path = DATA, model: str = "e5", count: int = 200) -> Section:
    section = Section("Encode once: match against one encoding pass")
    docs = news_documents(data, count)
    found = measure(model, docs)
    section.add(
        f"{found['documents']} news-length documents (TICO-19 reports cut into pieces of "
        f"{NEWS_SENTENCES} sentences, damaged as the benchmark sets; {found['sentences']:,} "
        f"sentences), encoder {model}, fresh encoder for each run "
        "(`python -m bench.encode_budget`). *pass*: one encoding of every sentence; "
        "*match*: `match` on the same documents, every encoding included.",
        "",
    )
    section.table(
        ["encoder", "documents", "sentences", "texts encoded by match", "verified pairs",
         "pass s", "match s", "match / pass"],
        [(model, found["documents"], found["sentences"], found["texts_encoded"],
          found["verified"], found["pass_s"], found["match_s"], found["ratio"])],
    )  # fmt: skip
    section.target(
        "match / one encoding pass", f"{found['ratio']:.2f}", f"<= {BUDGET:g}",
        found["ratio"] <= BUDGET,
    )  # fmt: skip
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="e5")
    parser.add_argument("--docs", type=int, default=200)
    args = parser.parse_args(argv)
    print("\n".join(run(args.data, args.model, args.docs).lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
