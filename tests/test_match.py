"""Document matching: which report is which across languages (aligner.match)."""

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.match import MatchParams
from aligner.types import Document

SEED_PAIR = ("001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa")


def seed_documents(seeds_dir: Path) -> list[Document]:
    return [Document(p.stem, p.read_text("utf-8")) for p in sorted(seeds_dir.glob("*.txt"))]


def pairs_found(seeds_dir: Path, params: MatchParams) -> list[tuple[str, str]]:
    result = api.match(seed_documents(seeds_dir), "builtin", params=params)
    return [(p.src.id, p.tgt.id) for p in result.pairs]


def test_distinct_counterparts_alone_reject_same_topic_reports(seeds_dir: Path) -> None:
    """The seeds hold reports of other calls between the same two presidents. With no
    score threshold and no one-to-one assignment, every candidate is accepted unless the
    distinct-counterparts check applies; applied to all pairs, it keeps only the true one."""
    anything = MatchParams(min_score=0.0, one_to_one=False, distinct_below=0.0)
    assert len(pairs_found(seeds_dir, anything)) > 1
    checked = MatchParams(min_score=0.0, one_to_one=False, distinct_below=1.01)
    assert pairs_found(seeds_dir, checked) == [SEED_PAIR]


def test_weak_pairs_need_the_margin_and_strong_ones_do_not(seeds_dir: Path) -> None:
    assert pairs_found(seeds_dir, MatchParams()) == [SEED_PAIR]  # score 0.92: not checked
    impossible = MatchParams(distinct_below=1.01, min_margin=50.0)
    assert pairs_found(seeds_dir, impossible) == []
    assert pairs_found(seeds_dir, MatchParams(distinct_below=1.01, min_margin=0.0)) == [SEED_PAIR]


def test_cli_pair_margin(seeds_dir: Path, tmp_path: Path) -> None:
    """With no score threshold, `--pair-margin` alone keeps look-alikes out; 0 lets them in."""

    def pairs(*options: str) -> list[tuple[str, str]]:
        out = tmp_path / "pairs.tsv"
        args = ["match", str(seeds_dir), "-o", str(tmp_path / "p.tsv"), "--pairs", str(out)]
        result = CliRunner().invoke(main, [*args, "--min-pair-score", "0", *options])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out, sep="\t", dtype=str)
        return list(zip(table.src_doc, table.tgt_doc))

    assert pairs() == [SEED_PAIR]
    unchecked = pairs("--pair-margin", "0")
    assert SEED_PAIR in unchecked and len(unchecked) > 1
    bad = CliRunner().invoke(main, ["match", str(seeds_dir), "--pair-margin", "-1"])
    assert bad.exit_code != 0 and "--pair-margin" in bad.output
