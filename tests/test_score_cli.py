"""`aligner score`: the command line over aligner.scoring."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aligner.cli import main
from aligner.errors import InputError

PARALLEL_HEADER = (
    "src_doc\ttgt_doc\tsrc_lang\ttgt_lang\tsrc_sents\ttgt_sents\tscore\tsrc_text\ttgt_text"
)
# Vecalign/Bertalign gold: one document pair per file, 0-based sentence indices.
VECALIGN_GOLD = "[0]:[0]\n[1, 2]:[1]\n[3]:[]\n[]:[2]\n[4]:[3, 4]\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["score", *args])
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def parallel_tsv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = [PARALLEL_HEADER] + [f'{s}\t{t}\tfa\tar\t{a}\t{b}\t0.9\t"x"\ty' for s, t, a, b in rows]
    return write(path, "\n".join(lines) + "\n")


def rows_of(stdout: str) -> dict[str, list[str]]:
    """Report rows by measure name: [name, P, R, F1, tp, pred, gold]."""
    table = {}
    for line in stdout.splitlines():
        cols = line.split()
        if len(cols) >= 7:
            name = " ".join(cols[:-6])
            table[name] = [name, *cols[-6:]]
    return table


def test_perfect_tsv_prediction(tmp_path: Path) -> None:
    rows = [("a", "b", "0", "0"), ("a", "b", "1,2", "1")]
    gold = parallel_tsv(tmp_path / "gold.tsv", rows)
    code, out, _ = run("--gold", str(gold), "--pred", str(gold))
    assert code == 0
    table = rows_of(out)
    assert table["strict"][1:4] == ["1.0000", "1.0000", "1.0000"]
    assert table["lax"][1:4] == ["1.0000", "1.0000", "1.0000"]


def test_vecalign_gold_against_tsv_prediction(tmp_path: Path) -> None:
    gold = write(tmp_path / "pair7.align", VECALIGN_GOLD)
    pred = parallel_tsv(
        tmp_path / "parallel.tsv",
        [("fa7", "ar7", "0", "0"), ("fa7", "ar7", "1", "1"), ("fa7", "ar7", "2", "1"),
         ("fa7", "ar7", "4", "3,4")],
    )  # fmt: skip
    code, out, _ = run(
        "--gold", str(gold), "--pred", str(pred), "--src-doc", "fa7", "--tgt-doc", "ar7", "--json"
    )
    assert code == 0, out
    scores = json.loads(out)["sentence alignment"]
    strict, lax = scores["strict"], scores["lax"]
    assert (strict["true_positives"], strict["n_pred"], strict["n_gold"]) == (2, 4, 3)
    assert (lax["true_positives"], lax["n_pred"], lax["n_gold"]) == (5, 5, 5)
    assert strict["precision"] == 0.5


def test_vecalign_gold_without_ids_warns_when_nothing_in_common(tmp_path: Path) -> None:
    gold = write(tmp_path / "pair7.align", VECALIGN_GOLD)
    pred = parallel_tsv(tmp_path / "parallel.tsv", [("fa7", "ar7", "0", "0")])
    code, out, err = run("--gold", str(gold), "--pred", str(pred))
    assert code == 0
    assert "no document pair of --pred is in --gold" in err
    assert rows_of(out)["strict"][3] == "0.0000"


def test_two_vecalign_files_are_the_same_pair(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.align", VECALIGN_GOLD)
    pred = write(tmp_path / "pred.align", "[0]:[0]:0.9\n[1]:[1]:0.8\n[2]:[]\n[4]:[3, 4]:0.7\n")
    code, out, _ = run("--gold", str(gold), "--pred", str(pred), "--by-kind")
    assert code == 0
    table = rows_of(out)
    assert table["strict"][4:7] == ["2", "3", "3"]  # tp, pred, gold
    assert "strict 1-2" in table and "strict 2-1" in table


def test_folders_of_vecalign_files(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    (tmp_path / "pred").mkdir()
    write(tmp_path / "gold" / "d1", "[0]:[0]\n[1]:[1]\n")
    write(tmp_path / "gold" / "d2", "[0, 1]:[0]\n")
    write(tmp_path / "pred" / "d1", "[0]:[0]\n[1]:[1]\n")
    write(tmp_path / "pred" / "d2", "[0]:[0]\n")
    code, out, _ = run("--gold", str(tmp_path / "gold"), "--pred", str(tmp_path / "pred"))
    assert code == 0
    table = rows_of(out)
    assert table["strict"][4:7] == ["2", "3", "3"]
    assert table["lax"][4:7] == ["3", "3", "4"]


def test_document_pairs(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold_pairs.tsv", "src_doc\ttgt_doc\na\tb\nc\td\n")
    # our --pairs output has more columns; a pair seen from the other side is the same pair
    pred = write(tmp_path / "pairs.tsv", "src_doc\ttgt_doc\tscore\nb\ta\t0.9\nc\te\t0.8\n")
    code, out, _ = run("--gold-pairs", str(gold), "--pred-pairs", str(pred))
    assert code == 0
    assert rows_of(out)["pairs"][1:4] == ["0.5000", "0.5000", "0.5000"]


def test_alignment_and_pairs_together(tmp_path: Path) -> None:
    gold = parallel_tsv(tmp_path / "gold.tsv", [("a", "b", "0", "0")])
    pairs = write(tmp_path / "gold_pairs.tsv", "src_doc\ttgt_doc\na\tb\n")
    code, out, _ = run(
        "--gold", str(gold), "--pred", str(gold), "--gold-pairs", str(pairs),
        "--pred-pairs", str(pairs),
    )  # fmt: skip
    assert code == 0
    assert "sentence alignment" in out and "document pairs" in out


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    gold = parallel_tsv(tmp_path / "gold.tsv", [("a", "b", "0", "0")])
    code, _, err = run("--gold", str(gold), "--pred", str(tmp_path / "nope.tsv"))
    assert code == InputError.exit_code
    assert err.strip().count("\n") == 0
    assert "nope.tsv" in err and "no such file" in err


def test_bad_vecalign_line_is_an_input_error(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.align", "[0]:[0]\n0 - 0\n")
    code, _, err = run("--gold", str(gold), "--pred", str(gold))
    assert code == InputError.exit_code
    assert err.startswith("aligner: error:") and "gold.align:2" in err


def test_tsv_missing_column(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.tsv", "src_doc\ttgt_doc\na\tb\n")
    code, _, err = run("--gold", str(gold), "--pred", str(gold))
    assert code == InputError.exit_code
    assert "missing column" in err


def test_options_must_come_in_pairs(tmp_path: Path) -> None:
    gold = parallel_tsv(tmp_path / "gold.tsv", [("a", "b", "0", "0")])
    code, _, err = run("--gold", str(gold))
    assert code == 2 and "go together" in err
    code, _, err = run()
    assert code == 2 and "nothing to score" in err


def test_doc_ids_refused_for_folders(tmp_path: Path) -> None:
    (tmp_path / "gold").mkdir()
    write(tmp_path / "gold" / "d1", "[0]:[0]\n")
    code, _, err = run(
        "--gold", str(tmp_path / "gold"), "--pred", str(tmp_path / "gold"), "--src-doc", "x"
    )
    assert code == 2 and "single file" in err


def test_not_utf8(tmp_path: Path) -> None:
    gold = tmp_path / "gold.tsv"
    gold.write_bytes(b"src_doc\ttgt_doc\tsrc_sents\ttgt_sents\n\xff\xfe\t\x81\t0\t0\n")
    code, _, err = run("--gold", str(gold), "--pred", str(gold))
    assert code != 0 and "UTF-8" in err
