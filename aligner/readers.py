"""Reading documents from text files, folders, JSONL, CSV/TSV and standard input.

Every reader yields `Document`s and names the file (and line) of anything it cannot read.
By default the first problem stops the run (an `InputError`); with `ReadOptions(skip_bad=True)`
a bad file or record is skipped and reported through `warn` instead. Files that are not text
at all (images, archives, NUL bytes) inside a folder are always skipped with a warning.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aligner.errors import InputError, NotTextError
from aligner.types import Document

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
TABLE_SUFFIXES = {".csv", ".tsv"}
TEXT_SUFFIXES = {".txt"}
KNOWN_FIELDS = ("id", "text", "lang", "title", "date", "url")

# A language code also names index files (vectors.<lang>.faiss): letters, digits, - and _.
_LANG_CODE = re.compile(r"[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*")

# A megabyte-long text is a legitimate CSV field; the csv module's default limit is 128 KB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

Warn = Callable[[str], None]


def _log_warning(message: str) -> None:
    logging.getLogger("aligner").warning(message)


@dataclass(frozen=True)
class ReadOptions:
    """How to treat bad input: stop at the first problem (default), or skip the bad file or
    record and report it through `warn` (`skip_bad`)."""

    skip_bad: bool = False
    warn: Warn = _log_warning

    def problem(self, error: InputError) -> None:
        if not self.skip_bad:
            raise error
        self.warn(f"{error}; skipped")


STRICT = ReadOptions()

# -- decoding ---------------------------------------------------------------------------------

# File signatures of common non-text formats, so that a photo renamed .txt gets a clear
# message rather than a guess at its encoding.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.epub)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
)
_UTF32_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"))
_UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_UTF8_BOM = b"\xef\xbb\xbf"
# Control bytes that UTF-8 or Windows-1256 text never contains (tab, line feed, form feed
# and carriage return excluded); UTF-16 text without a BOM is full of them (and NULs).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_HIGH_BYTES = bytes(range(0x80, 0x100))
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_SAMPLE = 65536


def decode_bytes(data: bytes, origin: str) -> str:
    """Decode a file's bytes: UTF-8 (with or without BOM), UTF-16 or UTF-32 with a BOM,
    UTF-16 without BOM (recognised by its byte pattern), or Windows-1256 (the legacy
    Arabic/Persian code page) when the bytes are not UTF-8 but read as Arabic script.

    Anything else is refused rather than indexed as mojibake: `NotTextError` for files that
    are not text (images, archives, NUL bytes), `InputError` for text in an unknown or
    broken encoding, naming the file, line and byte."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise NotTextError(f"{origin}: not a text file ({kind})")
    for bom, encoding in (*_UTF32_BOMS, *_UTF16_BOMS):
        if data.startswith(bom):
            text = _decode_strict(data[len(bom) :], encoding, origin)
            break
    else:
        if data.startswith(_UTF8_BOM):
            data = data[len(_UTF8_BOM) :]
        text = _decode_unmarked(data, origin)
    _check_text(text, origin)
    return text


def _decode_strict(data: bytes, encoding: str, origin: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{origin}: invalid {encoding.upper()} text at byte {exc.start} ({exc.reason})"
        ) from exc


def _decode_unmarked(data: bytes, origin: str) -> str:
    utf16 = _guess_utf16(data)
    if utf16:
        return data.decode(utf16)
    if b"\x00" in data:
        raise NotTextError(f"{origin}: not a text file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    line = data.count(b"\n", 0, utf8_error.start) + 1
    where = f"line {line}, byte {utf8_error.start}"
    if _mostly_utf8(data):
        # UTF-8 with a few broken bytes: guessing another code page would turn the whole
        # file into mojibake, so say where it breaks instead.
        raise InputError(
            f"{origin}: invalid UTF-8 at {where} ({utf8_error.reason}); "
            "the file is damaged or mixes encodings"
        )
    text = data.decode("cp1256")  # every byte is defined in Windows-1256
    if _looks_like_arabic_script(text):
        return text
    raise InputError(
        f"{origin}: invalid UTF-8 at {where} ({utf8_error.reason}), and not UTF-16 or "
        "Windows-1256 Arabic/Persian text either; convert the file to UTF-8"
    )


def _guess_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark: in one of the two byte positions almost all bytes
    take a few values (00 for Latin text, 06 for Arabic script, 20 for punctuation), which
    neither UTF-8 nor binary data show, and the whole decodes to clean text. Scripts spread
    over many blocks (CJK) are not recognised; such files need a BOM."""
    sample = data[:_SAMPLE]
    if len(sample) < 16 or len(data) % 2 or not _CONTROL_BYTES.search(sample):
        return None
    for encoding, high in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
        common = sum(count for _, count in Counter(high).most_common(3))
        if common < 0.9 * len(high):
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not _CONTROL_CHARS.search(text[:_SAMPLE]):
            return encoding
    return None


def _mostly_utf8(data: bytes) -> bool:
    """True when nearly all non-ASCII bytes form valid UTF-8 sequences (judged on the first
    megabyte: a bad byte in a 20 MB file should not cost millions of regex matches)."""
    data = data[: 1 << 20]
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    valid = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    return high > 0 and valid >= 0.9 * high


def _looks_like_arabic_script(text: str) -> bool:
    letters = [c for c in text[:_SAMPLE] if c.isalpha()]
    if not letters:
        return False
    arabic = sum(1 for c in letters if "\u0600" <= c <= "\u06ff")
    return arabic / len(letters) > 0.5


# Double-encoded UTF-8 ("Ø³Ù„Ø§Ù…" for "سلام"): a lead byte read as Latin-1/Windows-1252
# followed by a continuation byte read the same way.
_CP1252_HIGH = {
    ord(bytes([b]).decode("cp1252")): b
    for b in range(0x80, 0xA0)
    if b not in b"\x81\x8d\x8f\x90\x9d"
}
_MOJIBAKE_PAIR = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf" + "".join(chr(c) for c in _CP1252_HIGH) + "]"
)


def _check_text(text: str, origin: str) -> None:
    sample = text[:_SAMPLE]
    if "\x00" in text:
        raise NotTextError(f"{origin}: not a text file (contains NUL characters)")
    if sample and len(_CONTROL_CHARS.findall(sample)) > 0.05 * len(sample):
        raise NotTextError(f"{origin}: not a text file (mostly control characters)")
    example = _double_encoded(sample)
    if example:
        raise InputError(
            f"{origin}: text is UTF-8 that was decoded twice (mojibake such as {example!r}); "
            "re-save the file from its original encoding"
        )


def _double_encoded(text: str) -> str | None:
    """An example line when `text` reads as mojibake of UTF-8, else None: its lines with
    Latin-1 lead/continuation pairs, turned back into bytes, are (nearly all) valid UTF-8."""
    if len(_MOJIBAKE_PAIR.findall(text)) < 3:
        return None
    # split on "\n" only: splitlines() would also cut at U+0085, which mojibake is full of
    lines = [line for line in text.split("\n") if _MOJIBAKE_PAIR.search(line)][:20]
    table = {code: chr(byte) for code, byte in _CP1252_HIGH.items()}
    raw = "\n".join(lines).translate(table).encode("latin-1", errors="ignore")
    decoded = raw.decode("utf-8", errors="replace")
    broken = decoded.count("\ufffd")
    recovered = sum(1 for c in decoded if c > "\x7f") - broken
    # Tools that made the mojibake dropped some bytes (0x81, 0x8d, ... are undefined in
    # Windows-1252), so allow a few broken characters among many recovered ones.
    if recovered >= 3 and broken <= 0.25 * recovered:
        return lines[0][:40]
    return None


# -- inputs -----------------------------------------------------------------------------------


def read_documents(inputs: Iterable[str | Path], options: ReadOptions = STRICT) -> list[Document]:
    """Read every input (file, folder, JSONL, CSV/TSV, or "-" for JSONL on stdin).

    Document ids must be unique across all inputs: a repeated id is an error (or, with
    `skip_bad`, the later document is skipped), never a silent overwrite."""
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for item in inputs:
        for doc in iter_input(item, options):
            if doc.id in seen:
                options.problem(
                    InputError(
                        f"{doc.origin}: duplicate document id {doc.id!r} "
                        f"(first seen at {seen[doc.id]})"
                    )
                )
                continue
            seen[doc.id] = doc.origin
            documents.append(doc)
    return documents


def read_single_document(item: str | Path, options: ReadOptions = STRICT) -> Document | None:
    """The one document of an input, read as `read_documents` reads it (for `aligner align`):
    a text file, a folder with exactly one .txt below it, or a JSONL/CSV/TSV file with
    exactly one record. Several documents are an `InputError`; none is one too, or with
    `skip_bad` a warning and None."""
    docs = list(iter_input(item, options))
    if len(docs) == 1:
        return docs[0]
    if docs:
        shown = ", ".join(d.id for d in docs[:3]) + (", ..." if len(docs) > 3 else "")
        raise InputError(
            f"{item}: {len(docs)} documents ({shown}); aligning takes one document per input: "
            "give one file or record each, or find the pairs with `aligner match`"
        )
    options.problem(InputError(f"{item}: no document in it (aligning takes one per input)"))
    return None


def iter_input(item: str | Path, options: ReadOptions = STRICT) -> Iterator[Document]:
    """The documents of one input; a file that cannot be read at all is one problem."""
    try:
        yield from _iter_input(item, options)
    except InputError as error:
        options.problem(error)


def _iter_input(item: str | Path, options: ReadOptions) -> Iterator[Document]:
    if str(item) == "-":
        yield from iter_jsonl(_stdin_text(), "<stdin>", options)
        return
    path = Path(item)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        yield from iter_folder(path, options)
    elif path.suffix.lower() in JSONL_SUFFIXES:
        with _open_text(path) as handle:
            yield from iter_jsonl(handle, str(path), options)
    elif path.suffix.lower() in TABLE_SUFFIXES:
        yield from iter_table(path, options)
    else:
        yield read_text_file(path)


def _stdin_text() -> io.StringIO:
    # Bytes, not sys.stdin's text layer: that one would raise a bare UnicodeDecodeError on
    # the first bad byte, with no file name and no line.
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return io.StringIO(sys.stdin.read(), newline=None)
    return io.StringIO(decode_bytes(buffer.read(), "<stdin>"), newline=None)


def read_bytes(path: Path) -> bytes:
    """A regular file's bytes; devices and pipes are refused (/dev/zero would never end)."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a regular file")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _open_text(path: Path) -> io.StringIO:
    return io.StringIO(decode_bytes(read_bytes(path), str(path)), newline=None)


def read_text_file(path: Path, doc_id: str | None = None) -> Document:
    """One document per text file; its id is the file name without extension."""
    with _open_text(path) as handle:
        text = handle.read()
    return Document(id=doc_id or path.stem, text=text, origin=str(path))


def iter_folder(folder: Path, options: ReadOptions = STRICT) -> Iterator[Document]:
    """Every .txt file below `folder`, in a stable (sorted) order. Files that are not text
    are skipped with a warning; other files are counted in one warning line."""
    ignored: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() not in TEXT_SUFFIXES:
            ignored.append(path.name)
            continue
        try:
            yield read_text_file(path)
        except NotTextError as error:
            options.warn(f"{error}; skipped")
        except InputError as error:
            options.problem(error)
    if ignored:
        shown = ", ".join(ignored[:3]) + (", ..." if len(ignored) > 3 else "")
        files = "1 file that is" if len(ignored) == 1 else f"{len(ignored)} files that are"
        options.warn(f"{folder}: ignored {files} not .txt ({shown})")


def iter_jsonl(
    handle: Iterable[str], origin: str, options: ReadOptions = STRICT
) -> Iterator[Document]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            record = json.loads(line)
        except RecursionError:
            options.problem(InputError(f"{where}: malformed JSON (nested too deeply)"))
            continue
        except ValueError as exc:  # JSONDecodeError, or an integer of 5000 digits
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            options.problem(InputError(f"{where}: malformed JSON ({reason})"))
            continue
        if not isinstance(record, dict):
            kind = type(record).__name__
            options.problem(InputError(f"{where}: expected a JSON object, got {kind}"))
            continue
        try:
            doc = document_from_record(record, where)
        except InputError as error:
            options.problem(error)
            continue
        yield doc


def iter_table(path: Path, options: ReadOptions = STRICT) -> Iterator[Document]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            fields = reader.fieldnames or []
            line = reader.line_num
            missing = [name for name in ("id", "text") if name not in fields]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {fields}")
            for row in reader:
                where, line = f"{path}:{line + 1}", reader.line_num
                try:
                    doc = _document_from_row(row, len(fields), where)
                except InputError as error:
                    options.problem(error)
                    continue
                yield doc
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed table ({exc})") from exc


def _document_from_row(row: dict[Any, Any], columns: int, where: str) -> Document:
    extra = row.pop(None, None)  # DictReader puts surplus fields under the key None
    if extra:
        # A tab or comma inside an unquoted text splits it: refuse rather than keep half.
        raise InputError(
            f"{where}: {columns + len(extra)} fields for {columns} columns "
            "(an unquoted tab or comma inside a value?)"
        )
    return document_from_record(row, where)


def document_from_record(record: dict[Any, Any], where: str) -> Document:
    doc_id = record.get("id")
    text = record.get("text")
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise InputError(f"{where}: missing 'id'")
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise InputError(f"{where}: 'id' must be a string or an integer, got {doc_id!r:.60}")
    if not isinstance(text, str):
        raise InputError(f"{where}: missing 'text' (a string) for document {doc_id!r:.60}")
    optional: dict[str, str | None] = {}
    for name in ("lang", "title", "date", "url"):
        value = record.get(name)
        optional[name] = None if value in (None, "") else str(value)
    if optional["lang"] is not None and not _LANG_CODE.fullmatch(optional["lang"]):
        raise InputError(
            f"{where}: 'lang' must be a language code such as 'fa', got {optional['lang']!r:.60}"
        )
    for name, value in (("id", str(doc_id)), ("text", text), *optional.items()):
        if value is not None and not _is_valid_unicode(value):
            raise InputError(f"{where}: '{name}' holds invalid Unicode (a lone surrogate)")
    extra = {k: v for k, v in record.items() if k not in KNOWN_FIELDS}
    return Document(id=str(doc_id), text=text, origin=where, fields=extra, **optional)


def _is_valid_unicode(text: str) -> bool:
    # JSON "\ud800" escapes decode to lone surrogates, which no file or database can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def document_to_record(doc: Document) -> dict[str, Any]:
    """The JSON record of a document: the known fields that were given, then every other
    field of the input record, unchanged."""
    record: dict[str, Any] = {"id": doc.id, "text": doc.text}
    for name in ("lang", "title", "date", "url"):
        value = getattr(doc, name)
        if value is not None:
            record[name] = value
    record.update(doc.fields)
    return record


def input_size(inputs: Iterable[str | Path]) -> int | None:
    """Total bytes of the inputs (for progress bars); None when one is standard input."""
    total = 0
    for item in inputs:
        if str(item) == "-":
            return None
        path = Path(item)
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*.txt") if p.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total


def stream_documents(inputs: Iterable[str | Path]) -> Iterator[tuple[Document, str | None, int]]:
    """Every document of the inputs, without reading a JSONL file whole: yields (document,
    the JSONL line it was read from or None, bytes of input consumed for it).

    Ids are not checked for uniqueness here (the caller has the index to check them in);
    JSONL that is not UTF-8 falls back to `iter_input`, which reads the file whole."""
    for item in inputs:
        path = Path(item)
        if str(item) != "-" and path.suffix.lower() in JSONL_SUFFIXES and path.is_file():
            streamed = _stream_jsonl(path)
            if streamed is not None:
                yield from streamed
                continue
        size = path.stat().st_size if str(item) != "-" and path.is_file() else 0
        for doc in iter_input(item):
            yield doc, None, size
            size = 0


def _stream_jsonl(path: Path) -> Iterator[tuple[Document, str | None, int]] | None:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16: read whole by iter_input
    return _jsonl_lines(path)


def _jsonl_lines(path: Path) -> Iterator[tuple[Document, str | None, int]]:
    with open(path, "rb") as handle:
        pending = 0  # bytes of blank lines, counted with the next document
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            data = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{where}: not valid UTF-8 ({exc.reason})") from exc
            pending += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: malformed JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield document_from_record(record, where), line.rstrip("\r\n"), pending
            pending = 0
