"""Tests for bench.datasets: merging, invariants of generated sets, files and the CLI.

Tests marked by the `flores`/`tico` fixtures read the development data in ../shared/data and
skip when it is absent (a user's machine does not have it)."""

from __future__ import annotations

import hashlib
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
    parse_pair,
    read_gold_links,
    write_dataset,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# Written independently of the module: where a segmenter splitting at ". " would cut.
SENTENCE_BREAK = re.compile(r"[.!?؟…][\"'»”’)\]}]*\s")
LEAD_IN = re.compile(r"^(به گزارش [^،]+، |\S+ \([^)]+\) - )")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
COMMA = {"fa": "،", "ar": "،", "en": ","}
PAIRS = [("fa", "ar"), ("fa", "en"), ("ar", "en")]
# SHA-256 of `digest(generate(corpus, name, seed))` as the fa-ar sets were before the language
# pair became a parameter (commit 167a0fc): the default must still give exactly these sets.
DEFAULT_DIGESTS = {
    ("flores200", 0): "1c42f4b3401cbba59671288a4f62d76b9e7bb068bcb76bc785c1487cb33f2b2e",
    ("flores200", 1): "73d717dfc85d5fd67310606bbb7b89374ffc0ebfb930ecfde424523267e5a291",
    ("tico19", 0): "9f0b6dea887ff31836e6a16a706746ee5a2129bb42eefe786896ac3da1eaae0e",
    ("tico19", 1): "32650e6518dc94c669fcf49d72872aa000516832a0dd482dc20f278d62566131",
}


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


def with_english(docs: list[SourceDoc]) -> list[SourceDoc]:
    """`docs` with an English side (same guards: a question, an internal break)."""
    out = []
    for d, doc in enumerate(docs):
        en = [
            f"The sentence {i} of report {d} is about topic number {d % 4}."
            for i in range(len(doc.fa))
        ]
        en[1] = f"Is report {d} complete?"
        en[-1] = f"The speaker said so. Then he left the room {d}."
        out.append(SourceDoc(doc.key, doc.domain, doc.fa, doc.ar, tuple(en)))
    return out


def digest(ds: Dataset) -> str:
    links = sorted((list(pair), links) for pair, links in ds.gold_links.items())
    blob = json.dumps(
        [ds.docs, ds.gold_pairs, links, ds.line_spans, ds.info], ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


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


def test_merge_english_uses_a_latin_comma_and_and() -> None:
    assert merge_sentences(["He came.", "The minister left."], "en") == (
        "He came, and the minister left."
    )
    assert merge_sentences(["He came.", "Iran said no."], "en") == "He came, and Iran said no."
    assert merge_sentences(["A.", "But it rained.", "And so."], "en") == "A, but it rained, and so."
    assert merge_sentences(["It is 4.5 km", "I went."], "en") == "It is 4.5 km, and I went."


def test_merge_in_other_languages_uses_the_comma_of_the_script() -> None:
    assert merge_sentences(["Er kam.", "Sie ging."], "de") == "Er kam, Sie ging."
    assert merge_sentences(["وہ آیا.", "وہ گیا."], "ur") == "وہ آیا، وہ گیا."


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
    src_lang, tgt_lang = ds.langs
    docs = {d["id"]: d for d in ds.docs}
    assert len(docs) == len(ds.docs)
    for doc_id, doc in docs.items():
        lines = doc["text"].split("\n")
        assert ds.line_spans[doc_id] == line_spans(lines)
        for (start, end), line in zip(ds.line_spans[doc_id], lines, strict=True):
            assert line and line == line.strip()
            assert doc["text"][start:end] == line

    paired = set()
    assert {d["lang"] for d in ds.docs} <= set(ds.langs)
    for src_id, tgt_id in ds.gold_pairs:
        assert docs[src_id]["lang"] == src_lang and docs[tgt_id]["lang"] == tgt_lang
        paired |= {src_id, tgt_id}
        links = ds.gold_links[(src_id, tgt_id)]
        assert links, "a gold pair has at least one link"
        src_lines = docs[src_id]["text"].split("\n")
        tgt_lines = docs[tgt_id]["text"].split("\n")
        furniture = (set(ds.info[src_id]["furniture"]), set(ds.info[tgt_id]["furniture"]))
        previous = (-1, -1)
        for src, tgt in links:
            for side, lines in ((0, src), (1, tgt)):
                assert lines and list(lines) == list(range(lines[0], lines[0] + len(lines)))
                assert not set(lines) & furniture[side], "furniture is never in a gold link"
            assert src[0] > previous[0] and tgt[0] > previous[1], "links are monotone"
            previous = (src[-1], tgt[-1])
            if len(src) == 1 and len(tgt) > 1:
                assert not SENTENCE_BREAK.search(src_lines[src[0]])
                assert COMMA[src_lang] in src_lines[src[0]]
            if len(tgt) == 1 and len(src) > 1:
                assert not SENTENCE_BREAK.search(tgt_lines[tgt[0]])
                assert COMMA[tgt_lang] in tgt_lines[tgt[0]]
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


@pytest.mark.parametrize("langs", [("fa", "en"), ("en", "ar"), ("ar", "fa")], ids="-".join)
def test_synthetic_set_invariants_in_other_pairs(langs: tuple[str, str]) -> None:
    rates = Rates(merge=0.4, drop=0.1, holdback=0.2, distractor=0.2)
    ds = generate(with_english(synthetic()), "syn", seed=3, rates=rates, langs=langs)
    assert ds.langs == langs
    check_invariants(ds)
    assert {info["role"] for info in ds.info.values()} == {"paired", "orphan", "distractor"}
    assert {d["lang"] for d in ds.docs} == set(langs)
    kinds = ds.stats()["links"]
    assert isinstance(kinds, dict) and {"1-1", "2-1", "1-2"} <= set(kinds)
    for doc in ds.docs:
        if doc["lang"] == "en":
            assert not ARABIC_SCRIPT.search(doc["text"]), "English furniture is English"


def test_default_pair_is_fa_ar() -> None:
    sources = with_english(synthetic())
    assert generate(sources, "syn", seed=2) == generate(sources, "syn", seed=2, langs=("fa", "ar"))


def test_a_pair_needs_two_languages_the_sources_have() -> None:
    assert parse_pair("fa-en") == ("fa", "en")
    for bad in (("fa", "fa"), ("fa", "de"), ("fa",), ("fa", "ar", "en")):
        with pytest.raises(ValueError, match="language pair"):
            generate(synthetic(), "syn", langs=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no en side"):
        generate(synthetic(), "syn", langs=("fa", "en"))


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

    assert "langs" not in manifest, "a fa-ar manifest is what it was before pairs"

    write_dataset(ds, tmp_path / "with_lang", with_lang=True)
    first = json.loads((tmp_path / "with_lang" / "docs.jsonl").read_text("utf-8").splitlines()[0])
    assert first["lang"] in ("fa", "ar")

    en = generate(with_english(synthetic()), "syn", seed=0, langs=("en", "fa"))
    out = write_dataset(en, tmp_path / "en-fa")
    assert json.loads((out / "manifest.json").read_text("utf-8"))["langs"] == ["en", "fa"]
    assert list(read_gold_links(out / "gold_links.jsonl")) == en.gold_pairs


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
    line when merged; an English second half may have lost its capital)."""
    a_lang, b_lang = ds.langs
    translation: dict[str, set[str]] = {}
    for source in sources:
        for a, b in zip(source.side(a_lang), source.side(b_lang), strict=True):
            translation.setdefault(a, set()).add(b)
            translation.setdefault(b, set()).add(a)
    docs = {d["id"]: d["text"].split("\n") for d in ds.docs}
    for (a_id, b_id), links in ds.gold_links.items():
        for src, tgt in links:
            a_lines = [docs[a_id][i] for i in src]
            b_lines = [docs[b_id][j] for j in tgt]
            many, (one,) = (a_lines, b_lines) if len(src) >= len(tgt) else (b_lines, a_lines)
            first = next(f for f in _forms(many[0]) if f in translation)
            last = many[-1] if len(many) > 1 else first
            assert all(line in translation for line in many[1:])
            assert any(
                form.startswith(t.rstrip(".")) and form.lower().endswith(u.lower())
                for form in _forms(one)
                for t in translation[first]
                for u in translation[last]
            ), (many, one)


@pytest.mark.parametrize("name", ["flores200", "tico19"])
def test_default_sets_are_those_made_before_language_pairs(name: str) -> None:
    sources = _corpus(name)
    for seed in (0, 1):
        assert digest(generate(sources, name, seed)) == DEFAULT_DIGESTS[(name, seed)]


@pytest.mark.parametrize("langs", PAIRS, ids="-".join)
@pytest.mark.parametrize("name", ["flores", "tico"])
def test_real_sets(name: str, langs: tuple[str, str], request: pytest.FixtureRequest) -> None:
    sources = request.getfixturevalue(name)
    ds = generate(sources, name, seed=0, langs=langs)
    check_invariants(ds)
    check_against_source(ds, sources)
    stats = ds.stats()
    assert stats["gold_pairs"] == len(ds.gold_pairs) > 0
    merged = {k for k in stats["links"] if k != "1-1"}  # type: ignore[union-attr]
    assert {"2-1", "1-2"} <= merged


@pytest.mark.parametrize("langs", PAIRS, ids="-".join)
def test_distractors_are_not_translations(flores: list[SourceDoc], langs: tuple[str, str]) -> None:
    ds = generate(flores, "flores", seed=0, langs=langs)
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
        other = langs[1 - langs.index(doc["lang"])]
        # the reserved document has no side of its own in the set ...
        assert not {(reserved.key, lang) for lang in langs} & in_set
        # ... the target's counterpart is there, and at most a third of the target is borrowed
        assert (target.key, other) in in_set
        text = doc["text"]
        borrowed = [s for s in target.side(doc["lang"]) if s in text]
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
