"""Reading documents from text files, folders, JSONL, CSV/TSV and standard input.

Every reader yields `Document`s and names the file (and line) of anything it cannot read.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aligner.errors import InputError
from aligner.types import Document

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
TABLE_SUFFIXES = {".csv", ".tsv"}
KNOWN_FIELDS = ("id", "text", "lang", "title", "date", "url")


def decode_bytes(data: bytes, origin: str) -> str:
    """Decode a file's bytes: UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1256
    (the legacy Arabic/Persian code page) when the bytes are not UTF-8 but read as Arabic
    script. Anything else is refused rather than indexed as mojibake."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{origin}: invalid UTF-16 text ({exc.reason})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1256")
    except UnicodeDecodeError:
        text = ""
    if text and _looks_like_arabic_script(text):
        return text
    raise InputError(
        f"{origin}: not valid UTF-8 (byte {utf8_error.start}: {utf8_error.reason}) "
        "and not Windows-1256 Arabic/Persian text"
    )


def _looks_like_arabic_script(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    arabic = sum(1 for c in letters if "\u0600" <= c <= "\u06ff")
    return arabic / len(letters) > 0.5


def read_documents(inputs: Iterable[str | Path]) -> list[Document]:
    """Read every input (file, folder, JSONL, CSV/TSV, or "-" for JSONL on stdin).

    Document ids must be unique across all inputs: a repeated id is an error, never a silent
    overwrite."""
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for item in inputs:
        for doc in iter_input(item):
            if doc.id in seen:
                raise InputError(
                    f"{doc.origin}: duplicate document id {doc.id!r} (first seen at {seen[doc.id]})"
                )
            seen[doc.id] = doc.origin
            documents.append(doc)
    return documents


def iter_input(item: str | Path) -> Iterator[Document]:
    if str(item) == "-":
        yield from iter_jsonl(sys.stdin, "<stdin>")
        return
    path = Path(item)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        yield from iter_folder(path)
    elif path.suffix.lower() in JSONL_SUFFIXES:
        with _open_text(path) as handle:
            yield from iter_jsonl(handle, str(path))
    elif path.suffix.lower() in TABLE_SUFFIXES:
        yield from iter_table(path)
    else:
        yield read_text_file(path)


def _open_text(path: Path) -> io.StringIO:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return io.StringIO(decode_bytes(data, str(path)), newline=None)


def read_text_file(path: Path, doc_id: str | None = None) -> Document:
    """One document per text file; its id is the file name without extension."""
    with _open_text(path) as handle:
        text = handle.read()
    return Document(id=doc_id or path.stem, text=text, origin=str(path))


def iter_folder(folder: Path) -> Iterator[Document]:
    """Every .txt file below `folder`, in a stable (sorted) order."""
    for path in sorted(folder.rglob("*.txt")):
        if path.is_file():
            yield read_text_file(path)


def iter_jsonl(handle: Iterable[str], origin: str) -> Iterator[Document]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: malformed JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield document_from_record(record, where)


def iter_table(path: Path) -> Iterator[Document]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        fields = reader.fieldnames or []
        missing = [name for name in ("id", "text") if name not in fields]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {fields}")
        for number, row in enumerate(reader, start=2):
            yield document_from_record(dict(row), f"{path}:{number}")


def document_from_record(record: dict[str, Any], where: str) -> Document:
    doc_id = record.get("id")
    text = record.get("text")
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise InputError(f"{where}: missing 'id'")
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise InputError(f"{where}: 'id' must be a string or an integer, got {doc_id!r}")
    if not isinstance(text, str):
        raise InputError(f"{where}: missing 'text' (a string) for document {doc_id!r}")
    optional = {}
    for name in ("lang", "title", "date", "url"):
        value = record.get(name)
        optional[name] = None if value in (None, "") else str(value)
    extra = {k: v for k, v in record.items() if k not in KNOWN_FIELDS}
    return Document(id=str(doc_id), text=text, origin=where, fields=extra, **optional)


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
