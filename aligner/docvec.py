"""Small document vectors for archive-scale work, and sentence-level verification of a pair.

At archive scale a document is kept as one short vector (for FAISS candidates) plus its
sentence texts (for verification); sentence vectors are never stored, they are recomputed
for the few pairs that are verified.

A document vector is the mean of its sentence vectors centred on their language (as in
`aligner.match.embed_corpus`), reduced to `dim` columns (see `DocSpace`) in one of two ways:

- "pca": the 4096-dimensional builtin vector projected on the principal axes of the first
  chunk's document vectors, partly whitened (see `fit_projection`). Measured on the
  benchmark archive (10,000 documents, 512 dimensions, the original of a planted
  translation among the other language's documents of other stories): top-10 for 97% of
  translations, 94% without whitening, 99% with the whole 4096-dimensional vectors
  (which would take eight times the memory); same-language copies are found either way.
- "hash": the same n-grams hashed into `dim` buckets, which is what folding the big vector
  by summing blocks of columns amounts to. No fitted state; used when the first chunk is too
  small to fit a projection (fewer than 2 x dim documents; `FIT_DOCS` x dim are read
  first when the input has them), and for dense models' vectors
  (kept whole: their dimensions cannot be folded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aligner.embedding import mean_of_documents
from aligner.encoders.base import Encoder, l2_normalize
from aligner.normalize import normalize_many
from aligner.types import Document, PreparedDocument, Sentence


def doc_dim_for(encoder: Encoder, requested: int) -> int:
    """The stored document dimension: smaller than the sentence vectors for an encoder
    whose vectors fold (`Encoder.with_dim`: the hashed builtin one)."""
    if requested < encoder.dim and encoder.with_dim(requested) is not None:
        return requested
    return encoder.dim


def document_encoder(encoder: Encoder, dim: int) -> Encoder:
    """The encoder of document vectors: the same encoder at `dim` where it folds, else as
    it is."""
    return encoder.with_dim(dim) or encoder


FIT_DOCS = 4  # documents per dimension the projection is fitted on, when there are enough


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
    sketch: np.ndarray | None = None  # (encoder.dim, SKETCH_DIM), fitted with "pca"

    def embed(
        self,
        docs: Sequence[PreparedDocument],
        encoder: Encoder,
        features_out: list[np.ndarray] | None = None,
        sketches_out: list[np.ndarray | None] | None = None,
        encode: Callable[[Sequence[str]], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Document vectors of `docs`. With `features_out` (and the builtin encoder at full
        dimension, as "pca" uses it), each document's raw sentence features are appended
        to it, float16: dedup verification reuses them instead of encoding again. With
        `sketches_out`, each document's sentence sketches (see `sentence_sketches`), or
        None where the space has no sketch projection. `encode` gives the unit vectors of
        sentences at the encoder's own dimension (a run's `Embedder.encode`, which has
        them already) in place of encoding them again."""
        if not self.kind:
            wants_pca = self.dim < encoder.dim  # (only an encoder that folds: doc_dim_for)
            self.kind = "pca" if wants_pca and len(docs) >= 2 * self.dim else "hash"
        if self.kind == "hash":
            if sketches_out is not None:
                sketches_out.extend([None] * len(docs))
            folded = document_encoder(encoder, self.dim)
            return embed_documents(
                docs, folded, self.centers, encode=encode if folded is encoder else None
            )
        matrix, counts = centred_sentences(
            docs, encoder, self.sentence_centers, features_out, encode
        )
        full = mean_of_documents(matrix, counts)
        if self.projection is None:
            self.projection = fit_projection(full, self.dim)
            if len(matrix) >= 2 * SKETCH_DIM:
                rng = np.random.default_rng(0)
                sample = rng.choice(len(matrix), min(len(matrix), _SKETCH_FIT), replace=False)
                self.sketch = fit_projection(matrix[np.sort(sample)], SKETCH_DIM)
        if sketches_out is not None and self.sketch is None:
            sketches_out.extend([None] * len(docs))
        elif sketches_out is not None and len(docs):
            # one product for the chunk: per document, the small products cost twice as much
            sketched = sentence_sketches(matrix, self.sketch)
            ends = np.cumsum(counts)
            sketches_out.extend(part.copy() for part in np.split(sketched, ends[:-1]))
        return l2_normalize(full @ self.projection)


# Sentence sketches: the centred sentence vectors through a whitened PCA of the first
# chunk's sentences, stored with each document (float16, 512 bytes a sentence), so that the
# screen before alignment needs no encoding of the candidate (see aligner.dedup). On the
# benchmark archive's verified pairs, 256 dimensions keep 17% of the false other-language
# candidates at 99% recall of the true ones (the full 4096: 10%; 128: 55%).
SKETCH_DIM = 256
_SKETCH_FIT = 3000  # sentences the sketch projection is fitted on


def sentence_sketches(centred: np.ndarray, sketch: np.ndarray) -> np.ndarray:
    """(n, SKETCH_DIM) float16 unit rows from centred sentence vectors."""
    if not len(centred):
        return np.zeros((0, sketch.shape[1]), np.float16)
    return l2_normalize(centred @ sketch).astype(np.float16)


def fit_projection(vectors: np.ndarray, dim: int, whiten: float = 0.5) -> np.ndarray:
    """The `dim` principal axes of document vectors, as a (D, dim) float32 matrix (no
    mean removal: the vectors are already centred per language), axis i scaled by
    sigma_i ** -whiten (sigma_i: its singular value). The strongest axes are mostly what
    the documents of one language share; what ties a translation to its original lies
    in weaker ones, and damping the strong ones brings it forward (whiten 0.5: top-3
    retrieval of translations 87% -> 93%; 1.0, full whitening, amplifies noise: 86%).
    Computed from the n x n Gram matrix (n documents < D dimensions): seconds, where a full
    SVD took half a minute."""
    x = vectors.astype(np.float64)
    values, u = np.linalg.eigh(x @ x.T)
    top = np.argsort(values)[::-1][:dim]
    sigma = np.sqrt(np.maximum(values[top], 0.0))
    # Components with (next to) no variance are rounding noise, which an axis normalised by
    # its tiny sigma would blow up: dropped. The whitening gain is capped for the same reason.
    real = sigma > 1e-6 * sigma.max()
    axes = np.zeros((x.shape[1], len(top)))
    axes[:, real] = x.T @ u[:, top[real]] / sigma[real]
    axes *= np.maximum(sigma, 1e-2 * sigma.max()) ** -whiten
    return np.ascontiguousarray(axes, dtype=np.float32)


def encode_sentences(texts: Sequence[str], encoder: Encoder) -> np.ndarray:
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return encoder.encode(list(texts), batch_size=encoder.throughput_batch)


def language_centers(
    texts_by_lang: dict[str, list[str]], encoder: Encoder, known: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The centre of each language not in `known` (see `language_centre`), encoding its
    texts only where the encoder has no fitted centre."""
    return {
        lang: language_centre(encoder, lang, lambda texts=texts: encode_sentences(texts, encoder))
        for lang, texts in texts_by_lang.items()
        if lang not in known and texts
    }


def fitted_centre(encoder: Encoder, lang: str) -> np.ndarray | None:
    """The centre fitted with the encoder for this language (what `Embedder` centres on),
    None for a language it was not fitted on."""
    stats = encoder.statistics()
    centre = stats.centres.get(lang) if stats is not None else None
    return centre if centre is not None and centre.shape == (encoder.dim,) else None


def language_centre(encoder: Encoder, lang: str, sentences: Callable[[], np.ndarray]) -> np.ndarray:
    """A language's centre for document vectors: the encoder's fitted one where it has one,
    so that a document's vector does not depend on the archive it is in; else the mean of
    `sentences()`, its sentence vectors, computed only then (a store learns it from its
    first documents of the language and keeps it, so that all its vectors stay
    comparable)."""
    fitted = fitted_centre(encoder, lang)
    return fitted if fitted is not None else sentences().mean(axis=0).astype(np.float32)


def embed_documents(
    docs: Sequence[PreparedDocument],
    encoder: Encoder,
    centers: dict[str, np.ndarray],
    features_out: list[np.ndarray] | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> np.ndarray:
    """Document vectors (len(docs), encoder.dim): the mean of the centred sentence vectors,
    renormalised. A language without a centre in `centers` gets one from these documents
    (added to `centers`: the caller stores it, so that later vectors stay comparable).
    Documents without sentences get a zero vector. See `DocSpace.embed` for
    `features_out` and `encode`."""
    vectors, counts = centred_sentences(docs, encoder, centers, features_out, encode)
    return mean_of_documents(vectors, counts)


def centred_sentences(
    docs: Sequence[PreparedDocument],
    encoder: Encoder,
    centers: dict[str, np.ndarray],
    features_out: list[np.ndarray] | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The centred sentence vectors of all `docs`, one matrix in document order, and the
    number of rows of each document (see `embed_documents`)."""
    counts = np.array([len(d.sentences) for d in docs], dtype=np.int64)
    texts = [t for d in docs for t in d.texts()]
    if features_out is not None and encoder.additive:
        features = sentence_features(texts, encoder)
        # one conversion for the chunk; each document gets a view of it
        half = features.astype(np.float16)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        features_out.extend(half[offsets[i] : offsets[i + 1]] for i in range(len(docs)))
        vectors = l2_normalize(features, inplace=True)
    elif encode is not None and texts:
        vectors = np.array(encode(texts), dtype=np.float32)  # a copy: centred in place below
    else:
        vectors = encode_sentences(texts, encoder)
    langs = [d.lang for d in docs]
    sentence_langs = np.repeat(np.array(langs, dtype=object), counts)
    for lang in sorted(set(langs)):
        rows = sentence_langs == lang
        if not rows.any():
            continue
        if lang not in centers:
            centers[lang] = language_centre(encoder, lang, lambda m=vectors, r=rows: m[r])
        # in place (what `recenter` does, without copying the rows out and back: the
        # matrix is tens of megabytes a chunk); normalised once below
        if rows.all():
            vectors -= centers[lang]
        else:
            np.subtract(vectors, centers[lang], out=vectors, where=rows[:, None])
    return l2_normalize(vectors, inplace=True), counts


def sentence_features(texts: Sequence[str], encoder: Encoder) -> np.ndarray:
    """Raw features of an additive encoder (`Encoder.features`)."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return encoder.features(list(texts), batch_size=encoder.throughput_batch)


def prepared_from_texts(doc_id: str, lang: str, texts: Sequence[str]) -> PreparedDocument:
    """A PreparedDocument rebuilt from stored sentence texts (enough for verification)."""
    norms = normalize_many(texts)
    sentences = tuple(Sentence(i, t, n) for i, (t, n) in enumerate(zip(texts, norms)))
    return PreparedDocument(Document(doc_id, "\n".join(texts), lang), lang, sentences)
