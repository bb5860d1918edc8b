"""Encoders: `builtin` (offline, no weights) and sentence-transformers models."""

from __future__ import annotations

from aligner.encoders.base import Encoder, l2_normalize
from aligner.encoders.builtin import BuiltinEncoder
from aligner.errors import AlignerError

__all__ = ["BuiltinEncoder", "Encoder", "l2_normalize", "load_encoder"]


def load_encoder(
    model: str | None = "builtin", device: str | None = None, batch_size: int | None = None
) -> Encoder:
    """`builtin` (or None) gives the built-in encoder; `builtin:DIM` sets its dimension;
    anything else is a sentence-transformers model name or local path."""
    if model is None or model == "builtin" or model.startswith("builtin:"):
        try:
            dim = int(model.split(":", 1)[1]) if model and ":" in model else 4096
            return BuiltinEncoder(dim=dim, **({"batch_size": batch_size} if batch_size else {}))
        except ValueError as exc:  # a mistyped --model is the user's to fix, not a bug
            raise AlignerError(
                f"--model {model}: expected 'builtin' or 'builtin:DIM' with DIM a power of "
                f"two such as 1024 ({exc})"
            ) from exc
    from aligner.encoders.sentence_transformers import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model, device=device, batch_size=batch_size or 64)
