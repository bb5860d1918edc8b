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


# -- runs that used to end in silence -------------------------------------------------------


@pytest.mark.parametrize("command", ["match", "report", "index-add", "dedup"])
def test_an_empty_folder_is_named_in_a_warning(command, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["index", "add", empty, "--index", tmp_path / "i"] if command == "index-add" else [
        command, empty, "-o", tmp_path / "out"
    ]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert f"aligner: warning: no documents found in {empty}" in result.output


def test_input_in_one_language_says_match_is_across_languages(seeds_dir, tmp_path):
    fa = [seeds_dir / f"{stem}.txt" for stem in ("000_0b3d61da6e3e4f39", SEED_PAIR[0])]
    result = run("match", *fa, "-o", tmp_path / "o.tsv")
    assert result.exit_code == 0, result.output
    assert "aligner: warning: both documents are in fa" in result.output
    assert "across languages" in result.output and "aligner dedup" in result.output


def test_a_language_absent_from_the_input_is_named(seeds_dir, tmp_path):
    result = run("match", seeds_dir, "--src-lang", "fa", "--tgt-lang", "en", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.output.splitlines() if "warning" in line)
    assert "--tgt-lang en" in warning and "fa (3)" in warning and "ar (2)" in warning
    result = run("report", seeds_dir, "--src-lang", "xx", "-o", tmp_path / "r.html")
    assert "--src-lang xx: no document in that language" in result.output


def test_no_warning_on_the_seeds(seeds_dir, tmp_path):
    result = run("match", seeds_dir, "-o", tmp_path / "o.tsv")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


@pytest.mark.parametrize(
    "option", ["--min-pair-score=2", "--min-pair-score=-1", "--duplicate-score=1.5",
               "--translation-score=-0.1"],
)  # fmt: skip
def test_impossible_scores_are_usage_errors(option, seeds_dir, tmp_path):
    command = "match" if option.startswith("--min-pair") else "dedup"
    result = run(command, seeds_dir, option, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "not in the range" in result.output


@pytest.fixture(scope="module")
def seeds_index(seeds_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("index") / "seeds"
    result = run("index", "add", seeds_dir, "--index", folder, "-q")
    assert result.exit_code == 0, result.output
    return folder


def test_search_for_a_mistyped_file_name_is_a_usage_error(seeds_index, tmp_path):
    for query in ("missing_file.txt", str(tmp_path / "missing"), "news/today"):
        result = run("index", "search", query, "--index", seeds_index)
        assert result.exit_code == 2, (query, result.output)
        assert "looks like a file name" in result.output and "--text" in result.output
    result = run("index", "search", "missing_file.txt", "--text", "--index", seeds_index)
    assert result.exit_code == 0, result.output
    for text in ("1404/05/12", "ایران/روسیه", "پوتین"):  # a date, words: texts
        assert run("index", "search", text, "--index", seeds_index).exit_code == 0
    result = run("index", "search", tmp_path, "--index", seeds_index)
    assert result.exit_code == 2 and "is a folder" in result.output


def test_search_reads_a_one_record_jsonl_query_as_its_document(seeds_dir, seeds_index, tmp_path):
    query = write_jsonl(tmp_path / "q.jsonl", [seed_record(seeds_dir, SEED_PAIR[1], lang="ar")])
    result = run("index", "search", query, "--index", seeds_index, "--lang", "fa", "-k", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split("\t")[1] == SEED_PAIR[0]


def test_a_jsonl_lang_that_contradicts_the_text_is_warned(seeds_dir, tmp_path):
    lines = [seed_record(seeds_dir, p.stem) for p in sorted(seeds_dir.glob("*.txt"))]
    lines[4] = seed_record(seeds_dir, SEED_PAIR[1], lang="fa")  # Arabic text
    result = run("match", write_jsonl(tmp_path / "d.jsonl", lines), "-o", tmp_path / "o.tsv")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.output
    assert f"{SEED_PAIR[1]} (given fa, reads as ar)" in warnings[0]
    assert "kept as given" in warnings[0]


# -- help, summaries, index info and search ---------------------------------------------------


def test_every_index_command_has_examples_and_the_exit_codes_include_130():
    for args in (["index", "add"], ["index", "info"], ["index", "search"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Example" in result.output, args
    assert "130 interrupted" in " ".join(run("--help").output.split())
    align_help = " ".join(run("align", "--help").output.split())
    assert "TSV (" not in align_help
    assert all(fmt in align_help for fmt in ("tsv", "jsonl", "tmx", "moses"))


def test_summaries_count_in_the_singular_and_the_plural(seeds_dir, tmp_path):
    result = run("match", seeds_dir, "-o", tmp_path / "o.tsv")
    assert "5 documents read (ar, fa), 1 pair matched," in result.output
    a, b = (seeds_dir / f"{stem}.txt" for stem in SEED_PAIR)
    result = run("align", a, b, "-o", tmp_path / "a.tsv")
    assert "fa 11 + ar 8 sentences, 8 segments written," in result.output
    assert "pairs matched" not in result.output and "pair matched" not in result.output
    one = tmp_path / "one"
    one.mkdir()
    (one / "x.txt").write_text("\n", encoding="utf-8")
    (one / "y.txt").write_text("سلام دنیا. این یک متن است.", encoding="utf-8")
    result = run("match", one, "-o", tmp_path / "z.tsv")
    assert "1 document has no sentences" in result.output
    assert "0 pairs matched, 0 segments written" in result.output
    result = run("report", one, "-o", tmp_path / "r.html")
    assert "2 documents read, 0 pairs matched, 0 segments shown" in result.output


def test_index_info_names_the_builtin_encoder_once(seeds_index):
    result = run("index", "info", "--index", seeds_index)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("encoder:"))
    assert "builtin:builtin" not in line and line.split()[1] == "builtin"


def test_index_search_shows_a_text_files_first_line_as_title(seeds_dir, seeds_index):
    query = seeds_dir / f"{SEED_PAIR[1]}.txt"
    result = run("index", "search", query, "--index", seeds_index, "-k", "5")
    assert result.exit_code == 0, result.output
    titles = {row.split("\t")[1]: row.split("\t")[4] for row in result.stdout.splitlines()[1:]}
    first_line = (seeds_dir / "003_83610416ead760c0.txt").read_text(encoding="utf-8")
    first_line = first_line.splitlines()[0]
    assert titles["003_83610416ead760c0"].rstrip(" …") in first_line
    assert titles["003_83610416ead760c0"].startswith("دکتر پزشکیان در گفتوگو با ولادیمیر پوتین")
    assert all(titles.values())


def test_builtin_across_scripts_says_once_to_use_e5(seeds_dir, tmp_path):
    """Character n-grams cannot match Persian with English: one warning line naming the
    two scripts and the model that can; none for Persian with Arabic (one script)."""
    english = tmp_path / "en.txt"
    english.write_text(
        "President Rouhani spoke with President Putin by telephone on Monday.\n"
        "The two presidents discussed trade, energy and the situation in Syria.\n",
        encoding="utf-8",
    )
    fa = str(next(seeds_dir.glob("001_*.txt")))
    result = CliRunner().invoke(main, ["match", fa, str(english), "--model", "builtin"])
    lines = [line for line in result.stderr.splitlines() if "warning" in line]
    assert result.exit_code == 0
    assert len(lines) == 1 and "Latin script" in lines[0] and "--model e5" in lines[0]
    same_script = CliRunner().invoke(
        main, ["match", fa, str(next(seeds_dir.glob("004_*.txt"))), "--model", "builtin"]
    )
    assert "warning" not in same_script.stderr
