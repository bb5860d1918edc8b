"""sentence-transformers models (LaBSE, multilingual MiniLM, ...) by name or local path."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.base import Encoder, l2_normalize
from aligner.errors import AlignerError


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model. Loading never enables remote code: a model that needs
    custom code from its repository is refused rather than executed."""

    def __init__(
        self,
        model: str,
        device: str | None = None,
        batch_size: int = 64,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise AlignerError(
                "sentence-transformers is not installed; install it with "
                "`pip install torch==2.13.0 'aligner[st]'` or use --model builtin"
            ) from exc
        self.name = model
        self.batch_size = batch_size
        self._fingerprint = _local_fingerprint(model)
        try:
            self._model = SentenceTransformer(model, device=device, trust_remote_code=False)
        except Exception as exc:
            where = (
                "local path" if Path(model).exists() else "model name (needs the Hub or a cache)"
            )
            raise AlignerError(
                f"could not load sentence-transformers {where} {model!r}: {exc}"
            ) from exc
        # renamed in sentence-transformers 6; keep older releases working
        model = self._model
        get_dim = getattr(model, "get_embedding_dimension", None)
        get_dim = get_dim or model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            dim = int(self._model.encode(["x"], convert_to_numpy=True).shape[1])
        self.dim = int(dim)
        self.device = str(self._model.device)
        self.prompt = symmetric_prompt(model, getattr(self._model, "prompts", None) or {})

    @property
    def identity(self) -> dict[str, Any]:
        # The device is left out on purpose: the same model gives the same vectors (up to
        # floating point) on CPU and GPU, so an index made on one can be queried on the other.
        identity = {
            "kind": "sentence-transformers",
            "name": self.name,
            "dim": self.dim,
            "fingerprint": self._fingerprint,
        }
        if self.prompt:
            identity["prompt"] = self.prompt
        return identity

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # sentence-transformers sorts the texts by length into batches itself
        vectors = self._model.encode(
            list(texts),
            prompt=self.prompt,
            batch_size=batch_size or self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
        return l2_normalize(np.asarray(vectors, dtype=np.float32), inplace=True)


_E5_NAME = re.compile(r"(?:^|[^a-z0-9])e5(?:[^a-z0-9]|$)")


def symmetric_prompt(model: str, prompts: dict[str, str]) -> str | None:
    """The prompt for both sides of a bitext: "query: " for e5-family models (a configured
    prompt "query: ", or "e5" in the name), whose card advises it for symmetric tasks; None
    (no prompt) for other models."""
    if "query: " in prompts.values() or _E5_NAME.search(Path(model).name.lower()):
        return "query: "
    return None


def _local_fingerprint(model: str) -> str | None:
    """A digest of a local model's configuration and weight-file sizes, so that an index made
    with one checkpoint is not silently queried with another one saved at the same path."""
    path = Path(model)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file():
            digest.update(str(file.relative_to(path)).encode())
            if file.suffix in (".json", ".txt") and file.stat().st_size < 1_000_000:
                digest.update(file.read_bytes())
            else:
                digest.update(str(file.stat().st_size).encode())
    return digest.hexdigest()[:16]
