"""Document matching: which report is which across languages (aligner.match)."""

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.match import MatchParams, assign, language_pairs
from aligner.prepare import prepare_documents
from aligner.types import Document
from aligner.verify import VerifyParams

SEED_PAIR = ("001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa")


def seed_documents(seeds_dir: Path) -> list[Document]:
    return [Document(p.stem, p.read_text("utf-8")) for p in sorted(seeds_dir.glob("*.txt"))]


def pairs_found(seeds_dir: Path, params: MatchParams) -> list[tuple[str, str]]:
    result = api.match(seed_documents(seeds_dir), "builtin", params=params)
    return [(p.src.id, p.tgt.id) for p in result.pairs]


def test_the_seeds_give_the_one_true_pair_and_say_why_the_others_are_not(seeds_dir: Path):
    result = api.match(seed_documents(seeds_dir), "builtin")
    assert [(p.src.id, p.tgt.id) for p in result.pairs] == [SEED_PAIR]
    assert result.pairs[0].verdict is not None and result.pairs[0].verdict.calibrated
    # a small input: every cross-language pair was verified
    assert len(result.pairs) + len(result.rejected) == 3 * 2
    assert all("probability" in p.verdict.reason for p in result.rejected)


def test_min_pair_score_is_a_probability_threshold(seeds_dir: Path) -> None:
    everything = MatchParams(one_to_one=False, verify=VerifyParams(min_score=0.0))
    assert len(pairs_found(seeds_dir, everything)) == 6
    nothing = MatchParams(verify=VerifyParams(min_score=1.0))
    assert pairs_found(seeds_dir, nothing) == []


def test_assignment_takes_each_document_once_best_first(seeds_dir: Path) -> None:
    result = api.match(
        seed_documents(seeds_dir), "builtin",
        params=MatchParams(one_to_one=False, verify=VerifyParams(min_score=0.0)),
    )  # fmt: skip
    chosen = assign(result.pairs)
    ids = [d for p in chosen for d in (p.src.id, p.tgt.id)]
    assert len(ids) == len(set(ids))
    assert (chosen[0].src.id, chosen[0].tgt.id) == SEED_PAIR


def test_same_language_pairs_are_never_made(seeds_dir: Path) -> None:
    docs = prepare_documents(seed_documents(seeds_dir))
    result = api.match(docs, "builtin", src_lang="fa", tgt_lang="fa")
    assert result.pairs == [] and all(p.src.id != p.tgt.id for p in result.rejected)
    assert ("fa", "ar") in language_pairs(docs)


def test_cli_min_pair_score(seeds_dir: Path, tmp_path: Path) -> None:
    def pairs(*options: str) -> list[tuple[str, str]]:
        out = tmp_path / "pairs.tsv"
        args = ["match", str(seeds_dir), "-o", str(tmp_path / "p.tsv"), "--pairs", str(out)]
        result = CliRunner().invoke(main, [*args, "--model", "builtin", *options])
        assert result.exit_code == 0, result.output
        table = pd.read_csv(out, sep="\t", dtype=str)
        return list(zip(table.src_doc, table.tgt_doc))

    assert pairs() == [SEED_PAIR]
    assert pairs("--min-pair-score", "1") == []
    for bad in ("2", "-1"):
        result = CliRunner().invoke(main, ["match", str(seeds_dir), "--min-pair-score", bad])
        assert result.exit_code == 2 and "--min-pair-score" in result.output


def test_the_package_is_the_one_public_face() -> None:
    """Everything the API offers is on `aligner` itself, and `aligner.align` is the function
    (the sentence-alignment module is `aligner.alignment`)."""
    import aligner

    assert set(api.__all__) <= set(aligner.__all__)
    assert all(hasattr(aligner, name) for name in aligner.__all__)
    assert callable(aligner.align) and aligner.align is api.align
