"""Quality measures for sentence alignment and document matching.

The measures are the ones the sentence-alignment literature reports (Bleualign, Vecalign,
Bertalign): precision, recall and F1 of links, both *strict* (a predicted link counts only
when it equals a gold link on both sides) and *lax* (links are expanded to the sentence
pairs they contain, which are then scored, so a 2-1 link predicted as 1-1 still earns
credit for the pair it got right). Counts are summed over all document pairs of a file
before dividing (micro average), so long documents weigh more than short ones.

A link is `(src_indices, tgt_indices)`; links with an empty side (1-0, 0-1) say "this
sentence has no counterpart" and are ignored, as the literature does. Predicted links for
a document pair that gold does not know count as false positives.

Everything here is pure: readers turn files into plain dicts and sets, scorers turn those
into `Scores`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aligner.errors import InputError

DocPair = tuple[str, str]  # (src_doc, tgt_doc)
Indices = tuple[int, ...]
LinkKey = tuple[Indices, Indices]  # (src sentence indices, tgt sentence indices)
Alignments = dict[DocPair, list[LinkKey]]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one measure, with the counts they were computed from.

    With nothing predicted, precision is 1.0 (no prediction is wrong); with nothing in gold,
    recall is 1.0 (nothing was missed). F1 is 0.0 unless both are positive, so an empty
    prediction against non-empty gold scores F1 = 0 and two empty sets score F1 = 1.
    """

    precision: float
    recall: float
    f1: float
    true_positives: int
    n_pred: int
    n_gold: int

    @classmethod
    def from_counts(cls, true_positives: int, n_pred: int, n_gold: int) -> Scores:
        precision = true_positives / n_pred if n_pred else 1.0
        recall = true_positives / n_gold if n_gold else 1.0
        total = precision + recall
        f1 = 2 * precision * recall / total if total else 0.0
        return cls(precision, recall, f1, true_positives, n_pred, n_gold)


# --- scoring -------------------------------------------------------------------------------


def _clean_links(links: Iterable[LinkKey]) -> set[LinkKey]:
    """Links as a set, sides sorted, 1-0 / 0-1 links dropped (they are not scored)."""
    cleaned = set()
    for src, tgt in links:
        if src and tgt:
            cleaned.add((tuple(sorted(set(src))), tuple(sorted(set(tgt)))))
    return cleaned


def _oriented(
    pred: Mapping[DocPair, Iterable[LinkKey]], gold: Mapping[DocPair, object]
) -> Alignments:
    """Predicted alignments keyed like gold: a prediction made for (b, a) when gold has
    (a, b) is the same document pair seen from the other side, so its links are flipped
    rather than counted as a pair gold does not know."""
    oriented: Alignments = {}
    for (src_doc, tgt_doc), links in pred.items():
        key, flip = (src_doc, tgt_doc), False
        if key not in gold and (tgt_doc, src_doc) in gold:
            key, flip = (tgt_doc, src_doc), True
        items = [(t, s) if flip else (s, t) for s, t in links]
        oriented.setdefault(key, []).extend(items)
    return oriented


def _expand(links: Iterable[LinkKey]) -> set[tuple[int, int]]:
    """The sentence pairs a set of links asserts (the unit of lax scoring)."""
    return {(i, j) for src, tgt in links for i in src for j in tgt}


def _units(links: Iterable[LinkKey], lax: bool) -> set[LinkKey] | set[tuple[int, int]]:
    cleaned = _clean_links(links)
    return _expand(cleaned) if lax else cleaned


def _micro(pred: Alignments, gold: Alignments, lax: bool) -> Scores:
    pred = _oriented(pred, gold)
    tp = n_pred = n_gold = 0
    for key in set(pred) | set(gold):
        p_units = _units(pred.get(key, ()), lax)
        g_units = _units(gold.get(key, ()), lax)
        tp += len(p_units & g_units)
        n_pred += len(p_units)
        n_gold += len(g_units)
    return Scores.from_counts(tp, n_pred, n_gold)


def score_strict(pred: Alignments, gold: Alignments) -> Scores:
    """Links scored as wholes: a predicted link is right only if gold has exactly it."""
    return _micro(pred, gold, lax=False)


def score_lax(pred: Alignments, gold: Alignments) -> Scores:
    """Links expanded to (src sentence, tgt sentence) pairs, and the pairs scored."""
    return _micro(pred, gold, lax=True)


def link_kind(link: LinkKey) -> str:
    """'2-1' for two source sentences linked to one target sentence."""
    return f"{len(set(link[0]))}-{len(set(link[1]))}"


def _only_kind(alignments: Alignments, kind: str) -> Alignments:
    return {
        key: [link for link in _clean_links(links) if link_kind(link) == kind]
        for key, links in alignments.items()
    }


def score_by_kind(pred: Alignments, gold: Alignments) -> dict[str, Scores]:
    """Strict scores restricted to one link kind at a time ('1-1', '2-1', ...): shows whether
    merges and splits are found, which the overall score hides behind the many 1-1 links."""
    pred = _oriented(pred, gold)
    kinds = {
        link_kind(link)
        for links in (*pred.values(), *gold.values())
        for link in _clean_links(links)
    }
    by_size = sorted(kinds, key=lambda k: tuple(int(n) for n in k.split("-")))
    return {k: score_strict(_only_kind(pred, k), _only_kind(gold, k)) for k in by_size}


def _pair_key(pair: DocPair) -> DocPair:
    # (a, b) and (b, a) name the same pair: which side is "source" is an accident of input
    a, b = pair
    return (a, b) if a <= b else (b, a)


def score_pairs(pred: Iterable[DocPair], gold: Iterable[DocPair]) -> Scores:
    """Document-pair matching scored as sets of unordered pairs."""
    p = {_pair_key(pair) for pair in pred}
    g = {_pair_key(pair) for pair in gold}
    return Scores.from_counts(len(p & g), len(p), len(g))


def format_report(scores: Mapping[str, Scores], title: str | None = None) -> str:
    """A small fixed-width table, one row per named measure."""
    width = max([len("measure"), *(len(name) for name in scores)])
    header = (
        f"{'measure':<{width}}  {'P':>6}  {'R':>6}  {'F1':>6}  {'tp':>7}  {'pred':>7}  {'gold':>7}"
    )
    lines = [title] if title else []
    lines.append(header)
    for name, s in scores.items():
        lines.append(
            f"{name:<{width}}  {s.precision:6.4f}  {s.recall:6.4f}  {s.f1:6.4f}  "
            f"{s.true_positives:7d}  {s.n_pred:7d}  {s.n_gold:7d}"
        )
    return "\n".join(lines)


# --- readers -------------------------------------------------------------------------------


def parse_indices(field: str) -> Indices:
    """'3,4' -> (3, 4); '' -> (). Tolerates spaces and brackets ('[3, 4]')."""
    field = field.strip().strip("[]").strip()
    if not field:
        return ()
    try:
        return tuple(int(part) for part in field.split(","))
    except ValueError:
        raise ValueError(f"not a list of sentence indices: {field!r}") from None


def _read_tsv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    # QUOTE_NONE: sentences contain '"' and must come through untouched
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            return []
        header = [name.strip().lstrip("\ufeff") for name in header]
        missing = [name for name in required if name not in header]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise InputError(f"{path}:{number}: {len(row)} fields, header has {len(header)}")
            rows.append(dict(zip(header, row[: len(header)], strict=True)))
        return rows


def read_alignment_tsv(path: str | Path) -> Alignments:
    """Links from a TSV with columns src_doc, tgt_doc, src_sents, tgt_sents (our parallel
    export, or a gold file with just those columns); other columns are ignored."""
    path = Path(path)
    alignments: Alignments = {}
    rows = _read_tsv(path, ("src_doc", "tgt_doc", "src_sents", "tgt_sents"))
    for number, row in enumerate(rows, start=2):
        try:
            link = (parse_indices(row["src_sents"]), parse_indices(row["tgt_sents"]))
        except ValueError as error:
            raise InputError(f"{path}: row {number}: {error}") from None
        alignments.setdefault((row["src_doc"], row["tgt_doc"]), []).append(link)
    return alignments


_VECALIGN_LINE = re.compile(r"^\[([\d,\s]*)\]\s*:\s*\[([\d,\s]*)\](?:\s*:\s*(\S+))?\s*$")


def read_vecalign(
    path: str | Path, src_doc: str | None = None, tgt_doc: str | None = None
) -> Alignments:
    """Links of one document pair in the Vecalign/Bertalign format: `[1, 2]:[1]` per line,
    optionally followed by `:score`. The file carries no document ids, so they are given;
    both default to the file's stem (gold and prediction files share names)."""
    path = Path(path)
    key = (src_doc or path.stem, tgt_doc or path.stem)
    links: list[LinkKey] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            match = _VECALIGN_LINE.match(line.strip())
            if not match:
                found = line.strip()
                raise InputError(f"{path}:{number}: not a '[i, ...]:[j, ...]' line: {found!r}")
            try:
                links.append((parse_indices(match.group(1)), parse_indices(match.group(2))))
            except ValueError as error:
                raise InputError(f"{path}:{number}: {error}") from None
    return {key: links}


def read_vecalign_dir(folder: str | Path, pattern: str = "*") -> Alignments:
    """All Vecalign-format files of a folder, one document pair per file (ids: file stems)."""
    alignments: Alignments = {}
    for path in _files(Path(folder), pattern):
        alignments.update(read_vecalign(path))
    return alignments


def _files(folder: Path, pattern: str = "*") -> list[Path]:
    return [
        path
        for path in sorted(folder.glob(pattern))
        if path.is_file() and not path.name.startswith(".")
    ]


def is_vecalign_file(path: str | Path) -> bool:
    """True when the first non-blank line looks like a Vecalign link ('[...')."""
    with Path(path).open(encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "")
    return first.lstrip().startswith("[")


def read_alignments(
    path: str | Path, src_doc: str | None = None, tgt_doc: str | None = None
) -> Alignments:
    """Any of the supported alignment formats: a Vecalign file (first non-blank line starts
    with '['), a TSV with a header, or a folder of such files (merged; Vecalign files are
    named by their stems). `src_doc`/`tgt_doc` name the document pair of a Vecalign file
    (they are not used for TSV files, which carry their own ids)."""
    path = Path(path)
    if path.is_dir():
        if src_doc or tgt_doc:
            raise InputError(
                f"{path}: document ids can only be given for a single file, not a folder"
            )
        alignments: Alignments = {}
        for file in _files(path):
            for key, links in read_alignments(file).items():
                alignments.setdefault(key, []).extend(links)
        return alignments
    if is_vecalign_file(path):
        return read_vecalign(path, src_doc, tgt_doc)
    return read_alignment_tsv(path)


def read_pairs(path: str | Path) -> list[DocPair]:
    """Document pairs from a TSV with at least src_doc and tgt_doc columns."""
    rows = _read_tsv(Path(path), ("src_doc", "tgt_doc"))
    return [(row["src_doc"], row["tgt_doc"]) for row in rows]
