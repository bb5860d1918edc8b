"""multilingual-e5-small on torch, on any device (`--model e5 --device cuda`), from the
folder `aligner model export e5` wrote.

The ONNX engine's tokenisation, windows and pooling (`onnx_e5.OnnxE5Encoder`), with the
exported transformer run by torch in place of ONNX Runtime: the same identity (e5's
weights, so one index serves both), the same fitted statistics, the same vectors to
float rounding. Windows of one token length share a run, unpadded, as there; on a GPU the
kernels may round a window differently in another company, so vectors are the same to
cosine 0.9999, not bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.e5 import PREFIX
from aligner.encoders.onnx_e5 import OnnxE5Encoder
from aligner.errors import AlignerError


class TorchE5Encoder(OnnxE5Encoder):
    """e5 through torch on `device` ("cuda", "cuda:1", "mps", "cpu"); `folder` is an
    exported folder whose check passed. A run holds at most `batch_size` windows."""

    def __init__(
        self,
        folder: str | Path,
        device: str = "cuda",
        batch_size: int = 32,
        prefix: str = PREFIX,
        weights_sha256: str | None = None,
    ) -> None:
        self.device = device
        # one run at a time: the device parallelises within it
        super().__init__(folder, batch_size, 1, prefix, weights_sha256)

    def _load_runner(self) -> None:
        try:
            import torch
            from transformers import AutoModel
        except ImportError as exc:
            raise AlignerError(
                f"--model e5 on --device {self.device} runs on torch: `pip install "
                "'aligner[st]'` (or leave out --device to run on the CPU)"
            ) from exc
        from transformers.utils import logging as hf_logging

        bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
        hf_logging.disable_progress_bar()  # a load is one line of ours, not a report
        hf_logging.set_verbosity_error()
        try:
            # the states are pooled here: the export has no pooler layer to load
            model = AutoModel.from_pretrained(
                str(self.folder), add_pooling_layer=False, local_files_only=True
            )
            self._model = model.to(self.device).eval()
        except (OSError, RuntimeError, ValueError, AssertionError) as exc:
            # torch says "Torch not compiled with CUDA enabled" or "no CUDA GPUs" here
            raise AlignerError(f"cannot run e5 on --device {self.device}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(level)
            if bars:
                hf_logging.enable_progress_bar()
        self._torch = torch

    def __reduce__(self) -> tuple[Any, ...]:
        # to a worker process or Ray actor as its settings: the model is loaded again there
        args = (self.folder, self.device, self.batch_size, self.prefix, self.weights_sha256)
        return (type(self), args)

    def _states(self, ids: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensor = torch.from_numpy(ids).to(self.device)
            out = self._model(input_ids=tensor, attention_mask=torch.ones_like(tensor))
            return out.last_hidden_state.float().cpu().numpy()
