"""Document matching across languages: which report in one language is which in another.

1. Retrieval: every document becomes one vector (the mean of its centred sentence vectors);
   a FAISS inner-product index finds each document's nearest documents in the other
   language, scored with the margin criterion of LASER bitext mining, which corrects for
   "hub" documents that are near everything. Retrieval only chooses which pairs get a
   verdict: with few documents, every pair does.
2. Verification (`aligner.verify`): each candidate gets the verdict of its two documents
   alone. Two reports of *different* phone calls between the same presidents share a topic
   and a vocabulary, so their document vectors are close, but their sentences do not
   translate each other, so few links form and the pair is rejected.
3. Assignment: accepted pairs are taken best first, each document at most once per pair of
   languages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from aligner.alignment import AlignParams
from aligner.embedding import Embedder
from aligner.langid import UNDETERMINED
from aligner.types import DocumentPair, PreparedDocument
from aligner.verify import VerifyParams, verify_pair


@dataclass(frozen=True)
class MatchParams:
    candidates: int = 4  # nearest documents retrieved per document, each direction
    neighbours: int = 4  # k of the k-nearest-neighbour margin
    # every pair is verified when there are at most this many (a small input: one report
    # and its translation, or a handful)
    verify_all_below: int = 64
    one_to_one: bool = True
    verify: VerifyParams = field(default_factory=VerifyParams)


@dataclass
class MatchOutcome:
    """The matched pairs, and the verified candidates that were not matched (rejected, or
    accepted but beaten to one of their documents by a better pair)."""

    pairs: list[DocumentPair]
    rejected: list[DocumentPair]


def language_pairs(
    docs: Sequence[PreparedDocument], src_lang: str | None = None, tgt_lang: str | None = None
) -> list[tuple[str, str]]:
    """The (source, target) language pairs to match. Languages are ordered by first
    appearance in the input, so `fa.txt ar.txt` gives fa -> ar."""
    order: list[str] = []
    for doc in docs:
        if doc.lang not in order and doc.lang != UNDETERMINED:
            order.append(doc.lang)
    if src_lang and tgt_lang:  # never (a, a): a document would be paired with itself
        return [(src_lang, tgt_lang)] if src_lang != tgt_lang else []
    if src_lang:
        return [(src_lang, other) for other in order if other != src_lang]
    if tgt_lang:
        return [(other, tgt_lang) for other in order if other != tgt_lang]
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]


def match_documents(
    docs: Sequence[PreparedDocument],
    embedder: Embedder,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    params: MatchParams | None = None,
    align_params: AlignParams | None = None,
    doc_vectors: dict[str, np.ndarray] | None = None,
) -> MatchOutcome:
    """Find the document pairs that report the same thing, with their sentence alignment."""
    params = params or MatchParams()
    align_params = align_params or AlignParams()
    if doc_vectors is None:
        with_text = [d for d in docs if d.sentences]
        doc_vectors = dict(zip((d.id for d in with_text), embedder.document_vectors(with_text)))
    outcome = MatchOutcome([], [])
    for src, tgt in language_pairs(docs, src_lang, tgt_lang):
        if src == tgt:
            continue  # same-language duplicates are `aligner dedup`'s job
        src_docs = [d for d in docs if d.lang == src and d.sentences]
        tgt_docs = [d for d in docs if d.lang == tgt and d.sentences]
        if not src_docs or not tgt_docs:
            continue
        candidates = retrieve_candidates(src_docs, tgt_docs, doc_vectors, params)
        verified = [
            verify_pair(s, t, embedder, align_params, params.verify, retrieval)
            for (s, t), retrieval in _in_order(candidates, src_docs, tgt_docs)
        ]
        chosen_pairs = assign(verified, params.one_to_one)
        chosen = {id(p) for p in chosen_pairs}
        outcome.pairs.extend(chosen_pairs)
        outcome.rejected.extend(p for p in verified if id(p) not in chosen)
    return outcome


def _in_order(
    candidates: dict[tuple[int, int], float],
    src_docs: list[PreparedDocument],
    tgt_docs: list[PreparedDocument],
) -> list[tuple[tuple[PreparedDocument, PreparedDocument], float]]:
    return [
        ((src_docs[i], tgt_docs[j]), score)
        for (i, j), score in sorted(
            candidates.items(), key=lambda kv: (src_docs[kv[0][0]].id, tgt_docs[kv[0][1]].id)
        )
    ]


def assign(verified: list[DocumentPair], one_to_one: bool = True) -> list[DocumentPair]:
    """The accepted pairs, best first, each document at most once (with `one_to_one`)."""
    accepted = [p for p in verified if p.verdict is None or p.verdict.accepted]
    accepted.sort(key=lambda p: (-p.score, p.src.id, p.tgt.id))
    if not one_to_one:
        return accepted
    taken: set[str] = set()
    chosen = []
    for pair in accepted:
        if pair.src.id not in taken and pair.tgt.id not in taken:
            chosen.append(pair)
            taken.update((pair.src.id, pair.tgt.id))
    return chosen


def retrieve_candidates(
    src_docs: list[PreparedDocument],
    tgt_docs: list[PreparedDocument],
    doc_vectors: dict[str, np.ndarray],
    params: MatchParams,
) -> dict[tuple[int, int], float]:
    """Candidate pairs (positions in src_docs, tgt_docs) with their margin scores (the
    pair's cosine less its neighbourhood's, as in LASER mining): every pair of a small
    input, else FAISS nearest neighbours in both directions."""
    src_vectors = np.stack([doc_vectors[d.id] for d in src_docs])
    tgt_vectors = np.stack([doc_vectors[d.id] for d in tgt_docs])
    k_margin = min(params.neighbours, len(src_docs), len(tgt_docs))
    src_neigh = _knn(src_vectors, tgt_vectors, k_margin)[0].mean(axis=1)
    tgt_neigh = _knn(tgt_vectors, src_vectors, k_margin)[0].mean(axis=1)

    def margin(i: int, j: int) -> float:
        cosine = float(src_vectors[i] @ tgt_vectors[j])
        return cosine - 0.5 * float(src_neigh[i] + tgt_neigh[j])

    if len(src_docs) * len(tgt_docs) <= params.verify_all_below:
        return {(i, j): margin(i, j) for i in range(len(src_docs)) for j in range(len(tgt_docs))}
    candidates: dict[tuple[int, int], float] = {}
    _, forward = _knn(src_vectors, tgt_vectors, min(params.candidates, len(tgt_docs)))
    for i, row in enumerate(forward):
        for j in row:
            candidates[(i, int(j))] = margin(i, int(j))
    _, backward = _knn(tgt_vectors, src_vectors, min(params.candidates, len(src_docs)))
    for j, row in enumerate(backward):
        for i in row:
            candidates[(int(i), j)] = margin(int(i), j)
    return candidates


def _knn(query: np.ndarray, pool: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(pool.shape[1])
    index.add(np.ascontiguousarray(pool, dtype=np.float32))
    return index.search(np.ascontiguousarray(query, dtype=np.float32), k)
