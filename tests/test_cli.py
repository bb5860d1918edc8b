"""`aligner match` / `aligner align` as a user runs them."""

import pandas as pd
from click.testing import CliRunner

from aligner.cli import main

SEED_PAIR = ("001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa")


def read_tsv(path):
    return pd.read_csv(path, sep="\t", quoting=3, dtype=str, keep_default_na=False)


def test_seeds_give_exactly_the_one_true_pair(seeds_dir, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "match", str(seeds_dir), "-o", str(tmp_path / "parallel.tsv"),
            "--pairs", str(tmp_path / "pairs.tsv"), "--index", str(tmp_path / "idx"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = read_tsv(tmp_path / "pairs.tsv")
    assert list(zip(pairs.src_doc, pairs.tgt_doc)) == [SEED_PAIR]
    assert (pairs.src_lang[0], pairs.tgt_lang[0]) == ("fa", "ar")
    parallel = read_tsv(tmp_path / "parallel.tsv")
    assert set(parallel.src_doc) == {SEED_PAIR[0]}
    links = set(zip(parallel.src_sents, parallel.tgt_sents))
    # careful-reader links that the built-in encoder must find
    expected = [("1,2,3", "1"), ("4", "2"), ("5", "3"), ("6", "4"), ("7", "5"), ("8", "6")]
    expected.append(("9,10", "7"))  # Arabic packs two Persian sentences ...
    for link in expected:  # ... and, in its second sentence, three
        assert link in links
    text = " ".join(parallel.src_text) + " ".join(parallel.tgt_text)
    for junk in ("انتهای پیام", "انتهى", "المصدر", "نظرات", "reCAPTCHA", "في اتصاله هاتفيا"):
        assert junk not in text
    assert (tmp_path / "idx" / "manifest.json").is_file()


def test_index_made_by_another_encoder_is_refused(seeds_dir, tmp_path):
    runner = CliRunner()
    args = ["match", str(seeds_dir), "-o", str(tmp_path / "p.tsv"), "--index", str(tmp_path / "i")]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, [*args, "--model", "builtin:1024"])
    assert result.exit_code == 3
    assert "made with encoder" in result.output


def test_jsonl_on_stdin_with_languages_restricted(tmp_path, seeds_dir):
    import json

    lines = [
        json.dumps({"id": p.stem, "text": p.read_text(encoding="utf-8")})
        for p in sorted(seeds_dir.glob("*.txt"))
    ]
    result = CliRunner().invoke(
        main, ["match", "-", "--src-lang", "ar", "--tgt-lang", "fa"], input="\n".join(lines)
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(
        __import__("io").StringIO(result.stdout), sep="\t", quoting=3, dtype=str,
        keep_default_na=False,
    )  # fmt: skip
    assert set(zip(frame.src_doc, frame.tgt_doc)) == {SEED_PAIR[::-1]}
    assert set(frame.src_lang) == {"ar"}


def test_align_two_files(seeds_dir, tmp_path):
    a, b = (seeds_dir / f"{stem}.txt" for stem in SEED_PAIR)
    result = CliRunner().invoke(main, ["align", str(a), str(b), "-o", str(tmp_path / "o.tsv")])
    assert result.exit_code == 0, result.output
    frame = read_tsv(tmp_path / "o.tsv")
    assert ("6", "4") in set(zip(frame.src_sents, frame.tgt_sents))


def test_csv_input_and_missing_path_error(tmp_path):
    csv_path = tmp_path / "docs.csv"
    csv_path.write_text('id,text\nx,"سلام دنیا. این یک متن است."\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["match", str(csv_path)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["match", str(tmp_path / "missing.jsonl")])
    assert result.exit_code != 0
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_help_texts_explain_with_examples():
    runner = CliRunner()
    for args in (["--help"], ["match", "--help"], ["align", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0
        assert "Example" in result.output
