"""Writing results: the parallel corpus in the formats other tools read (TSV, JSONL, TMX
1.4b, Moses) and the matched document pairs (TSV), each through `files.atomic_output`.

Every format carries the same segments as the TSV (`parallel_rows`): the same ids,
languages, sentence indices, score and cleaned texts, so that a segment can be traced back to
its documents whatever the format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from aligner.errors import AlignerError
from aligner.files import atomic_output, atomic_outputs
from aligner.normalize import clean_for_export
from aligner.types import Alignment, DocumentPair

PARALLEL_COLUMNS = (
    "src_doc", "tgt_doc", "src_lang", "tgt_lang", "src_sents", "tgt_sents", "score",
    "src_text", "tgt_text",
)  # fmt: skip
PAIR_COLUMNS = (
    "src_doc", "tgt_doc", "src_lang", "tgt_lang", "score", "retrieval_score",
    "src_coverage", "tgt_coverage", "mean_link_score", "links", "src_sentences",
    "tgt_sentences", "accepted", "reason",
)  # fmt: skip

FORMATS = ("tsv", "jsonl", "tmx", "moses")
_EXTENSIONS = {".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".tmx": "tmx"}
MOSES_IDS_COLUMNS = ("src_doc", "tgt_doc", "src_sents", "tgt_sents")

# Characters XML 1.0 does not allow at all (most C0 controls, lone surrogates, U+FFFE/F):
# a single one makes the whole file unreadable to a TMX tool.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def format_for(path: str | Path | None, fmt: str | None = None) -> str:
    """The output format: the one asked for, else the one the file extension names, else
    TSV (also for standard output)."""
    if fmt:
        return fmt.lower()
    if path is None or str(path) == "-":
        return "tsv"
    return _EXTENSIONS.get(Path(path).suffix.lower(), "tsv")


def filter_links(alignments: Iterable[Alignment], min_score: float) -> tuple[list[Alignment], int]:
    """The alignments without their links scored below `min_score`, and how many links
    were dropped."""
    kept: list[Alignment] = []
    dropped = 0
    for alignment in alignments:
        links = tuple(link for link in alignment.links if link.score >= min_score)
        if len(links) != len(alignment.links):
            dropped += len(alignment.links) - len(links)
            alignment = replace(alignment, links=links)
        kept.append(alignment)
    return kept, dropped


def json_rows(alignments: Iterable[Alignment]) -> Iterator[dict[str, Any]]:
    """The TSV rows with typed values: sentence indices as lists of ints, score as a number."""
    for row in parallel_rows(alignments):
        typed: dict[str, Any] = dict(row)
        for column in ("src_sents", "tgt_sents"):
            typed[column] = [int(i) for i in row[column].split(",")]
        typed["score"] = float(row["score"])
        yield {column: typed[column] for column in PARALLEL_COLUMNS}


def write_parallel_jsonl(alignments: Iterable[Alignment], path: str | Path | None) -> int:
    count = 0
    with atomic_output(path) as handle:
        for row in json_rows(alignments):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def strip_xml_illegal(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def xml_text(text: str) -> str:
    """`text` escaped for XML element content and attribute values, without the characters
    XML 1.0 forbids."""
    return escape(strip_xml_illegal(text), {'"': "&quot;"})


def write_parallel_tmx(alignments: Sequence[Alignment], path: str | Path | None) -> int:
    """TMX 1.4b: one <tu> per segment, one <tuv xml:lang=...> per side; score, document ids
    and sentence indices as <prop>s."""
    from aligner.version import __version__

    src_langs = {a.src.lang for a in alignments if a.links}
    srclang = next(iter(src_langs)) if len(src_langs) == 1 else "*all*"
    count = 0
    with atomic_output(path) as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<tmx version="1.4">\n')
        handle.write(
            f'  <header creationtool="aligner" creationtoolversion="{xml_text(__version__)}" '
            'datatype="plaintext" segtype="sentence" adminlang="en" '
            f'srclang="{xml_text(srclang)}" o-tmf="aligner"/>\n  <body>\n'
        )
        for row in parallel_rows(alignments):
            count += 1
            _write_tu(handle, row, count)
        handle.write("  </body>\n</tmx>\n")
    return count


def _write_tu(handle: IO[str], row: dict[str, str], number: int) -> None:
    x = {key: xml_text(value) for key, value in row.items()}
    handle.write(
        f'    <tu tuid="{number}" srclang="{x["src_lang"]}">\n'
        f'      <prop type="x-score">{x["score"]}</prop>\n'
        f'      <prop type="x-src-doc">{x["src_doc"]}</prop>\n'
        f'      <prop type="x-tgt-doc">{x["tgt_doc"]}</prop>\n'
        f'      <prop type="x-src-sents">{x["src_sents"]}</prop>\n'
        f'      <prop type="x-tgt-sents">{x["tgt_sents"]}</prop>\n'
        f'      <tuv xml:lang="{x["src_lang"]}"><seg>{x["src_text"]}</seg></tuv>\n'
        f'      <tuv xml:lang="{x["tgt_lang"]}"><seg>{x["tgt_text"]}</seg></tuv>\n'
        "    </tu>\n"
    )


def moses_paths(name: str | Path, src_lang: str, tgt_lang: str) -> tuple[Path, Path, Path]:
    """NAME.<src>, NAME.<tgt> and NAME.ids (suffixes added, as Moses tools expect)."""
    base = str(name)
    return Path(f"{base}.{src_lang}"), Path(f"{base}.{tgt_lang}"), Path(f"{base}.ids")


def moses_pair(pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The one language pair of a Moses corpus (its file suffixes), from the (source,
    target) language pairs it would hold; several, none, or one language on both sides is an
    error (the command line checks the pairs it will match before any work)."""
    found = sorted(set(pairs))
    if len(found) != 1:
        shown = ", ".join(f"{s}-{t}" for s, t in found) or "none"
        raise AlignerError(
            f"Moses output holds exactly one language pair (found: {shown}); "
            "choose one with --src-lang and --tgt-lang"
        )
    src, tgt = found[0]
    if src == tgt:
        raise AlignerError(f"Moses output needs two different languages (both sides are {src})")
    return src, tgt


def moses_languages(
    alignments: Sequence[Alignment], fallback: tuple[str, str] | None = None
) -> tuple[str, str]:
    """The one language pair of a Moses corpus (its file suffixes)."""
    pairs = {(a.src.lang, a.tgt.lang) for a in alignments if a.links}
    return moses_pair(pairs or ([fallback] if fallback else []))


def write_parallel_moses(
    alignments: Sequence[Alignment],
    name: str | Path | None,
    fallback_langs: tuple[str, str] | None = None,
) -> int:
    """Two line-aligned text files, one segment per line, and an ids file that traces each
    line back to its documents and sentences. All three are replaced together or not at all."""
    if name is None or str(name) == "-":
        raise AlignerError("Moses output is three files: give their common name with -o NAME")
    src_lang, tgt_lang = moses_languages(alignments, fallback_langs)
    count = 0
    with atomic_outputs(moses_paths(name, src_lang, tgt_lang)) as (src, tgt, ids):
        for row in parallel_rows(alignments):
            # texts are one line each (clean_for_export), so lines stay aligned
            src.write(row["src_text"] + "\n")
            tgt.write(row["tgt_text"] + "\n")
            ids.write("\t".join(row[c] for c in MOSES_IDS_COLUMNS) + "\n")
            count += 1
    return count


def write_parallel(
    alignments: Sequence[Alignment],
    path: str | Path | None,
    fmt: str = "tsv",
    fallback_langs: tuple[str, str] | None = None,
) -> int:
    """Write the segments of `alignments` to `path` in `fmt`; returns the segment count.
    `fallback_langs` names the Moses files when there is no segment to take them from."""
    if fmt == "tsv":
        return write_parallel_tsv(alignments, path)
    if fmt == "jsonl":
        return write_parallel_jsonl(alignments, path)
    if fmt == "tmx":
        return write_parallel_tmx(alignments, path)
    if fmt == "moses":
        return write_parallel_moses(alignments, path, fallback_langs)
    raise AlignerError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")


def parallel_rows(alignments: Iterable[Alignment]) -> Iterator[dict[str, str]]:
    """One row per aligned segment, texts cleaned so that no row breaks the TSV."""
    for alignment in alignments:
        src, tgt = alignment.src, alignment.tgt
        for link in alignment.links:
            yield {
                "src_doc": clean_for_export(src.id),
                "tgt_doc": clean_for_export(tgt.id),
                "src_lang": clean_for_export(src.lang),
                "tgt_lang": clean_for_export(tgt.lang),
                "src_sents": ",".join(map(str, link.src)),
                "tgt_sents": ",".join(map(str, link.tgt)),
                "score": f"{link.score:.4f}",
                "src_text": clean_for_export(" ".join(src.sentences[i].text for i in link.src)),
                "tgt_text": clean_for_export(" ".join(tgt.sentences[j].text for j in link.tgt)),
            }


def pair_rows(pairs: Iterable[DocumentPair]) -> Iterator[dict[str, str]]:
    for pair in pairs:
        evidence = pair.evidence
        yield {
            "src_doc": clean_for_export(pair.src.id),
            "tgt_doc": clean_for_export(pair.tgt.id),
            "src_lang": clean_for_export(pair.src.lang),
            "tgt_lang": clean_for_export(pair.tgt.lang),
            "score": f"{pair.score:.4f}",
            "retrieval_score": f"{pair.retrieval_score:.4f}",
            "src_coverage": f"{evidence['src_coverage']:.4f}",
            "tgt_coverage": f"{evidence['tgt_coverage']:.4f}",
            "mean_link_score": f"{evidence['mean_link_score']:.4f}",
            "links": str(len(pair.alignment.links)),
            "src_sentences": str(len(pair.src.sentences)),
            "tgt_sentences": str(len(pair.tgt.sentences)),
            "accepted": "1" if pair.verdict is None or pair.verdict.accepted else "0",
            "reason": clean_for_export(pair.verdict.reason if pair.verdict else ""),
        }


def write_tsv(
    rows: Iterable[dict[str, str]], columns: tuple[str, ...], path: str | Path | None
) -> int:
    """Write rows as TSV with a header; no quoting (values never hold tabs or newlines)."""
    count = 0
    with atomic_output(path) as handle:
        handle.write("\t".join(columns) + "\n")
        for row in rows:
            # values are already free of tabs and line breaks (clean_for_export), so plain
            # joining is exact; quoting would make the file harder to read with cut/awk.
            handle.write("\t".join(row[c] for c in columns) + "\n")
            count += 1
    return count


def write_parallel_tsv(alignments: Iterable[Alignment], path: str | Path | None) -> int:
    return write_tsv(parallel_rows(alignments), PARALLEL_COLUMNS, path)


def write_pairs_tsv(pairs: Iterable[DocumentPair], path: str | Path | None) -> int:
    return write_tsv(pair_rows(pairs), PAIR_COLUMNS, path)
