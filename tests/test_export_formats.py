"""Output formats: JSONL, TMX and Moses carry exactly the segments of the TSV."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import writers
from aligner.cli import main
from aligner.errors import AlignerError
from aligner.types import Alignment, Document, Link, PreparedDocument, Sentence
from aligner.writers import (
    PARALLEL_COLUMNS,
    filter_links,
    format_for,
    json_rows,
    moses_paths,
    parallel_rows,
    write_parallel,
    write_parallel_jsonl,
    write_parallel_moses,
    write_parallel_tmx,
    write_parallel_tsv,
)

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

FA = [
    "وزیر امور خارجه <ایران> امروز با همتای روسی خود دیدار کرد.",
    'قیمت نفت "برنت" & گاز به هشتاد دلار رسید.',
    "تیم ملی فوتبال\x00 در بازی\x01 دوستانه\x0b پیروز شد.",
    "جمله ای بدون ترجمه.",
]
AR = [
    "التقى وزير الخارجية <الإيراني> اليوم بنظيره الروسي.",
    "وصل سعر نفط 'برنت' والغاز إلى ثمانين دولارا.",
    "فاز المنتخب \ufffe الوطني\uffff في مباراة ودية.",
]


def prepared(doc_id: str, lang: str, texts: list[str]) -> PreparedDocument:
    sentences = tuple(Sentence(i, t, t) for i, t in enumerate(texts))
    return PreparedDocument(Document(doc_id, " ".join(texts)), lang, sentences)


@pytest.fixture
def alignments() -> list[Alignment]:
    src = prepared("fa/doc&1", "fa", FA)
    tgt = prepared("ar<doc>2", "ar", AR)
    links = (Link((0,), (0,), 0.91), Link((1,), (1,), 0.55), Link((2, 3), (2,), 0.72))
    return [Alignment(src, tgt, links)]


def test_format_from_extension_tsv_otherwise():
    assert format_for("out.tmx") == "tmx"
    assert format_for("OUT.JSONL") == "jsonl"
    assert format_for("out.ndjson") == "jsonl"
    assert format_for("out.tsv") == "tsv"
    assert format_for("out.txt") == "tsv"
    assert format_for("-") == "tsv"
    assert format_for(None) == "tsv"
    assert format_for("out.tmx", "moses") == "moses"


def test_filter_links_drops_low_scores_and_counts_them(alignments):
    kept, dropped = filter_links(alignments, 0.7)
    assert dropped == 1
    assert [link.score for link in kept[0].links] == [0.91, 0.72]
    same, none = filter_links(alignments, 0.0)
    assert none == 0 and same == alignments


def test_tsv_contract_is_unchanged(alignments, tmp_path):
    path = tmp_path / "out.tsv"
    assert write_parallel(alignments, path, "tsv") == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(PARALLEL_COLUMNS)
    assert [line.split("\t") for line in lines[1:]] == [
        [row[c] for c in PARALLEL_COLUMNS] for row in parallel_rows(alignments)
    ]


def test_jsonl_round_trip(alignments, tmp_path):
    path = tmp_path / "out.jsonl"
    assert write_parallel_jsonl(alignments, path) == 3
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records == list(json_rows(alignments))
    rows = list(parallel_rows(alignments))
    for record, row in zip(records, rows):
        assert list(record) == list(PARALLEL_COLUMNS)
        assert isinstance(record["score"], float) and f"{record['score']:.4f}" == row["score"]
        assert all(isinstance(i, int) for i in record["src_sents"] + record["tgt_sents"])
        assert ",".join(map(str, record["src_sents"])) == row["src_sents"]
        assert {k: v for k, v in record.items() if isinstance(v, str)} == {
            k: v for k, v in row.items() if k not in ("src_sents", "tgt_sents", "score")
        }
    assert records[2]["src_sents"] == [2, 3]


def test_tmx_parses_back_to_the_same_segments(alignments, tmp_path):
    path = tmp_path / "out.tmx"
    assert write_parallel_tmx(alignments, path) == 3
    root = ET.parse(path).getroot()  # well-formed, or this raises
    assert root.tag == "tmx" and root.get("version") == "1.4"
    header = root.find("header")
    for required in ("creationtool", "creationtoolversion", "segtype", "o-tmf", "adminlang",
                     "srclang", "datatype"):  # fmt: skip
        assert header.get(required), required
    assert header.get("srclang") == "fa"
    units = root.findall("body/tu")
    rows = list(parallel_rows(alignments))
    assert len(units) == len(rows)
    for tu, row in zip(units, rows):
        props = {p.get("type"): p.text for p in tu.findall("prop")}
        assert props["x-score"] == row["score"]
        assert props["x-src-doc"] == row["src_doc"] == "fa/doc&1"
        assert props["x-tgt-doc"] == row["tgt_doc"] == "ar<doc>2"
        assert (props["x-src-sents"], props["x-tgt-sents"]) == (row["src_sents"], row["tgt_sents"])
        tuvs = tu.findall("tuv")
        assert [t.get(XML_LANG) for t in tuvs] == ["fa", "ar"]
        segs = [t.find("seg").text for t in tuvs]
        assert segs == [writers.strip_xml_illegal(row["src_text"]),
                        writers.strip_xml_illegal(row["tgt_text"])]  # fmt: skip
    assert units[0].find("tuv/seg").text == FA[0]  # < > survive escaping
    assert '"برنت" &' in units[1].find("tuv/seg").text
    # characters XML 1.0 forbids are gone, the rest of the sentence is kept
    last = units[2].findall("tuv/seg")[1].text
    assert "\ufffe" not in last and "\uffff" not in last and "الوطني" in last


def test_tmx_strips_nul_and_c0_controls():
    assert writers.xml_text('a\x00b\x01c\x1fd\te<&>"') == "abcd\te&lt;&amp;&gt;&quot;"
    assert writers.xml_text("x\ud800y\ufffez\U0001f600") == "xyz\U0001f600"


def test_moses_files_are_line_aligned_with_ids(alignments, tmp_path):
    name = tmp_path / "corpus"
    assert write_parallel_moses(alignments, name) == 3
    src_path, tgt_path, ids_path = moses_paths(name, "fa", "ar")
    assert src_path.name == "corpus.fa" and tgt_path.name == "corpus.ar"
    src = src_path.read_text(encoding="utf-8").splitlines()
    tgt = tgt_path.read_text(encoding="utf-8").splitlines()
    ids = [line.split("\t") for line in ids_path.read_text(encoding="utf-8").splitlines()]
    assert len(src) == len(tgt) == len(ids) == 3
    rows = list(parallel_rows(alignments))
    for k, row in enumerate(rows):
        assert src[k] == row["src_text"] and tgt[k] == row["tgt_text"]
        assert ids[k] == [row["src_doc"], row["tgt_doc"], row["src_sents"], row["tgt_sents"]]


def test_moses_is_all_or_nothing(alignments, tmp_path, monkeypatch):
    name = tmp_path / "corpus"
    (tmp_path / "corpus.ids").write_text("old\n")

    def broken(rows):
        yield from list(parallel_rows(rows))[:1]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "parallel_rows", broken)
    with pytest.raises(AlignerError, match="nothing was written"):
        write_parallel_moses(alignments, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.ids"]  # no temp files left
    assert (tmp_path / "corpus.ids").read_text() == "old\n"


def test_moses_needs_a_name_and_one_language_pair(alignments, tmp_path):
    with pytest.raises(AlignerError, match="-o NAME"):
        write_parallel_moses(alignments, "-")
    other = Alignment(
        prepared("x", "fa", FA[:1]), prepared("y", "en", ["A."]), (Link((0,), (0,), 0.9),)
    )
    with pytest.raises(AlignerError, match="fa-ar, fa-en"):
        write_parallel_moses([*alignments, other], tmp_path / "c")
    # no segment at all: the files are named after the language pair that was matched
    assert write_parallel_moses([], tmp_path / "empty", ("fa", "ar")) == 0
    assert (tmp_path / "empty.fa").read_text() == "" and (tmp_path / "empty.ids").exists()


def test_write_parallel_rejects_unknown_format(alignments, tmp_path):
    with pytest.raises(AlignerError, match="unknown output format"):
        write_parallel(alignments, tmp_path / "x", "xml")


def test_tsv_file_is_readable_by_others(alignments, tmp_path):
    path = tmp_path / "out.tsv"
    write_parallel_tsv(alignments, path)
    assert path.stat().st_mode & 0o044  # not the owner-only mode of a temporary file


# ---------------------------------------------------------------------------- command line


def run_cli(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_cli_formats_carry_the_same_segments(seeds_dir: Path, tmp_path):
    tsv = tmp_path / "p.tsv"
    _, summary = run_cli("match", str(seeds_dir), "-o", str(tsv))
    rows = tsv.read_text(encoding="utf-8").splitlines()[1:]
    assert "5 documents read" in summary and "1 pair matched" in summary
    assert f"{len(rows)} segments written, 0 segments filtered" in summary

    run_cli("match", str(seeds_dir), "-o", str(tmp_path / "p.tmx"))
    assert len(ET.parse(tmp_path / "p.tmx").getroot().findall("body/tu")) == len(rows)

    out, _ = run_cli("match", str(seeds_dir), "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["src_text"] for r in records] == [r.split("\t")[7] for r in rows]

    run_cli("match", str(seeds_dir), "--format", "moses", "-o", str(tmp_path / "c"))
    counts = {p.suffix: len(p.read_text(encoding="utf-8").splitlines())
              for p in tmp_path.glob("c.*")}  # fmt: skip
    assert counts == {".fa": len(rows), ".ar": len(rows), ".ids": len(rows)}


def test_cli_min_score_filters_and_reports(seeds_dir: Path, tmp_path):
    out, _ = run_cli("match", str(seeds_dir))
    scores = [float(line.split("\t")[6]) for line in out.splitlines()[1:]]
    cut = sorted(scores)[len(scores) // 2]
    out, summary = run_cli("match", str(seeds_dir), "--min-score", str(cut))
    kept = [float(line.split("\t")[6]) for line in out.splitlines()[1:]]
    assert kept and min(kept) >= cut
    dropped = len(scores) - len(kept)
    assert dropped > 0
    assert f"{len(kept)} segments written, {dropped} segments filtered" in summary


def test_cli_align_takes_format(seeds_dir: Path, tmp_path):
    fa, ar = seeds_dir / "001_2ad9410abe4922a4.txt", seeds_dir / "004_e5f69c90d0bd1dfa.txt"
    out, summary = run_cli("align", str(fa), str(ar), "--format", "jsonl")
    records = [json.loads(line) for line in out.splitlines()]
    assert records and {r["src_lang"] for r in records} == {"fa"}
    assert "fa 11 + ar 8 sentences" in summary and f"{len(records)} segments written" in summary


def test_cli_refuses_an_unwritable_output_before_any_work(seeds_dir: Path, tmp_path):
    out = tmp_path / "p.tsv"
    args = ["match", str(seeds_dir), "-o", str(out), "--html", str(tmp_path / "no" / "r.html")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not out.exists()
