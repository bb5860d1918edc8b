"""Vectors of documents, sentences and sentence windows for one encoder and one run.

Every text is encoded at most once per run (kept in one byte-bounded cache, by text) and
centred on the fixed centre of its language (`EncoderStats.centre`): what all sentences of
a language share says nothing about which sentence translates which. Centres come with the
encoder, never from the batch, so a document's vectors do not depend on what else is in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aligner.cache import LRUCache
from aligner.encoders.base import Encoder, l2_normalize, segment_sums
from aligner.encoders.stats import EncoderStats
from aligner.resources import CACHE_BYTES
from aligner.types import PreparedDocument


def text_bytes(text: str, vector: np.ndarray) -> int:
    """What a text's vector holds in the cache, roughly."""
    return vector.nbytes + len(text)


def recenter(vectors: np.ndarray, center: np.ndarray | None) -> np.ndarray:
    """Subtract a language's centre and renormalise (no centre: unchanged)."""
    if center is None or not len(vectors):
        return vectors
    shifted = np.subtract(vectors, center[None, :], dtype=np.float32)
    return l2_normalize(shifted, inplace=True)


def window_texts(texts: Sequence[str], size: int, starts: Sequence[int]) -> list[str]:
    return [" ".join(texts[i : i + size]) for i in starts]


class Embedder:
    """An encoder with its fitted statistics and this run's cache of encodings."""

    def __init__(
        self,
        encoder: Encoder,
        stats: EncoderStats | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.encoder = encoder
        self.stats = stats
        self.cache: LRUCache[str, np.ndarray] = LRUCache(max_bytes=cache_bytes, size=text_bytes)
        self.encoded = 0  # texts sent to the encoder (for measurement)

    @classmethod
    def for_encoder(cls, encoder: Encoder, cache_bytes: int = CACHE_BYTES) -> Embedder:
        return cls(encoder, encoder.statistics(), cache_bytes)

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def centre(self, lang: str) -> np.ndarray | None:
        return self.stats.centre(lang) if self.stats is not None else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts`, each distinct text encoded once per run."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            vector = self.cache.get(text)
            if vector is None:
                missing.setdefault(text, []).append(row)
            else:
                out[row] = vector
        if missing:
            new = list(missing)
            vectors = self.encoder.encode(new)
            self.encoded += len(new)
            for text, vector in zip(new, vectors):
                out[missing[text]] = vector
                self.cache.put(text, vector)
        return out

    def centred(self, texts: Sequence[str], lang: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return recenter(self.encode(texts), self.centre(lang))

    def sentences(self, doc: PreparedDocument) -> np.ndarray:
        """The document's centred sentence vectors."""
        return self.centred(doc.texts(), doc.lang)

    def windows(self, doc: PreparedDocument, size: int, starts: Sequence[int]) -> np.ndarray:
        """Centred vectors of the windows of `size` sentences starting at `starts`, each
        encoded as one text (joined with a space)."""
        return self.centred(window_texts(doc.texts(), size, starts), doc.lang)

    def all_windows(self, doc: PreparedDocument, max_group: int) -> list[np.ndarray]:
        """Every window of 1..max_group sentences, centred: for encoders whose windows are
        cheap (`Encoder.cheap_windows`), in one call."""
        if self.encoder.cheap_windows:
            windows = self.encoder.encode_windows(doc.texts(), max_group)
            return [recenter(w, self.centre(doc.lang)) for w in windows]
        n = len(doc.sentences)
        return [self.windows(doc, k, range(n - k + 1)) for k in range(1, max_group + 1)]

    def document_vectors(self, docs: Sequence[PreparedDocument]) -> np.ndarray:
        """One unit vector per document (`mean_of_documents` of its centred sentence
        vectors). All sentences go to the encoder in one call."""
        texts = [t for doc in docs for t in doc.texts()]
        vectors = self.encode(texts) if texts else np.zeros((0, self.dim), np.float32)
        counts = np.array([len(doc.sentences) for doc in docs], dtype=np.int64)
        ends = np.cumsum(counts)
        centred = [
            recenter(vectors[end - count : end], self.centre(doc.lang))
            for doc, count, end in zip(docs, counts, ends)
        ]
        matrix = np.concatenate(centred) if texts else vectors
        return mean_of_documents(matrix, counts)


def mean_of_documents(vectors: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The one document vector, of `match` and of the archive alike: each document's mean
    of its `counts` consecutive rows of `vectors` (its centred unit sentence vectors),
    renormalised; zero for a document without rows."""
    # (a tenth of the prepare worker's time with np.add.reduceat: see segment_sums)
    out = segment_sums(vectors, counts.tolist())
    out /= np.maximum(counts, 1).astype(np.float32)[:, None]
    return l2_normalize(out, inplace=True)
