"""`dedup --engine ray`: the clusters decided over the distributed record.

The pieces are tested as plain functions (the forest, the candidates of a part, the keys
of exact copies); the tests marked `ray` run the command on the session's local Ray and
compare it with the local engine."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pyarrow")  # the record's Parquet (aligner[ray])

from aligner.cli import main
from aligner.cluster import decide
from aligner.cluster.decide import (
    Decisions,
    PartDecisions,
    PartRows,
    RecordLayout,
    cluster_roots,
    copies_in_group,
    part_candidates,
)
from aligner.dedup import DedupParams
from aligner.errors import AlignerError
from tests.test_index_incremental import CHUNK, DIM, FIRST, make_archive

ARGS = ["--chunk-size", str(CHUNK), "--doc-dim", str(DIM), "-q"]


# ---------------------------------------------------------------- without Ray


def test_cluster_roots_follow_each_chain_to_its_first_document() -> None:
    matched = np.array([-1, 0, 1, -1, 2, 3, -1, 4])
    assert cluster_roots(matched).tolist() == [0, 0, 0, 3, 0, 3, 6, 0]
    assert cluster_roots(np.array([], np.int64)).tolist() == []
    with pytest.raises(AlignerError, match="later one"):
        cluster_roots(np.array([-1, 2, -1]))


def test_decisions_take_copies_then_verified_matches() -> None:
    decisions = Decisions.empty(5)
    decisions.add_copies(np.array([[3, 0]]))
    decisions.add_part(
        PartDecisions(np.array([1, 2, 4]), np.array([0, -1, 1]), np.array([2, 0, 1], np.uint8),
                      np.array([0.95, 1.0, 0.8], np.float32))
    )  # fmt: skip
    assert decisions.matched.tolist() == [-1, 0, -1, 0, 1]
    assert [decide.ROLES[r] for r in decisions.roles] == [
        "canonical", "translation", "canonical", "duplicate", "duplicate",
    ]  # fmt: skip
    assert decisions.exact.tolist() == [False, False, False, True, False]
    assert cluster_roots(decisions.matched).tolist() == [0, 0, 2, 0, 0]


def test_exact_copies_are_keyed_by_body_with_sentences_else_by_text() -> None:
    import pyarrow as pa

    group = pa.table({"key": ["bX"] * 3, "position": np.array([7, 2, 5], np.int64)})
    out = copies_in_group(group)
    assert out.column("position").to_pylist() == [5, 7]
    assert out.column("first").to_pylist() == [2, 2]
    assert copies_in_group(group.slice(0, 1)).num_rows == 0


def _layout(langs: list[str], dim: int) -> RecordLayout:
    """One part "000000" holding documents at positions 0..n-1 in the given languages."""
    positions = {lang: np.array([g for g, x in enumerate(langs) if x == lang], np.int64)
                 for lang in sorted(set(langs))}  # fmt: skip
    return RecordLayout(
        {"000000": 0}, {lang: ["000000"] for lang in positions},
        {lang: np.array([0, len(p)]) for lang, p in positions.items()}, positions,
        {lang: np.arange(len(p)) for lang, p in positions.items()}, positions, len(langs), dim,
    )  # fmt: skip


def test_part_candidates_are_earlier_documents_recent_ones_searched_exactly() -> None:
    """Documents 0-5 in fa, 6-7 in ar; every vector near every other. A query finds only
    earlier documents; those within `recent_docs` of its language are recent (searched
    exactly), older ones come from the index, `candidates` of them per language."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=8).astype(np.float32)
    vectors = base + 0.05 * rng.normal(size=(8, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    langs = ["fa"] * 6 + ["ar"] * 2
    layout = _layout(langs, 8)
    by_lang = {lang: vectors[layout.positions[lang]] for lang in layout.parts}

    def search(lang: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = queries @ by_lang[lang].T
        order = np.argsort(-sims, axis=1)
        return np.take_along_axis(sims, order, 1), order

    def vectors_of(lang: str, ids: np.ndarray) -> np.ndarray:
        return by_lang[lang][ids]

    rows = PartRows(np.arange(8), vectors)
    params = replace(DedupParams(), recent_docs=2, candidates=1, same_lang_cosine=0.5)
    found = part_candidates(rows, np.array([5, 7]), "fa", layout, search, vectors_of, params)
    fa_five, ar_seven = found
    # document 5 (fa): fa 3 and 4 recent, one of 0-2 from the index; no ar is earlier
    recent = sorted(i for lang, i, _, r in fa_five if r)
    older = [i for lang, i, _, r in fa_five if not r]
    assert recent == [3, 4] and len(older) == 1 and older[0] < 3
    assert {lang for lang, *_ in fa_five} == {"fa"}
    # document 7 (ar) searched as a query of its own language: ar 6 recent (id 0 of ar);
    # fa 4 and 5 are the last two fa documents before it (recent), one older fa from the index
    found = part_candidates(rows, np.array([7]), "ar", layout, search, vectors_of, params)[0]
    assert sorted((lang, i) for lang, i, _, r in found if r) == [("ar", 0), ("fa", 4), ("fa", 5)]
    assert [lang for lang, _, _, r in found if not r] == ["fa"]
    assert all(score == pytest.approx(float(vectors[7] @ vectors[layout.positions[lang][i]]))
               for lang, i, score, _ in found)  # fmt: skip
    del ar_seven


# ---------------------------------------------------------------- on a local Ray


@pytest.fixture(scope="module")
def archive(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed lines shuffled into new documents, then the seeds with an exact copy of one:
    the shuffles share lines across languages (the local engine finds some 200
    translations and 70 near copies among them)."""
    path = tmp_path_factory.mktemp("decide") / "archive.jsonl"
    make_archive(seeds_dir, path, FIRST + 2 * CHUNK)
    seeds = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    with open(path, "a", encoding="utf-8") as handle:
        for k, text in enumerate([*seeds, seeds[1]]):
            handle.write(json.dumps({"id": f"seed{k}", "text": text}, ensure_ascii=False) + "\n")
    return path


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["doc_id"]: row for row in csv.DictReader(handle, delimiter="\t")}


@pytest.mark.ray
def test_dedup_on_ray_gives_the_local_clusters(ray_cluster, archive: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    local, on_ray = tmp_path / "local.tsv", tmp_path / "ray.tsv"
    kept_local, kept_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    result = runner.invoke(main, ["dedup", str(archive), "-o", str(local), "--keep",
                                  str(kept_local), *ARGS])  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["dedup", str(archive), "-o", str(on_ray), "--keep",
                                  str(kept_ray), "--index", str(tmp_path / "idx"), "--engine",
                                  "ray", *ARGS])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected, got = rows_of(local), rows_of(on_ray)
    assert list(got) == list(expected)  # every document, in input order
    assert (got["seed5"]["cluster_id"], got["seed5"]["score"]) == ("seed1", "1.0000")  # a copy
    # verified in the actors: translations and near copies (a score below 1)
    kinds = {(r["role"], r["score"] == "1.0000") for r in got.values()}
    assert {("translation", False), ("duplicate", False)} <= kinds
    # the clusters and roles are the local engine's (which earlier document of the cluster
    # a document was attached to may differ: the candidates are found another way)
    assert {k: (r["cluster_id"], r["role"]) for k, r in got.items()} == {
        k: (r["cluster_id"], r["role"]) for k, r in expected.items()
    }
    assert kept_ray.read_bytes() == kept_local.read_bytes()
    assert ray_cluster.is_initialized()  # a Ray it did not start is left running

    # a rerun over the same record skips what is recorded and decides the same
    parts = sorted(p.stat().st_mtime_ns for p in (tmp_path / "idx").rglob("*.parquet"))
    again = tmp_path / "again.tsv"
    result = runner.invoke(main, ["dedup", str(archive), "-o", str(again), "--index",
                                  str(tmp_path / "idx"), "--engine", "ray", *ARGS])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == on_ray.read_bytes()
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "idx").rglob("*.parquet")) == parts


@pytest.mark.ray
def test_a_decision_does_not_depend_on_later_documents(
    ray_cluster, archive: Path, tmp_path: Path
) -> None:
    """The input cut after its first FIRST + CHUNK documents, deduplicated alone: each
    decision is the full input's for the same document."""
    lines = archive.read_text(encoding="utf-8").splitlines(keepends=True)
    head = tmp_path / "head.jsonl"
    head.write_text("".join(lines[: FIRST + CHUNK]), encoding="utf-8")
    outs = {}
    for name, path in (("head", head), ("full", archive)):
        outs[name] = tmp_path / f"{name}.tsv"
        result = CliRunner().invoke(main, ["dedup", str(path), "-o", str(outs[name]),
                                           "--engine", "ray", *ARGS])  # fmt: skip
        assert result.exit_code == 0, result.output
    full, cut = rows_of(outs["full"]), rows_of(outs["head"])
    assert len(cut) == FIRST + CHUNK and all(full[k] == row for k, row in cut.items())


@pytest.mark.ray
def test_an_empty_input_gives_the_header_alone(ray_cluster, tmp_path: Path) -> None:
    empty, out = tmp_path / "empty.jsonl", tmp_path / "c.tsv"
    empty.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["dedup", str(empty), "-o", str(out), "--engine", "ray"])
    assert result.exit_code == 0, result.output
    assert "no documents found" in result.output
    assert out.read_text(encoding="utf-8") == "\t".join(decide.CLUSTER_COLUMNS) + "\n"
