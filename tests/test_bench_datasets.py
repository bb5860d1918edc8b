"""Tests for bench.datasets: merging, invariants of generated sets, files and the CLI.

Tests marked by the `flores`/`tico` fixtures read the development data in ../shared/data and
skip when it is absent (a user's machine does not have it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.datasets import (
    CORPORA,
    Dataset,
    Rates,
    SourceDoc,
    can_merge,
    generate,
    line_spans,
    load_corpus,
    main,
    map_lines,
    map_links,
    merge_sentences,
    read_gold_links,
    write_dataset,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# Written independently of the module: where a segmenter splitting at ". " would cut.
SENTENCE_BREAK = re.compile(r"[.!?؟…][\"'»”’)\]}]*\s")
LEAD_IN = re.compile(r"^(به گزارش [^،]+، |\S+ \([^)]+\) - )")


def _corpus(name: str) -> list[SourceDoc]:
    file, group_by = CORPORA[name]
    if not (DATA / file).is_file():
        pytest.skip(f"development data not found: {DATA / file}")
    return load_corpus(DATA / file, group_by)


@pytest.fixture(scope="module")
def flores() -> list[SourceDoc]:
    return _corpus("flores200")


@pytest.fixture(scope="module")
def tico() -> list[SourceDoc]:
    return _corpus("tico19")


def synthetic(n_docs: int = 30) -> list[SourceDoc]:
    """Small documents with a few sentences that must not be merged."""
    docs = []
    for d in range(n_docs):
        fa, ar = [], []
        for i in range(3 + d % 6):
            fa.append(f"جمله {i} از گزارش {d} درباره موضوع شماره {d % 4} نوشته شده است.")
            ar.append(f"هذه هي الجملة {i} من التقرير {d} حول الموضوع رقم {d % 4}.")
        fa[1] = f"آیا گزارش {d} کامل است؟"  # a question: never packed
        ar[-1] = f"قال المتحدث. ثم غادر القاعة {d}."  # internal break: never merged
        docs.append(SourceDoc(f"doc{d}", ("news", "books")[d % 2], tuple(fa), tuple(ar)))
    return docs


# --- merging -------------------------------------------------------------------------------


def test_merge_persian_replaces_full_stop_by_comma_and_va() -> None:
    merged = merge_sentences(["او آمد.", "سپس رفت."], "fa")
    assert merged == "او آمد، و سپس رفت."


def test_merge_arabic_attaches_the_conjunction() -> None:
    assert merge_sentences(["وصل الوزير.", "أضاف أن الوضع مستقر."], "ar") == (
        "وصل الوزير، وأضاف أن الوضع مستقر."
    )
    # no doubled conjunction when the next sentence already opens with one
    assert merge_sentences(["وصل الوزير.", "وقال إن."], "ar") == "وصل الوزير، وقال إن."
    assert merge_sentences(["الف.", "ب.", "ج."], "ar") == "الف، وب، وج."


def test_merge_of_a_sentence_without_final_stop() -> None:
    assert merge_sentences(["بدون نقطه", "جمله دوم."], "fa") == "بدون نقطه، و جمله دوم."


def test_can_merge() -> None:
    assert can_merge(["یک.", "دو."])
    assert can_merge(["یک", "دو؟"])  # the last sentence may end any way
    assert not can_merge(["آیا آمد؟", "دو."])  # a question is not packed
    assert not can_merge(["قال «نعم.»", "دو."])
    assert not can_merge(["یک. دو.", "سه."])  # an internal break would split it again
    assert not can_merge(["یک.", "دو. سه."])
    assert not can_merge(["یک...", "دو."])
    assert not can_merge(["الف " * 200 + ".", "ب " * 200 + "."])  # too long to be one sentence


# --- invariants of a generated set ---------------------------------------------------------


def check_invariants(ds: Dataset) -> None:
    docs = {d["id"]: d for d in ds.docs}
    assert len(docs) == len(ds.docs)
    for doc_id, doc in docs.items():
        lines = doc["text"].split("\n")
        assert ds.line_spans[doc_id] == line_spans(lines)
        for (start, end), line in zip(ds.line_spans[doc_id], lines, strict=True):
            assert line and line == line.strip()
            assert doc["text"][start:end] == line

    paired = set()
    for fa_id, ar_id in ds.gold_pairs:
        assert docs[fa_id]["lang"] == "fa" and docs[ar_id]["lang"] == "ar"
        paired |= {fa_id, ar_id}
        links = ds.gold_links[(fa_id, ar_id)]
        assert links, "a gold pair has at least one link"
        fa_lines = docs[fa_id]["text"].split("\n")
        ar_lines = docs[ar_id]["text"].split("\n")
        furniture = (set(ds.info[fa_id]["furniture"]), set(ds.info[ar_id]["furniture"]))
        previous = (-1, -1)
        for src, tgt in links:
            for side, lines in ((0, src), (1, tgt)):
                assert lines and list(lines) == list(range(lines[0], lines[0] + len(lines)))
                assert not set(lines) & furniture[side], "furniture is never in a gold link"
            assert src[0] > previous[0] and tgt[0] > previous[1], "links are monotone"
            previous = (src[-1], tgt[-1])
            if len(src) == 1 and len(tgt) > 1:
                assert not SENTENCE_BREAK.search(fa_lines[src[0]])
                assert "،" in fa_lines[src[0]]
            if len(tgt) == 1 and len(src) > 1:
                assert not SENTENCE_BREAK.search(ar_lines[tgt[0]])
                assert "،" in ar_lines[tgt[0]]
    assert len(paired) == 2 * len(ds.gold_pairs), "a document is in at most one gold pair"

    for doc_id in docs:
        role = ds.info[doc_id]["role"]
        assert (doc_id in paired) == (role == "paired"), role


def test_synthetic_set_invariants() -> None:
    rates = Rates(merge=0.4, drop=0.1, holdback=0.2, distractor=0.2)
    ds = generate(synthetic(), "syn", seed=3, rates=rates)
    check_invariants(ds)
    roles = {info["role"] for info in ds.info.values()}
    assert roles == {"paired", "orphan", "distractor"}
    kinds = ds.stats()["links"]
    assert isinstance(kinds, dict) and {"1-1", "2-1", "1-2"} <= set(kinds)


def test_same_seed_same_set_other_seed_other_set() -> None:
    sources = synthetic()
    assert generate(sources, "syn", seed=1) == generate(sources, "syn", seed=1)
    assert generate(sources, "syn", seed=1).docs != generate(sources, "syn", seed=2).docs


def test_counts_of_orphans_and_distractors() -> None:
    ds = generate(synthetic(40), "syn", seed=0, rates=Rates(holdback=0.1, distractor=0.1))
    roles = [info["role"] for info in ds.info.values()]
    assert roles.count("orphan") == 4
    assert roles.count("distractor") == 4


def test_ids_do_not_reveal_language_or_pairing() -> None:
    ds = generate(synthetic(), "syn", seed=0)
    for doc in ds.docs:
        assert re.fullmatch(r"syn-\d{4}", doc["id"])
    assert any(int(fa[4:]) + 1 != int(ar[4:]) for fa, ar in ds.gold_pairs)


def test_no_damage_gives_one_to_one_links_only() -> None:
    quiet = Rates(
        merge=0, drop=0, title=0, header=0, lead_in=0, inline=0, footer=0, holdback=0, distractor=0
    )
    ds = generate(synthetic(10), "syn", seed=0, rates=quiet)
    for (fa_id, ar_id), links in ds.gold_links.items():
        n = len(ds.line_spans[fa_id])
        assert links == [((i,), (i,)) for i in range(n)]
        assert len(ds.line_spans[ar_id]) == n


# --- mapping to a segmenter's sentences ----------------------------------------------------


def test_map_lines_and_links() -> None:
    text = "Title\nOne. Two.\nThree، و four.\nJunk"
    spans = line_spans(text.split("\n"))
    # a segmenter that split line 1, kept line 2 whole and dropped lines 0 and 3
    sentences = [(6, 10), (11, 15), (16, 30)]
    assert [text[s:e] for s, e in sentences] == ["One.", "Two.", "Three، و four."]
    mapping = map_lines(spans, sentences)
    assert mapping == [(), (0, 1), (2,), ()]
    other = [(0,), (1,), (2,), (3,)]
    links = [((1,), (1,)), ((2,), (2, 3)), ((0,), (0,))]
    mapped, lost = map_links(links, mapping, other)
    assert mapped == [((0, 1), (1,)), ((2,), (2, 3))]
    assert lost == 1


# --- files and the command line ------------------------------------------------------------


def test_write_dataset(tmp_path: Path) -> None:
    ds = generate(synthetic(), "syn", seed=0)
    out = write_dataset(ds, tmp_path / "set")
    docs = [json.loads(line) for line in (out / "docs.jsonl").read_text("utf-8").splitlines()]
    assert [d["id"] for d in docs] == [d["id"] for d in ds.docs]
    assert all(set(d) == {"id", "text"} for d in docs), "lang is left to language detection"

    pairs = (out / "gold_pairs.tsv").read_text("utf-8").splitlines()
    assert pairs[0] == "src_doc\ttgt_doc"
    assert [tuple(p.split("\t")) for p in pairs[1:]] == ds.gold_pairs

    gold = read_gold_links(out / "gold_links.jsonl")
    assert list(gold) == ds.gold_pairs
    for pair, (links, src_spans, tgt_spans) in gold.items():
        assert links == ds.gold_links[pair]
        assert src_spans == ds.line_spans[pair[0]] and tgt_spans == ds.line_spans[pair[1]]

    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["seed"] == 0 and manifest["stats"]["gold_pairs"] == len(ds.gold_pairs)

    write_dataset(ds, tmp_path / "with_lang", with_lang=True)
    first = json.loads((tmp_path / "with_lang" / "docs.jsonl").read_text("utf-8").splitlines()[0])
    assert first["lang"] in ("fa", "ar")


def test_gold_pairs_file_reads_with_scoring(tmp_path: Path) -> None:
    from aligner.scoring import read_pairs, score_pairs

    ds = generate(synthetic(), "syn", seed=0)
    out = write_dataset(ds, tmp_path)
    assert score_pairs(read_pairs(out / "gold_pairs.tsv"), ds.gold_pairs).f1 == 1.0


def test_cli_without_data_skips_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert code == 0
    assert "skipped" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


# --- the real development data -------------------------------------------------------------


def _forms(line: str) -> list[str]:
    """The line as written, and without an agency lead-in (only a first line has one, and a
    source sentence may itself open like a lead-in, so both are tried)."""
    return [line, LEAD_IN.sub("", line, count=1)]


def check_against_source(ds: Dataset, sources: list[SourceDoc]) -> None:
    """Every gold link restates the parallel data: the lines of the multi side are
    consecutive source sentences, and the other side is their translation (packed into one
    line when merged)."""
    translation: dict[str, set[str]] = {}
    for src in sources:
        for fa, ar in zip(src.fa, src.ar, strict=True):
            translation.setdefault(fa, set()).add(ar)
            translation.setdefault(ar, set()).add(fa)
    docs = {d["id"]: d["text"].split("\n") for d in ds.docs}
    for (fa_id, ar_id), links in ds.gold_links.items():
        for src, tgt in links:
            fa = [docs[fa_id][i] for i in src]
            ar = [docs[ar_id][j] for j in tgt]
            many, (one,) = (fa, ar) if len(fa) >= len(ar) else (ar, fa)
            first = next(f for f in _forms(many[0]) if f in translation)
            last = many[-1] if len(many) > 1 else first
            assert all(line in translation for line in many[1:])
            assert any(
                form.startswith(t.rstrip(".")) and form.endswith(u)
                for form in _forms(one)
                for t in translation[first]
                for u in translation[last]
            ), (many, one)


@pytest.mark.parametrize("name", ["flores", "tico"])
def test_real_sets(name: str, request: pytest.FixtureRequest) -> None:
    sources = request.getfixturevalue(name)
    ds = generate(sources, name, seed=0)
    check_invariants(ds)
    check_against_source(ds, sources)
    stats = ds.stats()
    assert stats["gold_pairs"] == len(ds.gold_pairs) > 0
    merged = {k for k in stats["links"] if k != "1-1"}  # type: ignore[union-attr]
    assert {"2-1", "1-2"} <= merged


def test_distractors_are_not_translations(flores: list[SourceDoc]) -> None:
    ds = generate(flores, "flores", seed=0)
    by_key = {s.key: s for s in flores}
    in_set = {
        (ds.info[d["id"]]["source"], d["lang"])
        for d in ds.docs
        if ds.info[d["id"]]["role"] != "distractor"
    }
    distractors = [d for d in ds.docs if ds.info[d["id"]]["role"] == "distractor"]
    assert distractors
    for doc in distractors:
        info = ds.info[doc["id"]]
        reserved, target = by_key[str(info["source"])], by_key[str(info["target"])]
        other = "ar" if doc["lang"] == "fa" else "fa"
        # the reserved document has no side of its own in the set ...
        assert (reserved.key, "fa") not in in_set and (reserved.key, "ar") not in in_set
        # ... the target's counterpart is there, and at most a third of the target is borrowed
        assert (target.key, other) in in_set
        text = doc["text"]
        borrowed = [s for s in getattr(target, doc["lang"]) if s in text]
        assert len(borrowed) <= len(target.fa) // 3


def test_held_back_documents_have_no_pair(tico: list[SourceDoc]) -> None:
    ds = generate(tico, "tico", seed=5)
    paired = {doc for pair in ds.gold_pairs for doc in pair}
    orphans = [doc_id for doc_id, info in ds.info.items() if info["role"] == "orphan"]
    assert orphans and not set(orphans) & paired
    written = [info["source"] for info in ds.info.values() if info["role"] != "distractor"]
    for doc_id in orphans:
        assert written.count(ds.info[doc_id]["source"]) == 1, "only one side is in the set"


def test_cli_is_deterministic_across_processes(tmp_path: Path) -> None:
    if not DATA.is_dir():
        pytest.skip(f"development data not found: {DATA}")
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run(
            [sys.executable, "-m", "bench.datasets", "--data", str(DATA), "--out", str(out)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        outputs.append(
            {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        )
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 2 * 5
