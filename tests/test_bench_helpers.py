"""Helpers of the benchmark suite (no timing assertions)."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aligner.prepare import prepare_document
from bench import datasets
from bench.common import documents, map_gold, markdown_table, score_against
from bench.peers import hunalign_line, ladder_links, read_ladder, run_hunalign
from bench.speed import synthetic_documents
from tests.test_bench_datasets import synthetic


def test_ladder_to_links_closes_the_last_segment() -> None:
    # hunalign prints rungs (0,0) (1,1) (3,2) for 4 + 3 sentences and leaves out (4,3)
    rungs = read_ladder("0\t0\t0.9\n1\t1\t0.5\n3\t2\t0.1\n")
    assert rungs == [(0, 0), (1, 1), (3, 2)]
    assert ladder_links(rungs, 4, 3) == [((0,), (0,)), ((1, 2), (1,)), ((3,), (2,))]


def test_ladder_to_links_keeps_skips_as_empty_sides() -> None:
    links = ladder_links([(0, 0), (1, 1), (2, 1)], 3, 2)
    assert links == [((0,), (0,)), ((1,), ()), ((2,), (1,))]


def test_hunalign_line_is_one_line_of_tokens() -> None:
    assert hunalign_line("گفت: «سلام»،\tو رفت.") == "گفت : « سلام » ، و رفت ."
    assert "\n" not in hunalign_line("a\nb")


@pytest.mark.skipif(shutil.which("hunalign") is None, reason="hunalign not installed")
def test_run_hunalign_on_a_tiny_pair() -> None:
    src = ["One sentence here .", "Two sentences here .", "Three ."]
    links, _ = run_hunalign(shutil.which("hunalign") or "", [(src, list(src)), ([], ["x"])])
    assert links[0] == [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]
    assert links[1] == []  # a pair with an empty side is not given to hunalign


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), max_size=12), st.data())
def test_map_lines_matches_the_plain_definition(raw, data) -> None:  # type: ignore[no-untyped-def]
    # sentences in text order, not overlapping; lines anywhere
    sentences, position = [], 0
    for gap, length in raw:
        sentences.append((position + gap, position + gap + length))
        position += gap + length
    lines = data.draw(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60)), max_size=8))
    lines = [(s, s + n) for s, n in lines]
    expected = [
        tuple(k for k, (s, e) in enumerate(sentences) if s < end and e > start)
        for start, end in lines
    ]
    assert datasets.map_lines(lines, sentences) == expected


def test_gold_maps_onto_our_sentences_and_scores_perfect_against_itself() -> None:
    dataset = datasets.generate(synthetic(), "syn", seed=0)
    prepared = {d.id: prepare_document(d) for d in documents(dataset)}
    gold = map_gold(dataset, prepared)
    assert set(gold.links) == set(dataset.gold_pairs)
    scores = score_against(gold.links, gold)
    assert scores["strict"].precision == 1.0
    # lost links count as missed: recall is below 1 exactly when some were lost
    assert (scores["strict"].recall < 1.0) == (gold.lost > 0)


def test_synthetic_documents_are_deterministic_and_paired() -> None:
    rows = [(f"جمله {i}.", f"الجملة {i}.") for i in range(100)]
    docs, truth = synthetic_documents(rows, 5)
    again, _ = synthetic_documents(rows, 5)
    assert docs == again
    assert len(docs) == 10 and len(truth) == 5
    by_id = {d.id: d for d in docs}
    for fa, ar in truth:
        assert by_id[fa].text.count("\n") == by_id[ar].text.count("\n")


def test_markdown_table() -> None:
    lines = markdown_table(["a", "bb"], [(1.23456, 12345), ("x", 0.5)])
    assert lines[0] == "| a     | bb     |"
    assert lines[1] == "|-------|--------|"
    assert lines[2] == "| 1.235 | 12,345 |"
    assert lines[3] == "| x     | 0.500  |"


def test_sentence_gold_file_is_what_the_bench_scores_against(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aligner.scoring import read_alignments

    dataset = datasets.generate(synthetic(), "syn", seed=0)
    lost = datasets.write_sentence_gold(dataset, tmp_path / "gold_sentences.tsv")
    prepared = {d.id: prepare_document(d) for d in documents(dataset)}
    gold = map_gold(dataset, prepared)
    assert lost == gold.lost
    written = read_alignments(tmp_path / "gold_sentences.tsv")
    assert written == {key: links for key, links in gold.links.items() if links}


def test_split_aware_gold_refines_only_equal_splits_of_one_to_one_lines() -> None:
    text_fa = "Title\nOne. Two.\nThree."
    text_ar = "Uno. Dos.\nTres."
    dataset = datasets.Dataset(
        name="t",
        seed=0,
        docs=[
            {"id": "f", "lang": "fa", "text": text_fa},
            {"id": "a", "lang": "ar", "text": text_ar},
        ],
        gold_pairs=[("f", "a")],
        gold_links={("f", "a"): [((1,), (0,)), ((2,), (1,))]},
        line_spans={
            "f": datasets.line_spans(text_fa.split("\n")),
            "a": datasets.line_spans(text_ar.split("\n")),
        },
        info={},
    )

    class Prepared:  # just the sentence offsets map_gold reads
        def __init__(self, spans: list[tuple[int, int]]) -> None:
            self.sentences = [type("S", (), {"start": s, "end": e})() for s, e in spans]

    prepared = {
        "f": Prepared([(6, 10), (11, 15), (16, 22)]),
        "a": Prepared([(0, 4), (5, 9), (10, 15)]),
    }
    gold = map_gold(dataset, prepared)  # type: ignore[arg-type]
    assert gold.links[("f", "a")] == [((0, 1), (0, 1)), ((2,), (2,))]
    assert gold.split_aware[("f", "a")] == [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]
    pred = {("f", "a"): [((0,), (0,)), ((1,), (1,)), ((2,), (2,))]}
    scores = score_against(pred, gold)
    assert scores["strict split-aware"].f1 == 1.0
    assert scores["strict"].true_positives == 1


def test_make_bench_carries_over_the_sections_recorded_by_hand() -> None:
    from bench.__main__ import BY_HAND, sections_by_hand

    previous = (
        "# Benchmarks\n\n## Run\n\nold run\n\n## Quality\n\nold figures\n\n"
        f"## e5 engines\n\n{BY_HAND} (needs an export).\n\n| a |\n\n"
        f"## Speed\n\n{BY_HAND}, but written again by this run\n"
    )
    kept = sections_by_hand(previous, ["Quality", "Speed"])
    assert kept == [f"## e5 engines\n\n{BY_HAND} (needs an export).\n\n| a |\n"]
