"""An encoder wrapper that keeps every vector on disk, so that fitting and benchmarking a
slow encoder (e5: tens of sentences a second on 2 cores) encodes each text once across
runs. Same identity as the wrapped encoder: the vectors are the same."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.base import Encoder

CACHE_DIR = Path(__file__).resolve().parent / ".cache"


class DiskCachedEncoder(Encoder):
    def __init__(self, inner: Encoder, folder: Path = CACHE_DIR) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        digest = hashlib.sha256(inner.identity_key().encode()).hexdigest()[:16]
        self.path = folder / f"{inner.identity.get('kind', 'encoder')}-{digest}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        self.encoded = 0  # texts the wrapped encoder was asked for (not found in the cache)
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                texts = json.loads(str(data["texts"]))
                self._vectors = dict(zip(texts, data["vectors"]))

    @property
    def identity(self) -> dict[str, Any]:
        return self.inner.identity

    @property
    def cheap_windows(self) -> bool:
        return self.inner.cheap_windows

    def encode_windows(self, texts: Sequence[str], max_group: int) -> list[np.ndarray]:
        if self.inner.cheap_windows:
            return self.inner.encode_windows(texts, max_group)
        return super().encode_windows(texts, max_group)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.inner.cheap_windows:  # not worth a disk cache
            return self.inner.encode(texts, batch_size)
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self.encoded += len(missing)
            for text, vector in zip(missing, self.inner.encode(missing, batch_size)):
                self._vectors[text] = vector
            self._dirty = True
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._vectors[text]
        return out

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._vectors)
        temp = self.path.with_suffix(".tmp.npz")
        np.savez(
            temp,
            texts=np.array(json.dumps(texts, ensure_ascii=False)),
            vectors=np.stack([self._vectors[t] for t in texts]).astype(np.float32),
        )
        temp.replace(self.path)
        self._dirty = False
