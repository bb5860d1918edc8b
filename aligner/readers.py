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
