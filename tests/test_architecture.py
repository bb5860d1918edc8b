"""The package's shape: data flows one way (docs/architecture.md), so no module imports a
module of a layer above its own, and the command line is a client of the library."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aligner"

# Lowest first; a module may import its own layer and those below. Modules of one layer
# whose name is a prefix ("encoders") cover the modules under them.
LAYERS: list[tuple[str, ...]] = [
    ("types", "errors", "cache", "runtime", "progress", "resources", "version"),
    ("normalize", "boilerplate", "segment", "langid", "prepare", "readers", "data"),
    ("encoders",),
    ("embedding", "docvec"),
    ("alignment",),
    ("verify",),
    ("match", "store", "ingest", "recent", "dedup"),
    ("writers", "files", "outputs", "report", "scoring"),
    ("cluster",),
    ("api",),
    ("cli", "__main__", "__init__"),
]


def layer_of(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return level
    raise AssertionError(f"aligner.{module} has no layer in tests/test_architecture.py")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "aligner":
                names = [f"aligner.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name.removeprefix("aligner.") for name in names if name.startswith("aligner."))
    return found


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        out[name] = path
    return out


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"aligner.{module} imports aligner.{target}"
        for module, path in modules().items()
        for target in sorted(imports_of(path))
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_command_line_holds_no_sql() -> None:
    text = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    for needle in ("sqlite3", "SELECT ", "INSERT ", "UPDATE ", ".db.execute", "store import"):
        assert needle not in text
