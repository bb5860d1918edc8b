"""The TSV contract of `aligner match` / `aligner align`."""

import pandas as pd
import pytest

from aligner.errors import AlignerError
from aligner.prepare import prepare_document
from aligner.types import Alignment, Document, DocumentPair, Link
from aligner.writers import PARALLEL_COLUMNS, write_pairs_tsv, write_parallel_tsv


def hostile_alignment() -> Alignment:
    src = prepare_document(Document("doc\tA", "first\tsentence with a tab.\nsecond one\r\nhere."))
    tgt = prepare_document(Document("doc B", "جمله\x00 اول.\nجمله \u202bدوم\u202c."))
    links = (Link((0,), (0,), 0.91234), Link((1, 2), (1,), 0.5))
    return Alignment(src, tgt, links)


def test_columns_and_rows_survive_tabs_newlines_nul_and_bidi(tmp_path):
    path = tmp_path / "out.tsv"
    count = write_parallel_tsv([hostile_alignment()], path)
    assert count == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(PARALLEL_COLUMNS)
    assert all(len(line.split("\t")) == len(PARALLEL_COLUMNS) for line in lines)
    frame = pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(PARALLEL_COLUMNS)
    assert frame.loc[1, "src_sents"] == "1,2"
    assert frame.loc[0, "score"] == "0.9123"
    assert frame.loc[0, "src_doc"] == "doc A"
    assert "\u202b" in frame.loc[1, "tgt_text"]  # the author's bidi marks are kept
    assert frame.loc[1, "src_text"] == "second one here."


def test_many_sentence_segment_text_is_joined_with_one_space(tmp_path):
    path = tmp_path / "out.tsv"
    write_parallel_tsv([hostile_alignment()], path)
    frame = pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    assert frame.loc[1, "src_text"].count("  ") == 0


def test_pairs_file_has_scores_and_evidence(tmp_path):
    alignment = hostile_alignment()
    pair = DocumentPair(alignment.src, alignment.tgt, 0.8, 0.1, alignment)
    path = tmp_path / "pairs.tsv"
    write_pairs_tsv([pair], path)
    frame = pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    for column in ("src_doc", "tgt_doc", "src_lang", "tgt_lang", "score", "src_coverage"):
        assert column in frame.columns
    assert frame.loc[0, "links"] == "2"


def test_output_in_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AlignerError, match="does not exist"):
        write_parallel_tsv([hostile_alignment()], tmp_path / "nope" / "out.tsv")


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.tsv"
    path.write_text("previous complete output\n")

    def rows():
        yield from []
        raise RuntimeError("interrupted")

    from aligner.writers import write_tsv

    with pytest.raises(RuntimeError):
        write_tsv(({"a": "1"} for _ in rows()), ("a",), path)
    assert path.read_text() == "previous complete output\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]
