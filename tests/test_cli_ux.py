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
