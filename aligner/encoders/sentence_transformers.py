"""sentence-transformers models (LaBSE, multilingual MiniLM, ...) by name or local path."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import re
import sys
from collections.abc import Iterator, Sequence
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
        if not _installed("sentence_transformers"):  # pragma: no cover - the installation
            raise AlignerError(
                "sentence-transformers is not installed; install it with "
                "`pip install torch==2.13.0 'aligner[st]'` or use --model builtin"
            )
        self.name = model
        self.batch_size = batch_size
        self._fingerprint = _local_fingerprint(model)
        local = Path(model).exists()
        # A name, not a folder: from the local Hugging Face cache when it is there (no
        # network at all), else from the Hub once it answers. Never the Hub's retries:
        # offline, they print warnings for over a minute before the same failure. Checked
        # before importing sentence-transformers, which takes seconds.
        cached = not local and _check_hub_name(model)
        from sentence_transformers import SentenceTransformer

        try:
            with _quiet_hub():
                self._model = SentenceTransformer(
                    model, device=device, trust_remote_code=False, local_files_only=cached
                )
        except Exception as exc:
            where = "local path" if local else "model name"
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
        self.prompt = symmetric_prompt(self.name, getattr(self._model, "prompts", None) or {})

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


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (seconds, for this one)."""
    try:
        return module in sys.modules or importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# Seconds to wait for the Hugging Face Hub to answer whether a model exists.
HUB_TIMEOUT = 5.0
_OFFLINE_HINT = (
    "give the path of a local copy instead (--model /path/to/model, saved on a machine with "
    "network access), or use --model e5 or --model builtin (offline, no weights)"
)


def _check_hub_name(model: str) -> bool:
    """Whether the model `model` names is in the local Hugging Face cache (load it from
    there); when it is not, check in one request of a few seconds that the Hub can be
    reached and has it, or fail with a one-line `AlignerError` saying what to do."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        raise AlignerError(
            f"could not load sentence-transformers model {model!r}: no such local folder, and "
            "not a Hugging Face Hub name (organisation/name) either"
        ) from None
    for filename in ("modules.json", "config.json"):
        if isinstance(try_to_load_from_cache(model, filename), str):
            return True
    if constants.HF_HUB_OFFLINE:
        raise AlignerError(
            f"could not load sentence-transformers model {model!r}: not in the local Hugging "
            f"Face cache, and HF_HUB_OFFLINE is set; {_OFFLINE_HINT}"
        )
    try:
        HfApi().model_info(model, timeout=HUB_TIMEOUT)  # one request, no retries
    except RepositoryNotFoundError:
        raise AlignerError(
            f"could not load sentence-transformers model {model!r}: the Hugging Face Hub has "
            "no such model (a private or gated one needs `hf auth login`), and there is no "
            "such local folder"
        ) from None
    except HfHubHTTPError:
        pass  # the Hub answered, if not as hoped: loading will say what it makes of it
    except Exception as exc:  # no network, DNS, proxy, timeout: the Hub cannot be reached
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise AlignerError(
            f"could not load sentence-transformers model {model!r}: not in the local Hugging "
            f"Face cache, and the Hub cannot be reached ({reason}); {_OFFLINE_HINT}"
        ) from None
    return False


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """No retry or download warnings from huggingface_hub and transformers while loading:
    a failure ends in one error line."""
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "transformers")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


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
