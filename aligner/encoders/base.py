"""The one interface every encoder implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aligner.encoders.stats import EncoderStats


class Encoder(ABC):
    """Turns sentences into L2-normalised float32 vectors: cosine similarity is a dot product.

    `identity` describes the encoder completely enough that two encoders with equal
    identities produce the same vectors; an index records it and refuses queries from an
    encoder with a different identity.
    """

    name: str
    dim: int

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, rows of unit length (or zero
        for a text with nothing to encode)."""

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """JSON-serialisable description: kind, name, dimension and every parameter."""

    def encode_windows(self, texts: Sequence[str], max_group: int) -> list[np.ndarray]:
        """Vectors of every window of 1..max_group consecutive texts (joined with a space):
        element k-1 has len(texts) - k + 1 rows. Encoders whose features add up (the
        builtin one) override this to encode each text once."""
        windows = [
            [" ".join(texts[i : i + k]) for i in range(len(texts) - k + 1)]
            for k in range(1, max_group + 1)
        ]
        flat = [text for window in windows for text in window]
        vectors = self.encode(flat) if flat else np.zeros((0, self.dim), np.float32)
        out, offset = [], 0
        for window in windows:
            out.append(vectors[offset : offset + len(window)])
            offset += len(window)
        return out

    @property
    def cheap_windows(self) -> bool:
        """Whether `encode_windows` costs about as little as encoding each text once (the
        builtin encoder's features add up). Callers of a costly encoder encode only the
        windows they need."""
        return False

    @property
    def additive(self) -> bool:
        """Whether `features` gives raw features that add up (a window's are the sum of
        its sentences'), so that callers can keep those instead of window vectors."""
        return False

    def features(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Raw, unnormalised features of an `additive` encoder."""
        raise NotImplementedError(f"the {self.name} encoder has no additive features")

    def with_dim(self, dim: int) -> Encoder | None:
        """The same encoder giving `dim`-dimensional vectors, where it can (hashed features
        fold into fewer buckets; a dense model's dimensions cannot): None otherwise."""
        return self if dim == self.dim else None

    @property
    def throughput_batch(self) -> int | None:
        """The batch size at which bulk encoding runs fastest (None: the encoder's own)."""
        return None

    @property
    def crosses_scripts(self) -> bool:
        """Whether the vectors of a text and its translation in another script (Persian and
        English, say) are alike: true of a multilingual model, not of character n-grams."""
        return True

    def statistics(self) -> EncoderStats | None:
        """The statistics fitted for this encoder on development data (language centres,
        unrelated-segment similarities, calibrations), or None when nobody fitted them."""
        from aligner.encoders.stats import shipped_stats

        return shipped_stats(self.identity)

    def identity_key(self) -> str:
        return json.dumps(self.identity, sort_keys=True, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity_key()})"


def describe_identity(identity: dict[str, Any]) -> str:
    """An encoder identity for people: 'builtin (dim 4096)', 'sentence-transformers:
    sentence-transformers/LaBSE (dim 768)' (the kind once when it is also the name)."""
    kind, name = identity.get("kind"), identity.get("name")
    label = str(kind) if name in (None, kind) else f"{kind}:{name}"
    return f"{label} (dim {identity.get('dim')})"


def l2_normalize(matrix: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero (no NaN). With
    `inplace`, a writeable float32 input is scaled where it is (no copy)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if not inplace or not matrix.flags.writeable:
        matrix = matrix.copy()
    # einsum avoids np.linalg.norm's float64 temporaries: a third of the encoder's time
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    norms[norms == 0] = 1.0
    matrix /= norms[:, None]
    return matrix


def segment_sums(vectors: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """The sums of consecutive runs of `counts` rows (a zero row for a count of 0), float32.

    One sum per run rather than np.add.reduceat: along axis 0 that sums each column on its
    own, with a row-wide stride (20x slower for 1,000 documents of 9 rows of 4,096)."""
    out = np.zeros((len(counts), vectors.shape[1]), dtype=np.float32)
    start = 0
    for i, count in enumerate(counts):
        if count:
            np.sum(vectors[start : start + count], axis=0, out=out[i])
        start += count
    return out


def sum_windows(features: np.ndarray, max_group: int) -> list[np.ndarray]:
    """Windows of 1..max_group consecutive rows of additive features, each the normalised
    sum of its rows (what encoding the joined texts gives when no feature spans texts)."""
    features = np.asarray(features, dtype=np.float32)
    out = [l2_normalize(features)]
    window = features
    for k in range(2, max_group + 1):
        # sums of k rows from sums of k-1 (a running cumsum is slower on small matrices)
        window = window[:-1] + features[k - 1 :] if len(window) > 1 else features[:0]
        out.append(l2_normalize(window))
    return out
