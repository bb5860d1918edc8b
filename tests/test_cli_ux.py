"""What the command line tells a user who gives it something it cannot do well: usage
errors for impossible requests, warnings where a run would otherwise end in silence."""

import json

import pytest
from click.testing import CliRunner

from aligner.cli import main

SEED_PAIR = ("001_2ad9410abe4922a4", "004_e5f69c90d0bd1dfa")


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def seed_record(seeds_dir, stem, **fields):
    text = (seeds_dir / f"{stem}.txt").read_text(encoding="utf-8")
    return json.dumps({"id": stem, "text": text, **fields}, ensure_ascii=False)


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- one language on both sides ------------------------------------------------------------


@pytest.mark.parametrize("command", ["match", "report"])
def test_same_source_and_target_language_is_a_usage_error(command, seeds_dir, tmp_path):
    result = run(command, seeds_dir, "--src-lang", "fa", "--tgt-lang", "fa",
                 "-o", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "aligner dedup" in result.output
    assert not (tmp_path / "out").exists()


def test_the_api_never_pairs_a_document_with_itself(seeds_dir):
    import aligner

    docs = aligner.load_documents([seeds_dir])
    assert aligner.match(docs, src_lang="fa", tgt_lang="fa").pairs == []


# -- align reads its two inputs as match does ---------------------------------------------


def test_align_takes_a_one_record_jsonl_as_that_document(seeds_dir, tmp_path):
    one = write_jsonl(tmp_path / "one.jsonl", [seed_record(seeds_dir, SEED_PAIR[0], title="T")])
    out = tmp_path / "o.jsonl"
    result = run("align", one, seeds_dir / f"{SEED_PAIR[1]}.txt", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["src_doc"] for r in rows} == {SEED_PAIR[0]}
    assert {(r["src_lang"], r["tgt_lang"]) for r in rows} == {("fa", "ar")}
    assert len(rows) >= 5  # aligned sentence by sentence, not one raw JSON line
    assert all('"text"' not in r["src_text"] for r in rows)


def test_align_refuses_a_jsonl_with_several_records(seeds_dir, tmp_path):
    many = write_jsonl(
        tmp_path / "seeds.jsonl", [seed_record(seeds_dir, p.stem) for p in seeds_dir.glob("*.txt")]
    )
    result = run("align", many, seeds_dir / f"{SEED_PAIR[1]}.txt", "-o", tmp_path / "o.tsv")
    assert result.exit_code == 4, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "5 documents" in lines[0] and "aligner match" in lines[0]
    assert not (tmp_path / "o.tsv").exists()


def test_align_refuses_an_empty_jsonl_and_a_folder_of_several(seeds_dir, tmp_path):
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    result = run("align", empty, seeds_dir / f"{SEED_PAIR[1]}.txt")
    assert result.exit_code == 4, result.output
    assert "no document" in result.output
    result = run("align", seeds_dir, seeds_dir / f"{SEED_PAIR[1]}.txt")
    assert result.exit_code == 4, result.output
    assert "5 documents" in result.output


def test_align_takes_a_folder_of_one_and_a_table_of_one_with_languages_overridden(
    seeds_dir, tmp_path
):
    folder = tmp_path / "fa"
    folder.mkdir()
    (folder / "x.txt").write_text(
        (seeds_dir / f"{SEED_PAIR[0]}.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    table = tmp_path / "ar.tsv"
    text = (seeds_dir / f"{SEED_PAIR[1]}.txt").read_text(encoding="utf-8")
    table.write_text("id\ttext\nb\t" + text.replace("\n", " ") + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    result = run("align", folder, table, "--src-lang", "pes", "--tgt-lang", "arb", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and {(r["src_doc"], r["tgt_doc"], r["src_lang"], r["tgt_lang"]) for r in rows} == {
        ("x", "b", "pes", "arb")
    }
