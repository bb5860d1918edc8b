"""Tests for aligner.scoring: the measures, the edge cases and the three file formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aligner.errors import InputError
from aligner.scoring import (
    Scores,
    format_report,
    link_kind,
    parse_indices,
    read_alignment_tsv,
    read_alignments,
    read_pairs,
    read_vecalign,
    read_vecalign_dir,
    score_by_kind,
    score_lax,
    score_pairs,
    score_strict,
)

DOC = ("fa1", "ar1")

# --- Scores ------------------------------------------------------------------------------


def test_scores_from_counts() -> None:
    s = Scores.from_counts(3, 4, 6)
    assert s.precision == pytest.approx(0.75)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(0.6)
    assert (s.true_positives, s.n_pred, s.n_gold) == (3, 4, 6)


def test_scores_are_frozen() -> None:
    s = Scores.from_counts(1, 1, 1)
    with pytest.raises(AttributeError):
        s.f1 = 0.0  # type: ignore[misc]


def test_empty_prediction_scores_zero_f1_without_division_error() -> None:
    s = score_strict({}, {DOC: [((0,), (0,))]})
    assert (s.precision, s.recall, s.f1) == (1.0, 0.0, 0.0)


def test_empty_gold_scores_zero_f1_without_division_error() -> None:
    s = score_lax({DOC: [((0,), (0,))]}, {})
    assert (s.precision, s.recall, s.f1) == (0.0, 1.0, 0.0)


def test_both_empty_is_perfect() -> None:
    for scorer in (score_strict, score_lax):
        s = scorer({}, {})
        assert (s.precision, s.recall, s.f1, s.n_pred, s.n_gold) == (1.0, 1.0, 1.0, 0, 0)
    assert score_pairs([], []).f1 == 1.0


def test_no_overlap_is_zero() -> None:
    s = score_strict({DOC: [((0,), (1,))]}, {DOC: [((0,), (0,))]})
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)


# --- strict and lax ----------------------------------------------------------------------


def test_perfect_alignment() -> None:
    gold = {DOC: [((0,), (0,)), ((1, 2), (1,)), ((3,), (2, 3))]}
    assert score_strict(gold, gold).f1 == 1.0
    assert score_lax(gold, gold).f1 == 1.0


def test_two_to_one_predicted_as_one_to_one_lax_gives_partial_credit() -> None:
    # gold: sentences 1 and 2 of the source were merged into target sentence 1
    gold = {DOC: [((0,), (0,)), ((1, 2), (1,))]}
    pred = {DOC: [((0,), (0,)), ((1,), (1,))]}

    strict = score_strict(pred, gold)
    assert (strict.true_positives, strict.n_pred, strict.n_gold) == (1, 2, 2)
    assert strict.precision == 0.5 and strict.recall == 0.5

    # lax units: gold {(0,0), (1,1), (2,1)}, pred {(0,0), (1,1)}
    lax = score_lax(pred, gold)
    assert (lax.true_positives, lax.n_pred, lax.n_gold) == (2, 2, 3)
    assert lax.precision == 1.0
    assert lax.recall == pytest.approx(2 / 3)
    assert lax.f1 > strict.f1


def test_one_to_one_predicted_as_two_to_one() -> None:
    gold = {DOC: [((0,), (0,)), ((1,), (1,))]}
    pred = {DOC: [((0, 1), (0,))]}
    assert score_strict(pred, gold).true_positives == 0
    lax = score_lax(pred, gold)  # pred units {(0,0), (1,0)}: one right
    assert (lax.true_positives, lax.n_pred, lax.n_gold) == (1, 2, 2)


def test_null_links_are_ignored() -> None:
    gold = {DOC: [((0,), (0,)), ((1,), ()), ((), (1,))]}
    pred = {DOC: [((0,), (0,)), ((), (2,))]}
    s = score_strict(pred, gold)
    assert (s.true_positives, s.n_pred, s.n_gold) == (1, 1, 1)


def test_index_order_and_duplicates_do_not_matter() -> None:
    gold = {DOC: [((1, 2), (1,))]}
    pred = {DOC: [((2, 1), (1,)), ((1, 2), (1, 1))]}
    s = score_strict(pred, gold)
    assert (s.true_positives, s.n_pred, s.n_gold) == (1, 1, 1)


def test_micro_average_over_document_pairs() -> None:
    gold = {
        ("a", "x"): [((i,), (i,)) for i in range(8)],
        ("b", "y"): [((0,), (0,)), ((1,), (1,))],
    }
    pred = {
        ("a", "x"): [((i,), (i,)) for i in range(8)],
        ("b", "y"): [((0,), (1,)), ((1,), (0,))],
    }
    s = score_strict(pred, gold)
    # micro: 8 of 10, not the macro mean of 1.0 and 0.0
    assert (s.true_positives, s.n_pred, s.n_gold) == (8, 10, 10)
    assert s.f1 == pytest.approx(0.8)


def test_links_for_unknown_document_pairs_are_false_positives() -> None:
    gold = {("a", "x"): [((0,), (0,))]}
    pred = {("a", "x"): [((0,), (0,))], ("a", "z"): [((0,), (0,)), ((1,), (1,))]}
    s = score_strict(pred, gold)
    assert (s.true_positives, s.n_pred, s.n_gold) == (1, 3, 1)
    assert score_lax(pred, gold).n_pred == 3


def test_prediction_in_the_other_orientation_is_flipped() -> None:
    gold = {("fa1", "ar1"): [((0,), (0,)), ((1, 2), (1,))]}
    pred = {("ar1", "fa1"): [((0,), (0,)), ((1,), (1, 2))]}
    assert score_strict(pred, gold).f1 == 1.0


def test_score_by_kind() -> None:
    gold = {DOC: [((0,), (0,)), ((1, 2), (1,)), ((3,), (2,))]}
    pred = {DOC: [((0,), (0,)), ((1,), (1,)), ((3,), (2,))]}
    by_kind = score_by_kind(pred, gold)
    assert list(by_kind) == ["1-1", "2-1"]
    assert by_kind["2-1"].recall == 0.0
    assert by_kind["2-1"].n_pred == 0
    one = by_kind["1-1"]
    assert (one.true_positives, one.n_pred, one.n_gold) == (2, 3, 2)


def test_link_kind() -> None:
    assert link_kind(((1, 2, 3), (4,))) == "3-1"
    assert link_kind(((), (4,))) == "0-1"


links = st.lists(
    st.tuples(
        st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple),
        st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple),
    ),
    max_size=8,
)


@given(pred=links, gold=links)
def test_scores_are_bounded_and_consistent(
    pred: list[tuple[tuple[int, ...], tuple[int, ...]]],
    gold: list[tuple[tuple[int, ...], tuple[int, ...]]],
) -> None:
    for scorer in (score_strict, score_lax):
        s = scorer({DOC: pred}, {DOC: gold})
        assert 0.0 <= s.precision <= 1.0 and 0.0 <= s.recall <= 1.0 and 0.0 <= s.f1 <= 1.0
        assert s.true_positives <= min(s.n_pred, s.n_gold)
    # an exact prediction is perfect under both measures
    assert score_strict({DOC: gold}, {DOC: gold}).f1 == 1.0
    assert score_lax({DOC: gold}, {DOC: gold}).f1 == 1.0
    # strict hits are always lax hits: strict recall <= lax recall when gold is all 1-1
    if all(len(set(s)) <= 1 and len(set(t)) <= 1 for s, t in gold):
        assert (
            score_strict({DOC: pred}, {DOC: gold}).recall
            <= score_lax({DOC: pred}, {DOC: gold}).recall
        )


# --- document pairs ----------------------------------------------------------------------


def test_pairs_orientation_insensitive() -> None:
    gold = [("fa1", "ar1"), ("fa2", "ar2"), ("fa3", "ar3")]
    pred = [("ar1", "fa1"), ("fa2", "ar2"), ("fa2", "ar2"), ("fa4", "ar9")]
    s = score_pairs(pred, gold)
    assert (s.true_positives, s.n_pred, s.n_gold) == (2, 3, 3)
    assert s.precision == pytest.approx(2 / 3)


def test_pairs_empty_prediction() -> None:
    s = score_pairs([], [("a", "b")])
    assert (s.precision, s.recall, s.f1) == (1.0, 0.0, 0.0)


# --- readers -----------------------------------------------------------------------------

PARALLEL_HEADER = (
    "src_doc\ttgt_doc\tsrc_lang\ttgt_lang\tsrc_sents\ttgt_sents\tscore\tsrc_text\ttgt_text"
)


def test_read_parallel_tsv_keeps_quotes_and_parses_indices(tmp_path: Path) -> None:
    path = tmp_path / "parallel.tsv"
    path.write_text(
        PARALLEL_HEADER + "\n"
        'fa1\tar1\tfa\tar\t0\t0\t0.91\tاو گفت: «سلام\t"قال مرحبا\n'
        "fa1\tar1\tfa\tar\t1,2\t1\t0.80\tدو جمله.\tجملة.\n"
        "fa2\tar2\tfa\tar\t0\t0, 1\t0.75\tیک\tواحد\n",
        encoding="utf-8",
    )
    alignments = read_alignment_tsv(path)
    assert alignments == {
        ("fa1", "ar1"): [((0,), (0,)), ((1, 2), (1,))],
        ("fa2", "ar2"): [((0,), (0, 1))],
    }
    assert read_alignments(path) == alignments


def test_read_gold_tsv_with_only_link_columns(tmp_path: Path) -> None:
    path = tmp_path / "gold.tsv"
    path.write_text("src_doc\ttgt_doc\tsrc_sents\ttgt_sents\nd1\td2\t3\t\n", encoding="utf-8")
    assert read_alignment_tsv(path) == {("d1", "d2"): [((3,), ())]}


def test_read_tsv_missing_column_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("src_doc\ttgt_doc\tsrc_sents\nd1\td2\t0\n", encoding="utf-8")
    with pytest.raises(InputError, match="tgt_sents"):
        read_alignment_tsv(path)


def test_read_tsv_bad_indices_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("src_doc\ttgt_doc\tsrc_sents\ttgt_sents\nd1\td2\tx\t0\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2"):
        read_alignment_tsv(path)


VECALIGN_GOLD = """[0]:[0]
[1, 2]:[1]
[3]:[]
[]:[2]
[4]:[3, 4]:0.83
"""


def test_read_vecalign_file(tmp_path: Path) -> None:
    path = tmp_path / "doc7"
    path.write_text(VECALIGN_GOLD + "\n", encoding="utf-8")
    expected = [((0,), (0,)), ((1, 2), (1,)), ((3,), ()), ((), (2,)), ((4,), (3, 4))]
    assert read_vecalign(path) == {("doc7", "doc7"): expected}
    assert read_vecalign(path, "fa7", "ar7") == {("fa7", "ar7"): expected}
    assert read_alignments(path) == {("doc7", "doc7"): expected}


def test_vecalign_gold_scored_against_tsv_prediction(tmp_path: Path) -> None:
    gold_path = tmp_path / "gold.align"
    gold_path.write_text(VECALIGN_GOLD, encoding="utf-8")
    pred_path = tmp_path / "parallel.tsv"
    pred_path.write_text(
        PARALLEL_HEADER + "\n"
        "fa7\tar7\tfa\tar\t0\t0\t0.9\ta\tb\n"
        "fa7\tar7\tfa\tar\t1\t1\t0.9\ta\tb\n"
        "fa7\tar7\tfa\tar\t2\t1\t0.9\ta\tb\n"
        "fa7\tar7\tfa\tar\t4\t3,4\t0.9\ta\tb\n",
        encoding="utf-8",
    )
    gold = read_vecalign(gold_path, src_doc="fa7", tgt_doc="ar7")
    pred = read_alignments(pred_path)
    strict = score_strict(pred, gold)
    assert (strict.true_positives, strict.n_pred, strict.n_gold) == (2, 4, 3)
    lax = score_lax(pred, gold)  # gold units: (0,0) (1,1) (2,1) (4,3) (4,4)
    assert (lax.true_positives, lax.n_pred, lax.n_gold) == (5, 5, 5)


def test_read_vecalign_dir(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("[0]:[0]\n", encoding="utf-8")
    (tmp_path / "b").write_text("[0, 1]:[0]\n", encoding="utf-8")
    expected = {("a", "a"): [((0,), (0,))], ("b", "b"): [((0, 1), (0,))]}
    assert read_vecalign_dir(tmp_path) == expected
    assert read_alignments(tmp_path) == expected


def test_read_vecalign_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_text("[0]:[0]\n0 - 0\n", encoding="utf-8")
    with pytest.raises(InputError, match=":2:"):
        read_vecalign(path)


def test_read_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("src_doc\ttgt_doc\tscore\nfa1\tar1\t0.9\n\nar2\tfa2\t0.7\n", encoding="utf-8")
    pairs = read_pairs(path)
    assert pairs == [("fa1", "ar1"), ("ar2", "fa2")]
    assert score_pairs(pairs, [("fa1", "ar1"), ("fa2", "ar2")]).f1 == 1.0


def test_read_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tsv"
    path.write_text("", encoding="utf-8")
    assert read_pairs(path) == []
    assert read_alignments(path) == {}


def test_parse_indices() -> None:
    assert parse_indices("") == ()
    assert parse_indices(" 3, 4 ") == (3, 4)
    assert parse_indices("[1,2]") == (1, 2)
    with pytest.raises(ValueError):
        parse_indices("1;2")


# --- report ------------------------------------------------------------------------------


def test_format_report() -> None:
    report = format_report(
        {"strict": Scores.from_counts(1, 2, 2), "lax": Scores.from_counts(2, 2, 3)},
        title="fa-ar",
    )
    lines = report.splitlines()
    assert lines[0] == "fa-ar"
    assert lines[1].split() == ["measure", "P", "R", "F1", "tp", "pred", "gold"]
    assert lines[2].split() == ["strict", "0.5000", "0.5000", "0.5000", "1", "2", "2"]
    assert lines[3].split()[:4] == ["lax", "1.0000", "0.6667", "0.8000"]
