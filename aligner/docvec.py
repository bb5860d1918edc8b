"""Small document vectors for archive-scale work, and sentence-level verification of a pair.

At archive scale a document is kept as one short vector (for FAISS candidates) plus its
sentence texts (for verification); sentence vectors are never stored, they are recomputed
for the few pairs that are verified.

A document vector is the mean of its sentence vectors centred on their language (as in
`aligner.match.embed_corpus`), reduced to `dim` columns (see `DocSpace`) in one of two ways:

- "pca": the 4096-dimensional builtin vector projected on the principal axes of the first
  chunk's document vectors. Measured on the benchmark archive (10,000 documents, 512
  dimensions): a Persian/Arabic translation is among the 3 nearest documents of the other
  language for 48% of the planted translations, against 26% when folding; same-language
  copies are found either way.
- "hash": the same n-grams hashed into `dim` buckets, which is what folding the big vector
  by summing blocks of columns amounts to. No fitted state; used when the first chunk is too
  small to fit a projection (fewer than 2 x dim documents), and for dense models' vectors
  (kept whole: their dimensions cannot be folded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aligner.align import (
    AlignParams,
    Background,
    SideEmbeddings,
    align_embeddings,
    background_from_samples,
    embed_side,
    recenter,
)
from aligner.encoders.base import Encoder, l2_normalize
from aligner.encoders.builtin import BuiltinEncoder
from aligner.match import same_event_score
from aligner.normalize import normalize
from aligner.types import Alignment, Document, PreparedDocument, Sentence

# The builtin encoder's cost is dominated by one bincount over batch*dim cells: smaller
# batches than its default are faster (measured: 9k vs 7k sentences/s at dim 4096).
_BUILTIN_BATCH = 256


def doc_dim_for(encoder: Encoder, requested: int) -> int:
    """The stored document dimension: smaller than the sentence vectors for the hashed
    builtin encoder only (a dense model's dimensions cannot be folded)."""
    if isinstance(encoder, BuiltinEncoder) and requested < encoder.dim:
        return requested
    return encoder.dim


def document_encoder(encoder: Encoder, dim: int) -> Encoder:
    """The encoder of document vectors: for builtin, the same features hashed into `dim`
    buckets (what folding the big vector by summing blocks amounts to, but several times
    faster to compute); any other encoder as it is."""
    if isinstance(encoder, BuiltinEncoder) and dim != encoder.dim:
        return BuiltinEncoder(
            dim=dim,
            ngram_range=encoder.ngram_range,
            skeleton_ngram_range=encoder.skeleton_ngram_range,
            skeleton_weight=encoder.skeleton_weight,
            cross_word=encoder.cross_word,
        )
    return encoder


@dataclass
class DocSpace:
    """How one store makes document vectors: the reducer ("pca", "hash", or "" while
    undecided), its projection, and the language centres (of the document encoder for
    "hash", of the sentence encoder for "pca"; the sentence centres also serve
    verification). New centres and the projection are stored with the next commit, so that
    every later vector is comparable."""

    dim: int
    kind: str = ""
    projection: np.ndarray | None = None  # (encoder.dim, dim) for "pca"
    centers: dict[str, np.ndarray] = field(default_factory=dict)
    sentence_centers: dict[str, np.ndarray] = field(default_factory=dict)

    def embed(self, docs: Sequence[PreparedDocument], encoder: Encoder) -> np.ndarray:
        if not self.kind:
            wants_pca = isinstance(encoder, BuiltinEncoder) and self.dim < encoder.dim
            self.kind = "pca" if wants_pca and len(docs) >= 2 * self.dim else "hash"
        if self.kind == "hash":
            return embed_documents(docs, document_encoder(encoder, self.dim), self.centers)
        full = embed_documents(docs, encoder, self.sentence_centers)
        if self.projection is None:
            self.projection = fit_projection(full, self.dim)
        return l2_normalize(full @ self.projection)


def fit_projection(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The `dim` principal axes of document vectors, as a (D, dim) float32 matrix (no
    mean removal: the vectors are already centred per language). Computed from the n x n
    Gram matrix (n documents < D dimensions): seconds, where a full SVD took half a minute."""
    x = vectors.astype(np.float64)
    values, u = np.linalg.eigh(x @ x.T)
    top = np.argsort(values)[::-1][:dim]
    axes = x.T @ u[:, top] / np.sqrt(np.maximum(values[top], 1e-12))
    return np.ascontiguousarray(axes, dtype=np.float32)


def fold(vectors: np.ndarray, dim: int) -> np.ndarray:
    """(n, D) -> (n, dim) by summing the D/dim blocks of columns, rows renormalised."""
    n, big = vectors.shape
    if big != dim:
        vectors = vectors.reshape(n, big // dim, dim).sum(axis=1)
    return l2_normalize(np.ascontiguousarray(vectors, dtype=np.float32))


def encode_sentences(texts: Sequence[str], encoder: Encoder) -> np.ndarray:
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    batch = _BUILTIN_BATCH if isinstance(encoder, BuiltinEncoder) else None
    return encoder.encode(list(texts), batch_size=batch)


def language_centers(
    texts_by_lang: dict[str, list[str]], encoder: Encoder, known: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Mean sentence vector of each language not in `known` (what `recenter` removes)."""
    return {
        lang: encode_sentences(texts, encoder).mean(axis=0).astype(np.float32)
        for lang, texts in texts_by_lang.items()
        if lang not in known and texts
    }


def embed_documents(
    docs: Sequence[PreparedDocument], encoder: Encoder, centers: dict[str, np.ndarray]
) -> np.ndarray:
    """Document vectors (len(docs), encoder.dim): the mean of the centred sentence vectors,
    renormalised. A language without a centre in `centers` gets one from these documents
    (added to `centers`: the caller stores it, so that later vectors stay comparable).
    Documents without sentences get a zero vector."""
    counts = np.array([len(d.sentences) for d in docs], dtype=np.int64)
    vectors = encode_sentences([t for d in docs for t in d.texts()], encoder)
    langs = np.array([d.lang for d in docs], dtype=object)
    sentence_langs = np.repeat(langs, counts)
    for lang in sorted(set(langs.tolist())):
        rows = sentence_langs == lang
        if not rows.any():
            continue
        if lang not in centers:
            centers[lang] = vectors[rows].mean(axis=0).astype(np.float32)
        vectors[rows] = recenter(vectors[rows], centers[lang])
    out = np.zeros((len(docs), encoder.dim), dtype=np.float32)
    has = counts > 0
    if has.any():
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[has] = np.add.reduceat(vectors, starts[has], axis=0) / counts[has, None]
    return l2_normalize(out)


def sentence_background(
    a: np.ndarray, b: np.ndarray, sample: int = 20000, seed: int = 0
) -> Background | None:
    """Similarity of random sentence pairs (centred vectors), as in `aligner.match`; None
    when there are too few sentences to say."""
    if len(a) < 8 or len(b) < 8:
        return None
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(a), sample)
    j = rng.integers(0, len(b), sample)
    # in slices: a[i] for 20,000 rows of dimension 4096 would be 330 MB at once
    sims = np.concatenate(
        [
            np.einsum("ij,ij->i", a[i[s : s + 1000]], b[j[s : s + 1000]])
            for s in range(0, sample, 1000)
        ]
    )
    # one spread for every link type, from 1-1 pairs (the shared floor and fallbacks)
    return background_from_samples({(1, 1): sims})


def prepared_from_texts(doc_id: str, lang: str, texts: Sequence[str]) -> PreparedDocument:
    """A PreparedDocument rebuilt from stored sentence texts (enough for verification)."""
    sentences = tuple(Sentence(i, t, normalize(t)) for i, t in enumerate(texts))
    return PreparedDocument(Document(doc_id, "\n".join(texts), lang), lang, sentences)


def embed_for_alignment(
    doc: PreparedDocument, encoder: Encoder, centers: dict[str, np.ndarray], params: AlignParams
) -> SideEmbeddings:
    return embed_side(doc.texts(), encoder, params.max_group, centers.get(doc.lang))


def coverage_bound(
    a_vectors: np.ndarray,
    a: PreparedDocument,
    b_vectors: np.ndarray,
    b: PreparedDocument,
    background: Background,
    params: AlignParams,
    slack: float = 0.0,
) -> float:
    """A cheap estimate of how high the same-event score can be, from single sentences
    only: the share of each document (in characters) whose best counterpart beats the
    link threshold less `slack` (z-units). The score is coverage times a link confidence
    below 1, so a pair whose estimate is under the acceptance score is not aligned.
    Not a strict bound (a 2-1 link can cover sentences whose single best match is weak);
    on the benchmark archive slack 0 changed no decision and saved a quarter of the
    alignments."""
    if not len(a_vectors) or not len(b_vectors):
        return 0.0
    z = (a_vectors @ b_vectors.T - background.mean) / background.std
    cut = params.threshold - slack
    len_a = np.array([len(s.norm) for s in a.sentences], dtype=np.float64)
    len_b = np.array([len(s.norm) for s in b.sentences], dtype=np.float64)
    cov_a = float(len_a[z.max(axis=1) > cut].sum() / max(len_a.sum(), 1.0))
    cov_b = float(len_b[z.max(axis=0) > cut].sum() / max(len_b.sum(), 1.0))
    return 0.0 if cov_a + cov_b == 0 else 2 * cov_a * cov_b / (cov_a + cov_b)


def verify_pair(
    a: PreparedDocument,
    side_a: SideEmbeddings,
    b: PreparedDocument,
    side_b: SideEmbeddings,
    background: Background | None,
    params: AlignParams,
) -> tuple[float, int]:
    """Same-event score of two documents from their sentence alignment (the check of
    `aligner.match`), and the number of links."""
    if not a.sentences or not b.sentences:
        return 0.0, 0
    links = align_embeddings(side_a, side_b, params, background=background)
    return same_event_score(Alignment(a, b, tuple(links))), len(links)
