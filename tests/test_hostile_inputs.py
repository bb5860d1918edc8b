"""Hostile input and failures: clear errors, nothing lost.

Encodings, binary files, degenerate and huge documents, broken JSONL/CSV, characters that
break TSV, unwritable outputs and a full disk. Each problem either reads correctly or ends in
one `aligner: error: ...` line with its exit code (or a warning with --skip-bad)."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import time
import types
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aligner import api
from aligner.alignment import AlignParams
from aligner.cli import main
from aligner.errors import (
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    InputError,
    NotTextError,
)
from aligner.files import atomic_output
from aligner.prepare import prepare_document
from aligner.readers import (
    ReadOptions,
    decode_bytes,
    iter_jsonl,
    iter_table,
    read_documents,
)
from aligner.segment import split_sentences
from aligner.types import Document
from aligner.writers import PARALLEL_COLUMNS, parallel_rows, write_parallel_tsv, write_tsv

FA = (
    "وزیر امور خارجه ایران امروز با همتای روسی خود در مسکو دیدار کرد.\n"
    "دو طرف درباره توافق هسته‌ای و همکاری‌های اقتصادی گفتگو کردند. ۱۴۰۲"
)
AR = "قال وزير الخارجية الإيراني إن المحادثات مع نظيره الروسي في موسكو كانت مثمرة."
# Windows-1256 has no ی (U+06CC) or Persian digits: legacy files use ي and ASCII digits.
FA_1256 = "وزير امور خارجه ايران امروز با همتاي روسي خود در مسکو ديدار کرد. گفتگو پيرامون ژاپن"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
ENCODER = "builtin:256"


def cli(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def one_error_line(result, code: int) -> str:
    """The run failed with `code` and said so in exactly one line, without a traceback."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("aligner: error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def skipping() -> tuple[ReadOptions, Warnings]:
    warnings = Warnings()
    return ReadOptions(skip_bad=True, warn=warnings), warnings


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        FA.encode("utf-8"),
        b"\xef\xbb\xbf" + FA.encode("utf-8"),
        FA.encode("utf-16"),  # with BOM, native order
        b"\xff\xfe" + FA.encode("utf-16-le"),
        b"\xfe\xff" + FA.encode("utf-16-be"),
        b"\xff\xfe\x00\x00" + FA.encode("utf-32-le"),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16le-bom", "utf16be-bom", "utf32le-bom"],
)
def test_unicode_encodings_decode_exactly(data):
    assert decode_bytes(data, "f.txt") == FA


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [FA, AR, "Plain English report.\nSecond line."])
def test_utf16_without_bom_is_recognised_by_its_byte_pattern(text, encoding):
    assert decode_bytes(text.encode(encoding), "f.txt") == text


@pytest.mark.parametrize("text", [FA_1256, AR])
def test_windows_1256_arabic_and_persian_decode(text):
    assert decode_bytes(text.encode("cp1256"), "legacy.txt") == text


def test_utf8_with_a_broken_byte_is_an_error_naming_file_and_line():
    # Read as Windows-1256, these bytes would look like Arabic script: mojibake, not text.
    data = FA.encode("utf-8")
    cut = len(FA[:80].encode("utf-8"))  # a character boundary on the second line
    broken = data[:cut] + b"\xff" + data[cut:]
    with pytest.raises(InputError, match=rf"^news\.txt: invalid UTF-8 at line 2, byte {cut} "):
        decode_bytes(broken, "news.txt")


def test_latin1_text_is_refused_rather_than_guessed():
    with pytest.raises(InputError, match=r"^fr\.txt: invalid UTF-8 at line 1, byte 3 .*to UTF-8"):
        decode_bytes("café crème brûlée".encode("latin-1"), "fr.txt")


@pytest.mark.parametrize("via", ["cp1252", "latin-1"])
def test_double_encoded_utf8_mojibake_is_refused(via):
    mojibake = FA.encode("utf-8").decode(via, errors="ignore").encode("utf-8")
    with pytest.raises(InputError, match="decoded twice"):
        decode_bytes(mojibake, "moji.txt")


def test_legitimate_accented_latin_text_is_not_taken_for_mojibake():
    text = "Ça coûte 5 €; à bientôt. Straße, Ærø, Ñandú, ¿qué? «déjà vu»"
    assert decode_bytes(text.encode("utf-8"), "ok.txt") == text


def test_cli_bad_encoding_is_exit_4_or_skipped_with_skip_bad(tmp_path):
    (tmp_path / "good.jsonl").write_text(json.dumps({"id": "a", "text": FA}) + "\n")
    (tmp_path / "bad.jsonl").write_bytes(
        json.dumps({"id": "b", "text": FA}).encode()[:-3] + b'\xff"}\n'
    )
    inputs = [str(tmp_path / "good.jsonl"), str(tmp_path / "bad.jsonl")]
    line = one_error_line(cli("match", *inputs, "-m", ENCODER, "-o", "-"), EXIT_INPUT)
    assert "bad.jsonl: invalid UTF-8 at line 1" in line
    result = cli("match", *inputs, "-m", ENCODER, "-o", "-", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "aligner: warning: " in result.output and "bad.jsonl" in result.output
    assert "1 document read" in result.output


# -- binary files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, kind",
    [
        (PNG, "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (b"%PDF-1.7\n", "PDF document"),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"text\x00with a NUL byte", "NUL"),
        (bytes(range(256)) * 8, "NUL"),
    ],
)
def test_binary_data_is_not_text(data, kind):
    with pytest.raises(NotTextError, match=kind):
        decode_bytes(data, "x.txt")


def test_binary_files_in_a_folder_are_skipped_with_a_warning(tmp_path):
    (tmp_path / "a.txt").write_text(FA, encoding="utf-8")
    (tmp_path / "photo.txt").write_bytes(PNG)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nul.txt").write_bytes(b"abc\x00def")
    (tmp_path / "sub" / "picture.jpg").write_bytes(b"\xff\xd8\xff")
    warnings = Warnings()
    docs = read_documents([tmp_path], ReadOptions(warn=warnings))  # even without skip_bad
    assert [d.id for d in docs] == ["a"]
    assert any("photo.txt: not a text file (a PNG image); skipped" in w for w in warnings)
    assert any("nul.txt: not a text file (contains NUL bytes); skipped" in w for w in warnings)
    assert any("ignored 1 file that is not .txt (picture.jpg)" in w for w in warnings)

    result = cli("match", str(tmp_path), "-m", ENCODER, "-o", "-")
    assert result.exit_code == 0, result.output
    assert "aligner: warning: " in result.output and "photo.txt" in result.output


def test_a_binary_file_named_on_the_command_line_is_an_error(tmp_path):
    (tmp_path / "photo.txt").write_bytes(PNG)
    (tmp_path / "b.txt").write_text(FA, encoding="utf-8")
    result = cli("align", str(tmp_path / "photo.txt"), str(tmp_path / "b.txt"), "-m", ENCODER)
    assert "photo.txt: not a text file (a PNG image)" in one_error_line(result, EXIT_INPUT)
    out = tmp_path / "out.tsv"
    args = ["align", str(tmp_path / "photo.txt"), str(tmp_path / "b.txt"), "-o", str(out)]
    result = cli(*args, "-m", ENCODER, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert out.read_text() == "\t".join(PARALLEL_COLUMNS) + "\n"


def test_a_device_is_not_read_forever():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        read_documents(["/dev/zero"])


# -- degenerate, huge and unknown-script documents --------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t\r\n  ", "کلمه", "😀🎉🚀 🙂", "\u200f\u202e\u200c", "?!.…"],
    ids=["empty", "whitespace", "one-word", "emoji", "bidi-only", "punctuation"],
)
def test_degenerate_documents_match_and_align_without_crashing(tmp_path, text):
    path = tmp_path / "odd.txt"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "fa.txt").write_text(FA, encoding="utf-8")
    result = cli("align", str(path), str(tmp_path / "fa.txt"), "-m", ENCODER)
    assert result.exit_code == 0, result.output
    if not prepare_document(Document("odd", text)).sentences:
        assert "1 document has no sentences" in result.output
    result = cli("match", str(tmp_path), "-m", ENCODER)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "text",
    [
        "今天北京天气很好。市民纷纷外出游玩！交通部门提醒注意安全。",
        "ראש הממשלה נפגש היום עם שר החוץ. השניים דנו בהסכם החדש.",
        "🚀🚀 launch 🎉 today. 😀 happy 🙂 people.",
        "Ελληνικά κείμενα εδώ. Και άλλη πρόταση.",
    ],
    ids=["chinese", "hebrew", "emoji", "greek"],
)
def test_scripts_the_encoder_never_saw(tmp_path, text):
    docs = [Document("x", text), Document("y", text + "\n" + text), Document("fa", FA)]
    result = api.match(docs, ENCODER)
    assert all(d.sentences for d in result.documents)
    alignment = api.align(Document("x", text), Document("y", text), ENCODER)
    assert len(alignment.links) >= 1  # a text aligns with itself


@pytest.mark.slow
def test_a_20_megabyte_document_is_read_and_prepared_in_linear_time(tmp_path):
    paragraph = (FA.replace("\n", " ") + " ") * 20 + "\n"
    data = paragraph.encode("utf-8") * (20_000_000 // len(paragraph.encode("utf-8")) + 1)
    path = tmp_path / "huge.txt"
    path.write_bytes(data)
    start = time.perf_counter()
    [doc] = read_documents([path])
    prepared = prepare_document(doc)
    elapsed = time.perf_counter() - start
    assert len(data) >= 20_000_000
    assert len(prepared.sentences) > 50_000
    assert max(len(s.text) for s in prepared.sentences) <= 2000
    assert elapsed < 60, f"{elapsed:.1f} s for 20 MB"


def test_work_that_cannot_fit_in_memory_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    # A 20 MB document has ~200,000 sentences: ~30 GB of window vectors with the default
    # encoder. Without the check the kernel kills the process without a word.
    monkeypatch.setattr("aligner.resources.available_memory", lambda: 50 * 2**20)
    (tmp_path / "a.txt").write_text((FA + "\n") * 200, encoding="utf-8")
    (tmp_path / "b.txt").write_text(FA, encoding="utf-8")
    out = tmp_path / "out.tsv"
    result = cli("align", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "-o", str(out))
    line = one_error_line(result, EXIT_FAILURE)
    assert "sentences; embedding them needs about" in line and "builtin:1024" in line
    assert not out.exists()
    result = cli("match", str(tmp_path), "-m", "builtin:64")  # small enough: runs
    assert result.exit_code == 0, result.output


def test_memory_estimate_of_a_20_megabyte_document():
    from aligner.resources import embedding_bytes

    assert embedding_bytes(226_000, 4096, 3) > 25 * 2**30
    assert embedding_bytes(226_000, 1024, 3) < 10 * 2**30


def test_a_megabyte_line_without_punctuation_aligns(tmp_path):
    words = FA.replace(".", "").split()
    line = " ".join(words[i % len(words)] for i in range(130_000))
    assert len(line.encode("utf-8")) > 1_000_000 and "\n" not in line
    prepared = prepare_document(Document("line", line))
    assert all(len(s.text) <= 2000 for s in prepared.sentences)
    # windows of one sentence only: the point is that nothing breaks, not the 3-window cost
    alignment = api.align(prepared, Document("fa", FA), ENCODER, AlignParams(max_group=1))
    assert all(i < len(prepared.sentences) for link in alignment.links for i in link.src)


def test_a_quotation_spanning_a_megabyte_line_is_segmented_in_linear_time():
    # Recounting quote marks from the sentence start at every full stop was quadratic:
    # about 40 s for this line.
    line = "«" + " ".join(f"جمله شماره {i} است." for i in range(60_000)) + "»"
    start = time.perf_counter()
    spans = split_sentences(line)
    assert time.perf_counter() - start < 5
    assert all(e - s <= 2000 for s, e in spans)


# -- JSONL and tables ---------------------------------------------------------------------------


def jsonl(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "text": FA, "lang": "fa"})


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"id": "b", "text": "unterminated', "malformed JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"id": "b"}', "missing 'text'"),
        ('{"id": "b", "text": 42}', "missing 'text'"),
        ('{"text": "x"}', "missing 'id'"),
        ('{"id": "  ", "text": "x"}', "missing 'id'"),
        ('{"id": ["b"], "text": "x"}', "'id' must be a string or an integer"),
        ('{"id": 1.5, "text": "x"}', "'id' must be a string or an integer"),
        ('{"id": true, "text": "x"}', "'id' must be a string or an integer"),
        ('{"id": "b", "text": "x", "lang": "../../etc"}', "'lang' must be a language code"),
        ('{"id": "b", "text": "\\ud800"}', "lone surrogate"),
        ("[" * 100_000, "malformed JSON"),
        ('{"id": ' + "9" * 5000 + ', "text": "x"}', "malformed JSON"),
    ],
    ids=[
        "malformed", "not-object", "no-text", "text-not-string", "no-id", "blank-id",
        "list-id", "float-id", "bool-id", "path-lang", "surrogate", "deep", "huge-int",
    ],
)  # fmt: skip
def test_bad_jsonl_records_name_file_and_line(tmp_path, bad, message):
    path = jsonl(tmp_path, "news.jsonl", GOOD, "", bad)
    with pytest.raises(InputError) as info:
        read_documents([path])
    assert str(info.value).startswith(f"{path}:3: ") and message in str(info.value)

    options, warnings = skipping()
    assert [d.id for d in read_documents([path], options)] == ["a"]
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}:3: ")


def test_an_integer_id_is_accepted_as_a_string(tmp_path):
    path = jsonl(tmp_path, "n.jsonl", json.dumps({"id": 7, "text": FA}))
    assert read_documents([path])[0].id == "7"


def test_duplicate_ids_within_a_file_never_overwrite(tmp_path):
    path = jsonl(tmp_path, "one.jsonl", GOOD, json.dumps({"id": "a", "text": AR}))
    with pytest.raises(InputError, match=rf"{path}:2: duplicate document id 'a' .*{path}:1"):
        read_documents([path])


def test_duplicate_ids_across_inputs_never_overwrite(tmp_path):
    first = jsonl(tmp_path, "one.jsonl", GOOD)
    second = jsonl(tmp_path, "two.jsonl", json.dumps({"id": "a", "text": AR}))
    with pytest.raises(InputError, match=rf"{second}:1: duplicate document id 'a' "):
        read_documents([first, second])
    options, warnings = skipping()
    docs = read_documents([first, second], options)
    assert [d.text for d in docs] == [FA]  # the first one is kept, the second reported
    assert "first seen at" in warnings[0] and str(first) in warnings[0]


def test_cli_bad_jsonl_exit_4_one_line(tmp_path):
    path = jsonl(tmp_path, "news.jsonl", GOOD, '{"id": "b", "text": nope}')
    line = one_error_line(cli("match", str(path), "-m", ENCODER), EXIT_INPUT)
    assert f"{path}:2: malformed JSON" in line


def test_stdin_with_invalid_utf8_is_a_clear_error():
    data = GOOD.encode("utf-8")[:-40] + b"\xff\xfe" + GOOD.encode("utf-8")[-40:] + b"\n"
    line = one_error_line(cli("match", "-", "-m", ENCODER, input=data), EXIT_INPUT)
    assert "<stdin>: invalid UTF-8 at line 1" in line


def test_a_megabyte_csv_field_is_read(tmp_path):
    text = "کلمه " * 250_000
    path = tmp_path / "big.csv"
    path.write_text(f"id,text\nbig,{text}\n", encoding="utf-8")
    assert read_documents([path])[0].text == text


def test_a_tsv_row_split_by_a_stray_tab_is_refused(tmp_path):
    path = tmp_path / "news.tsv"
    path.write_text(f"id\ttext\na\t{FA.replace(chr(10), ' ')}\nb\thalf\tthe other half\n")
    with pytest.raises(InputError, match=rf"^{path}:3: 3 fields for 2 columns"):
        read_documents([path])


def test_a_table_without_the_text_column_is_refused(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text("id,body\na,x\n")
    with pytest.raises(InputError, match="missing column"):
        read_documents([path])


# -- TSV output keeps its shape ----------------------------------------------------------------

# Line breaks of every kind, tabs, NUL and other controls, bidi controls, quotes, backslash.
HOSTILE = "a\tb\nc\r\nd\re\x00f\x0bg\x0ch\x1ci\x85j\u2028k\u2029l \"p' \\q"
BIDI = "\u200fدیدار\u202e کرد\u2066 و\u2069 \u200e"


def test_hostile_characters_keep_the_tsv_shape_and_round_trip_through_pandas(tmp_path):
    text = "\n".join(
        [
            "وزیر امور خارجه ایران امروز با همتای روسی خود " + BIDI + " در\tمسکو.",
            "قیمت نفت\x00 خام برنت در بازارهای\x0b جهانی به هشتاد دلار رسید " + HOSTILE,
            FA,
        ]
    )
    src = Document("id\twith\ttabs\nand newline", text, lang="fa")
    tgt = Document("tgt\r\x00id\u2028x", text, lang="ar")
    alignment = api.align(src, tgt, ENCODER)
    assert alignment.links
    out = tmp_path / "out.tsv"
    rows = write_parallel_tsv([alignment], out)
    raw = out.read_text(encoding="utf-8")
    assert raw.count("\n") == rows + 1
    assert all(line.count("\t") == len(PARALLEL_COLUMNS) - 1 for line in raw.split("\n")[:-1])
    frame = pd.read_csv(out, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(PARALLEL_COLUMNS) and len(frame) == rows
    assert frame.to_dict("records") == list(parallel_rows([alignment]))
    assert frame["src_doc"][0] == "id with tabs and newline"
    assert frame["tgt_doc"][0] == "tgt id x"
    exported = " ".join(frame["src_text"])
    assert all(c in exported for c in "\u200f\u202e\u2066\u2069")  # the author's bidi marks


def test_hostile_characters_through_the_cli(tmp_path):
    records = [
        {"id": "fa\t1", "text": FA + " " + HOSTILE, "lang": "fa"},
        {"id": "ar\n1", "text": FA + " " + HOSTILE, "lang": "ar"},
    ]
    path = jsonl(tmp_path, "in.jsonl", *(json.dumps(r) for r in records))
    out = tmp_path / "out.tsv"
    result = cli("match", str(path), "-m", ENCODER, "-o", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, sep="\t", quoting=3, dtype=str, keep_default_na=False)
    assert len(frame) >= 1 and list(frame.columns) == list(PARALLEL_COLUMNS)
    assert set(frame["src_doc"]) == {"fa 1"}


# -- paths, permissions, full disks ------------------------------------------------------------


def test_a_missing_input_is_exit_4(tmp_path):
    line = one_error_line(cli("match", str(tmp_path / "nope.jsonl")), EXIT_INPUT)
    assert "nope.jsonl: no such file or folder" in line


def test_an_unreadable_file_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "secret.txt"
    path.write_text(FA, encoding="utf-8")

    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(InputError, match=r"secret\.txt: cannot read \(Permission denied\)"):
        read_documents([path])
    options, warnings = skipping()
    assert read_documents([tmp_path], options) == [] and "Permission denied" in warnings[0]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_a_chmod_000_file_is_a_clear_error(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(FA, encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot read"):
            read_documents([path])
    finally:
        path.chmod(0o644)


def test_an_output_in_a_missing_folder_fails_before_any_work(tmp_path, seeds_dir, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("documents were read before the output was checked")

    monkeypatch.setattr(api, "load_documents", never)
    result = cli("match", str(seeds_dir), "-o", str(tmp_path / "missing" / "out.tsv"))
    assert "folder" in one_error_line(result, EXIT_FAILURE) and "does not exist" in result.output
    result = cli("match", str(seeds_dir), "-o", "-", "--pairs", str(tmp_path))
    assert "is a folder" in one_error_line(result, EXIT_FAILURE)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class FullDisk(io.StringIO):
    """A handle whose disk fills up after a few writes."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, text: str) -> int:
        self.room -= 1
        if self.room < 0:
            disk_full()
        return super().write(text)

    def fileno(self) -> int:
        return 1


def test_disk_full_while_writing_keeps_the_previous_output(tmp_path, monkeypatch, seeds_dir):
    out = tmp_path / "parallel.tsv"
    out.write_text("previous complete output\n")
    real_fdopen = os.fdopen

    def full_fdopen(fd, *args, **kwargs):
        real_fdopen(fd).close()
        return FullDisk(room=3)

    monkeypatch.setattr("aligner.files.os.fdopen", full_fdopen)
    monkeypatch.setattr("aligner.files.os.fchmod", lambda *a: None)
    result = cli("match", str(seeds_dir), "-m", ENCODER, "-o", str(out))
    line = one_error_line(result, EXIT_FAILURE)
    assert "No space left on device" in line and "nothing was written" in line
    assert out.read_text() == "previous complete output\n"
    assert leftovers(tmp_path) == []


def test_disk_full_at_fsync_keeps_the_previous_output(tmp_path, monkeypatch):
    out = tmp_path / "pairs.tsv"
    out.write_text("previous\n")
    monkeypatch.setattr("aligner.files.os.fsync", disk_full)
    with pytest.raises(Exception, match="No space left on device"):
        write_tsv([{"a": "1"}], ("a",), out)
    assert out.read_text() == "previous\n" and leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out.tsv"

    def rows():
        yield {"a": "1"}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_tsv(rows(), ("a",), out)
    assert not out.exists() and leftovers(tmp_path) == []


def test_an_output_file_gets_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out.tsv") as handle:
            handle.write("x\n")
    finally:
        os.umask(mask)
    assert (tmp_path / "out.tsv").stat().st_mode & 0o777 == 0o644


# -- one line per problem, tracebacks only with --debug ------------------------------------


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(seeds_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(api, "match", broken)
    line = one_error_line(cli("match", str(seeds_dir), "-m", ENCODER), EXIT_FAILURE)
    assert "internal error (RuntimeError: something unexpected)" in line and "--debug" in line
    result = cli("--debug", "match", str(seeds_dir), "-m", ENCODER)
    assert isinstance(result.exception, RuntimeError)


def test_ctrl_c_is_one_line_and_exit_130(seeds_dir, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "match", interrupted)
    assert "interrupted" in one_error_line(cli("match", str(seeds_dir)), EXIT_INTERRUPTED)


def test_a_closed_pipe_ends_quietly(seeds_dir, monkeypatch):
    def closed(*args, **kwargs):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr("aligner.cli.write_parallel", closed)
    result = cli("match", str(seeds_dir), "-m", ENCODER)
    assert result.exit_code == EXIT_FAILURE and "error" not in result.output


def test_a_missing_file_for_align_is_named(tmp_path):
    (tmp_path / "b.txt").write_text(FA, encoding="utf-8")
    result = cli("align", str(tmp_path / "nope.txt"), str(tmp_path / "b.txt"))
    assert "nope.txt: no such file" in one_error_line(result, EXIT_INPUT)


@pytest.mark.parametrize("model", ["builtin:100", "builtin:wide", "builtin:-4"])
def test_a_mistyped_builtin_model_is_a_clear_error(seeds_dir, model):
    line = one_error_line(cli("match", str(seeds_dir), "-m", model), EXIT_FAILURE)
    assert f"--model {model}: expected 'builtin' or 'builtin:DIM'" in line
    assert "internal error" not in line


def test_usage_errors_keep_click_exit_2(tmp_path):
    assert cli("match").exit_code == 2
    out = str(tmp_path / "same.tsv")
    result = cli("match", str(tmp_path), "-o", out, "--pairs", out)
    assert result.exit_code == 2 and "--pairs" in result.output
    assert cli("align", "only-one.txt").exit_code == 2


# -- models are never run with remote code -----------------------------------------------------


def test_sentence_transformers_models_load_without_remote_code(monkeypatch):
    captured: dict = {}

    class FakeModel:
        device = "cpu"

        def __init__(self, *args, **kwargs):
            captured.update(kwargs, args=args)

        def get_sentence_embedding_dimension(self) -> int:
            return 8

    fake = types.ModuleType("sentence_transformers")
    fake.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", fake)
    from aligner.encoders import load_encoder
    from aligner.encoders import sentence_transformers as st_encoder

    monkeypatch.setattr(st_encoder, "_check_hub_name", lambda model: False)  # no network

    encoder = load_encoder("some/model-with-custom-code")
    assert captured["trust_remote_code"] is False
    assert captured["args"] == ("some/model-with-custom-code",)
    assert encoder.dim == 8


# -- readers never crash on arbitrary bytes ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decode_bytes_returns_text_or_input_error(data):
    try:
        text = decode_bytes(data, "fuzz")
    except InputError:
        return
    assert isinstance(text, str) and "\x00" not in text


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc"])),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
)
def test_unicode_text_round_trips_through_decode_bytes(text, encoding):
    try:
        assert decode_bytes(text.encode(encoding), "f.txt") == text
    except InputError as error:
        assert "decoded twice" in str(error)  # the text itself is mojibake, e.g. "Ã©Ã©Ã©"


JSONISH = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.one_of(
            st.just(GOOD),
            st.dictionaries(
                st.sampled_from(["id", "text", "lang", "title", "x"]),
                st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
            ).map(json.dumps),
            st.text(max_size=30),
        ),
        max_size=5,
    ).map(lambda lines: "\n".join(lines).encode("utf-8", errors="surrogatepass")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_iter_jsonl_returns_documents_or_input_error(data):
    try:
        text = decode_bytes(data, "fuzz.jsonl")
        docs = list(iter_jsonl(io.StringIO(text, newline=None), "fuzz.jsonl"))
    except InputError:
        return
    assert all(isinstance(d, Document) and isinstance(d.text, str) for d in docs)
    options, _ = skipping()
    list(iter_jsonl(io.StringIO(text, newline=None), "fuzz.jsonl", options))  # never raises


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(alphabet='id,text\t\n"\r ab\x00', max_size=80).map(
            lambda t: ("id,text\n" + t).encode("utf-8")
        ),
    ),
    st.sampled_from([".csv", ".tsv"]),
)
def test_iter_table_returns_documents_or_input_error(data, suffix):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            docs = list(iter_table(path))
        except InputError:
            return
        assert all(isinstance(d, Document) for d in docs)
