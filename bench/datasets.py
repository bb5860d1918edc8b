"""Damaged bilingual document sets with gold pairs and gold links, made from real data.

FLORES-200 and TICO-19 give 1-1 parallel sentences in Persian, Arabic and English, grouped
into documents (see `../shared/data/README.md`). A set is built for one language pair,
Persian–Arabic unless `generate(..., langs=...)` says otherwise (fa-en, ar-en, ...): the
first language of the pair is the source side of the gold pairs and links, the second the
target side. Real scraped news is messier, so each source document is damaged, under one
seeded `random.Random`, the way news sites damage it, the same way for every pair:

- merges: a writer packs two or three adjacent sentences into one on ONE side, replacing
  the full stop by a comma and joining with "and" (Persian "، و ", Arabic "، و" attached to
  the next word, English ", and "). Gold gets 2-1, 1-2, 3-1 and 1-3 links. Sentences with
  an internal sentence break (". " inside) are never merged, so a merged line holds no place
  where a segmenter that splits at ". " would cut it;
- drops: a sentence loses its counterpart (1-0 / 0-1, absent from gold links);
- page furniture: title, metadata, "read also" lines, end marks, source lines, comments and
  sidebar headlines (see `bench.junk`); never in gold links;
- held-back sides: some documents appear in one language only (no gold pair);
- look-alike distractors (below).

A distractor imitates the topic of a real document T in language L without being a
translation of anything in the set. It is built from a *reserved* source document D, whose
two sides are otherwise left out of the set. (D, T) are the closest pairs of documents of
one domain by shared topic words (on the English pivot), taken greedily, so D reads like
another report on a similar subject. D's L-side sentences are then interleaved with at most
`max_shared` sentences of T's L side, never more than a third of T (none when T has fewer
than three sentences): a background paragraph reused by a second report. Gold has no pair
for a distractor, and T's counterpart in the other language is always in the set (a T
whose L side was held back is imitated in L), so a matcher is tempted but has a right
answer.

Documents are written one line per (possibly merged) sentence or furniture line. Gold links
are over these line numbers (furniture included in the numbering), and every line's character
span in the text is kept, so that a runner can map lines to the project's own sentences
through `Sentence.start`/`end` (`map_lines`, `map_links`).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import junk

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
CORPORA = {  # name -> (file, column that groups rows into documents)
    "flores200": ("flores200-devtest.fa-ar.tsv", "url"),
    "tico19": ("tico19.fa-ar.tsv", "doc"),
}
LANGS = ("fa", "ar")  # the default language pair: (source side, target side)
SIDES = ("fa", "ar", "en")  # the languages a SourceDoc can have

Span = tuple[int, int]
LineLink = tuple[tuple[int, ...], tuple[int, ...]]  # (src line indices, tgt line indices)

# Where a segmenter splitting at ". " would cut: an ender, closing marks, then white space.
_INTERNAL_BREAK = re.compile(r"[.!?؟…]+[\"'»”’)\]}]*\s")
# Characters that would start a new line in the written text (str.splitlines' set).
_LINE_BREAKS = re.compile(r"[\n\r\t\v\f\x1c-\x1e\x85\u2028\u2029]+")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a\u0671-\u06d3]")
_TITLE_STRIP = ".!?؟…:،,؛;»«\"'()[]- "
# Longer packed sentences are unrealistic, and a segmenter may cut a very long line anyway.
MAX_MERGED_CHARS = 1000
# Merging: (comma, conjunction) by language; other languages get the comma of their script.
_JOINERS = {"fa": ("،", "و"), "ar": ("،", "و"), "en": (",", "and")}
_ARABIC_SCRIPT_LANGS = {"fa", "ar", "ur", "ps", "ckb", "sd", "ug"}
# Openers that lose their capital when a sentence becomes the second half of a merged one
# (names keep theirs: "..., and Iran said" but "..., and the minister said").
_EN_LOWER_OPENERS = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we",
    "you", "his", "her", "their", "our", "there", "here", "in", "on", "at", "by", "for", "from",
    "with", "after", "before", "during", "when", "while", "as", "if", "some", "many", "most",
    "all", "one", "two", "three", "several", "each", "both", "such", "other", "but", "and",
    "so", "yet", "or",
))  # fmt: skip


@dataclass(frozen=True)
class SourceDoc:
    """One document of the parallel data: line i of `fa` translates line i of `ar` (and of
    `en` when there is one)."""

    key: str
    domain: str
    fa: tuple[str, ...]
    ar: tuple[str, ...]
    en: tuple[str, ...] = ()  # the English side (and topic pivot), when the data has it

    def side(self, lang: str) -> tuple[str, ...]:
        """The sentences in `lang` (one of SIDES)."""
        if lang not in SIDES:
            raise ValueError(f"no {lang!r} side: source documents have {', '.join(SIDES)}")
        return getattr(self, lang)


@dataclass(frozen=True)
class Rates:
    """Damage rates. `merge` and `drop` are per sentence, `holdback` and `distractor` shares
    of the documents, the others per document side."""

    merge: float = 0.12  # a sentence starts a merge with its neighbour(s) on one side
    three_way: float = 0.25  # a merge takes three sentences instead of two
    drop: float = 0.04  # a sentence loses its counterpart
    title: float = 0.7
    header: float = 0.2  # a metadata line above the report
    lead_in: float = 0.3  # agency lead-in on the first sentence (part of the sentence)
    inline: float = 0.15  # a "read also" line between two paragraphs
    footer: float = 0.7
    holdback: float = 0.1  # share of documents that appear in one language only
    distractor: float = 0.08  # share of documents reserved to make look-alike distractors
    max_shared: int = 1  # sentences a distractor borrows from its target


@dataclass(frozen=True)
class Dataset:
    name: str
    seed: int
    docs: list[dict[str, str]]  # id, lang, text
    gold_pairs: list[tuple[str, str]]  # (src_id, tgt_id): langs[0], langs[1]
    gold_links: dict[tuple[str, str], list[LineLink]]  # over line indices
    line_spans: dict[str, list[Span]]  # doc id -> (start, end) of each line in its text
    info: dict[str, dict[str, object]]  # doc id -> role, source, target, furniture
    rates: Rates = field(default_factory=Rates)
    langs: tuple[str, str] = LANGS  # (source side, target side)

    def stats(self) -> dict[str, object]:
        """Counts for a report: documents by language and role, gold pairs, gold link kinds
        ('2-1': two source lines, one target line), and lines: all, furniture, and report
        lines of paired documents left without a counterpart (drops)."""
        kinds = Counter(f"{len(s)}-{len(t)}" for ls in self.gold_links.values() for s, t in ls)
        roles = Counter(f"{d['lang']}:{self.info[d['id']]['role']}" for d in self.docs)
        linked: Counter[str] = Counter()
        for (src, tgt), links in self.gold_links.items():
            linked[src] += sum(len(s) for s, _ in links)
            linked[tgt] += sum(len(t) for _, t in links)
        lines: Counter[str] = Counter()
        for d in self.docs:
            doc_id, lang = d["id"], d["lang"]
            total = len(self.line_spans[doc_id])
            furniture = len(self.info[doc_id]["furniture"])  # type: ignore[arg-type]
            lines[f"{lang}:lines"] += total
            lines[f"{lang}:furniture"] += furniture
            if self.info[doc_id]["role"] == "paired":
                lines[f"{lang}:unlinked"] += total - furniture - linked[doc_id]
        return {
            "docs": dict(sorted(Counter(d["lang"] for d in self.docs).items())),
            "roles": dict(sorted(roles.items())),
            "gold_pairs": len(self.gold_pairs),
            "links": dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
            "lines": dict(sorted(lines.items())),
        }


# --- reading the parallel data -------------------------------------------------------------


def clean_sentence(text: str) -> str:
    """One line of text: line breaks become spaces, ends are trimmed."""
    return _LINE_BREAKS.sub(" ", text).strip()


def load_corpus(path: str | Path, group_by: str) -> list[SourceDoc]:
    """Source documents of a fa-ar TSV, in file order; rows of one document are contiguous.
    Rows without fa or ar are skipped (whatever the language pair, so that the sets of all
    pairs are made of the same rows); a document gets its English side when all its kept
    rows have one."""
    docs: dict[str, tuple[str, list[str], list[str], list[str]]] = {}
    with Path(path).open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        for row in reader:
            record = dict(zip(header, row, strict=False))
            fa, ar = clean_sentence(record.get("fa", "")), clean_sentence(record.get("ar", ""))
            if not fa or not ar:
                continue
            key = record[group_by]
            # TICO has no domain column: its document names start with the source (PubMed_7)
            domain = record.get("domain") or key.split("_")[0]
            entry = docs.setdefault(key, (domain, [], [], []))
            entry[1].append(fa)
            entry[2].append(ar)
            entry[3].append(clean_sentence(record.get("en", "")))
    return [
        SourceDoc(k, d, tuple(fa), tuple(ar), tuple(en) if all(en) else ())
        for k, (d, fa, ar, en) in docs.items()
    ]


# --- merging sentences ---------------------------------------------------------------------


def can_merge(sentences: Sequence[str]) -> bool:
    """True when these sentences can be packed into one without leaving a sentence break
    inside: none has an internal break, and all but the last end in a plain full stop or a
    word (a question or a quotation is not packed)."""
    if sum(len(s) + 3 for s in sentences) > MAX_MERGED_CHARS:
        return False
    if any(_INTERNAL_BREAK.search(s) for s in sentences):
        return False
    for s in sentences[:-1]:
        plain_stop = s.endswith(".") and not s.endswith("..")
        if not (plain_stop or s[-1].isalnum()):
            return False
    return True


def merge_sentences(sentences: Sequence[str], lang: str) -> str:
    """'A. B.' -> 'A، و B.' (Persian), 'A، وB.' (Arabic attaches the conjunction) or
    'A, and b.' (English: a common opener loses its capital, a name keeps it). A language
    without a conjunction here gets the comma of its script: 'A، B.' or 'A, B.'."""
    comma, conjunction = _JOINERS.get(lang, ("،" if lang in _ARABIC_SCRIPT_LANGS else ",", ""))
    merged = sentences[0]
    for nxt in sentences[1:]:
        head = merged[:-1] if merged.endswith(".") else merged
        if lang == "en":
            merged = f"{head}{comma} {_english_second_half(nxt)}"
            continue
        if not conjunction:
            joint = " "
        elif nxt.startswith("و ") or (lang == "ar" and nxt.startswith("و")):
            joint = " "  # already opens with "and"; "و و" / "وو" would read as a typo
        elif lang == "ar" and _ARABIC_LETTER.match(nxt):
            joint = " و"
        else:
            joint = f" {conjunction} "
        merged = f"{head}{comma}{joint}{nxt}"
    return merged


def _english_second_half(sentence: str) -> str:
    """'The minister said.' -> 'and the minister said.'; 'But it rained.' -> 'but it
    rained.' (no 'and but'); 'Iran said.' -> 'and Iran said.'."""
    first = sentence.split(" ", 1)[0]
    word = first.rstrip(",;:")
    if word[:1].isupper() and word[1:].islower() and word.lower() in _EN_LOWER_OPENERS:
        sentence = sentence[0].lower() + sentence[1:]
        word = word.lower()
    if word.lower() in ("and", "but", "yet", "so", "or"):
        return sentence  # already opens with a conjunction
    return f"and {sentence}"


# --- one document pair ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """Source sentences that end up in one gold link. Each inner tuple is one written line:
    ((0, 1),) is one merged line, ((0,), (1,)) two lines, () a side that was dropped."""

    src: tuple[tuple[int, ...], ...]
    tgt: tuple[tuple[int, ...], ...]

    def side(self, which: int) -> tuple[tuple[int, ...], ...]:
        return self.tgt if which else self.src


def _plan(
    sides: tuple[Sequence[str], Sequence[str]], rng: random.Random, rates: Rates
) -> list[_Unit]:
    """Decide, sentence by sentence, what becomes of the 1-1 parallel rows of the (source,
    target) sentences: kept, dropped on one side, or packed with the next one or two on one
    side."""
    units: list[_Unit] = []
    i, n = 0, len(sides[0])
    while i < n:
        if rng.random() < rates.drop:
            one = ((i,),)
            units.append(_Unit(one, ()) if rng.random() < 0.5 else _Unit((), one))
            i += 1
            continue
        if rng.random() < rates.merge:
            side = rng.choice((0, 1))  # the same draw as choosing from a language pair
            sentences = sides[side]
            k = min(3 if rng.random() < rates.three_way else 2, n - i)
            while k >= 2 and not can_merge(sentences[i : i + k]):
                k -= 1
            if k >= 2:
                packed = (tuple(range(i, i + k)),)
                separate = tuple((j,) for j in range(i, i + k))
                units.append(_Unit(packed, separate) if side == 0 else _Unit(separate, packed))
                i += k
                continue
        units.append(_Unit(((i,),), ((i,),)))
        i += 1
    if not any(u.src and u.tgt for u in units):
        # everything dropped: a document with no report left is not a damaged document
        return [_Unit(((i,),), ((i,),)) for i in range(n)]
    return units


@dataclass
class _Line:
    text: str
    unit: int | None = None  # the gold unit; None for furniture and distractors' lines
    furniture: bool = False


def _body(
    sentences: Sequence[str], groups: list[tuple[int, tuple[int, ...]]], lang: str
) -> list[_Line]:
    """Lines of the report itself: (unit, source indices) -> one (merged) sentence each."""
    return [_Line(merge_sentences([sentences[i] for i in idx], lang), u) for u, idx in groups]


def _title(sentence: str, rng: random.Random) -> str | None:
    """A headline cut from a sentence of the report: its first few words, up to a comma,
    unpunctuated."""
    words = sentence.split()
    if len(words) < 6:
        return None
    cut = " ".join(words[: rng.randint(4, min(9, len(words) - 2))])
    title = re.split(r"[،,؛;:]", cut)[0].strip(_TITLE_STRIP)
    return title if len(title.split()) >= 3 else None


def _dress(
    body: list[_Line], lang: str, rng: random.Random, rates: Rates, title: str | None
) -> list[_Line]:
    """Wrap the report's lines in a site's furniture."""
    body = list(body)
    if body and rng.random() < rates.lead_in:
        body[0] = _Line(junk.lead_in(lang, rng) + body[0].text, body[0].unit)
    # between two gold units only, so that the lines of one link stay consecutive
    gaps = [p for p in range(2, len(body)) if body[p - 1].unit != body[p].unit]
    if len(body) >= 4 and gaps and rng.random() < rates.inline:
        body.insert(rng.choice(gaps), _Line(junk.inline_line(lang, rng), furniture=True))
    top: list[str] = []
    if title:
        top.append(title)
    if rng.random() < rates.header:
        top += junk.header_lines(lang, rng)
    bottom = junk.footer_lines(lang, rng) if rng.random() < rates.footer else []
    furniture = [_Line(t, furniture=True) for t in top + bottom]
    return furniture[: len(top)] + body + furniture[len(top) :]


def _sides(
    src: SourceDoc,
    units: list[_Unit],
    rng: random.Random,
    rates: Rates,
    langs: tuple[str, str] = LANGS,
) -> tuple[list[_Line], list[_Line]]:
    """The written source and target documents of one source document, as _Line lists."""
    # Titles are cut from different sentences on the two sides, so that the two headlines
    # are not translations of each other (they would be a parallel pair gold does not know).
    n = len(src.side(langs[0]))
    picks = rng.sample(range(n), min(2, n))
    order = rng.sample(langs, 2)  # with one sentence only one side gets a title: either
    titles: dict[str, str | None] = {}
    for lang, pick in zip(order, picks, strict=False):
        sentences = src.side(lang)
        titles[lang] = _title(sentences[pick], rng) if rng.random() < rates.title else None
    result: list[list[_Line]] = []
    for which, lang in enumerate(langs):
        groups = [(u, idx) for u, unit in enumerate(units) for idx in unit.side(which)]
        body = _body(src.side(lang), groups, lang)
        result.append(_dress(body, lang, rng, rates, titles.get(lang)))
    return result[0], result[1]


def _links(src: list[_Line], tgt: list[_Line]) -> list[LineLink]:
    where: dict[int, tuple[list[int], list[int]]] = {}
    for side, lines in ((0, src), (1, tgt)):
        for number, line in enumerate(lines):
            if line.unit is not None:
                where.setdefault(line.unit, ([], []))[side].append(number)
    return [(tuple(s), tuple(t)) for _, (s, t) in sorted(where.items()) if s and t]


# --- distractors ---------------------------------------------------------------------------


def topic_words(sources: Sequence[SourceDoc]) -> dict[str, set[str]]:
    """Content words of each document: words of four letters or more found in at most 5% of
    the documents. Measured on the English pivot when there is one, because Arabic clitics
    (ال، و، ب) and Persian spacing make raw word overlap a poor topic measure."""
    words = {s.key: set(re.findall(r"\w{4,}", " ".join(s.en or s.ar).lower())) for s in sources}
    df = Counter(w for ws in words.values() for w in ws)
    limit = max(2, 0.05 * len(sources))
    return {key: {w for w in ws if df[w] <= limit} for key, ws in words.items()}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / (len(a | b) or 1)


def lookalikes(
    sources: Sequence[SourceDoc], n: int, rng: random.Random
) -> list[tuple[SourceDoc, SourceDoc]]:
    """(reserved, target) pairs: the `n` closest pairs of documents of one domain by topic
    words, taken greedily so that no document is in two pairs. The seeded shuffle before the
    (stable) sort only decides between equally close pairs."""
    topics = topic_words(sources)
    candidates = [
        (_jaccard(topics[d.key], topics[t.key]), d, t)
        for d in sources
        for t in sources
        if d is not t and d.domain == t.domain and len(d.fa) >= 2  # all sides: same length
    ]
    rng.shuffle(candidates)
    candidates.sort(key=lambda c: -c[0])
    used: set[str] = set()
    plan = []
    for _, reserved, target in candidates:
        if len(plan) == n:
            break
        if reserved.key not in used and target.key not in used:
            plan.append((reserved, target))
            used |= {reserved.key, target.key}
    return plan


def _distractor(
    reserved: SourceDoc,
    target: SourceDoc,
    lang: str,
    rng: random.Random,
    rates: Rates,
    langs: tuple[str, str] = LANGS,
) -> list[_Line]:
    """Side `lang` (one of `langs`) of the reserved document with up to `max_shared` of the
    target's sentences (at most a third of the target) put in after its first sentence."""
    sentences = list(reserved.side(lang))
    theirs = target.side(lang)
    for borrowed in rng.sample(theirs, min(rates.max_shared, len(theirs) // 3)):
        sentences.insert(rng.randint(1, len(sentences)), borrowed)
    # plan as if both sides were these sentences: merges and drops apply, side `lang` is kept
    units = _plan((sentences, sentences), rng, rates)
    which = langs.index(lang)
    groups = [(u, idx) for u, unit in enumerate(units) for idx in unit.side(which)]
    own = reserved.side(lang)  # a title cut from a borrowed sentence would be the target's
    title = _title(rng.choice(own), rng) if rng.random() < rates.title else None
    lines = _dress(_body(sentences, groups, lang), lang, rng, rates, title)
    for line in lines:
        line.unit = None  # nothing in a distractor is gold
    return lines


# --- the whole set -------------------------------------------------------------------------


def generate(
    sources: Sequence[SourceDoc],
    name: str = "set",
    seed: int = 0,
    rates: Rates | None = None,
    langs: tuple[str, str] = LANGS,
) -> Dataset:
    """A damaged document set from `sources` in the language pair `langs` (source side,
    target side; two of SIDES); the same seed gives the same set. The random draws do not
    depend on the pair, so that the sets of two pairs of one seed share their damage plan
    where the sentences allow (merges are only made where `can_merge` accepts the side's
    sentences) and the fa-ar sets are those made before the pair was a parameter."""
    langs = check_langs(langs, sources)
    rates = rates or Rates()
    rng = random.Random(seed)
    # Exact counts rather than a coin per document: small corpora (TICO has 31 documents)
    # still get their distractors and orphans, and the set's shape does not swing with seed.
    plan = lookalikes(sources, round(rates.distractor * len(sources)), rng)
    reserved = {d.key for d, _ in plan}
    rest = [s.key for s in sources if s.key not in reserved]
    held = rng.sample(rest, min(round(rates.holdback * len(sources)), len(rest)))
    roles = {key: "pair" for key in rest}  # "pair" | a language (the side kept)
    roles.update({key: rng.choice(langs) for key in held})

    written: list[_Written] = []
    pairs: list[tuple[int, int, list[LineLink]]] = []  # positions in `written`, links
    for src in sources:
        if src.key in reserved:
            continue
        role = roles[src.key]
        units = _plan((src.side(langs[0]), src.side(langs[1])), rng, rates)
        sides = _sides(src, units, rng, rates, langs)
        if role == "pair":
            pairs.append((len(written), len(written) + 1, _links(*sides)))
        for lang, lines in zip(langs, sides, strict=True):
            if role in ("pair", lang):
                written.append((lang, lines, "paired" if role == "pair" else "orphan", src.key, ""))

    for d, t in plan:
        # Imitate the side of the target whose counterpart is in the set, so that a right
        # answer competes: a one-sided target is imitated in its missing language.
        kept = roles[t.key]
        lang = rng.choice(langs) if kept == "pair" else langs[1 - langs.index(kept)]
        lines = _distractor(d, t, lang, rng, rates, langs)
        written.append((lang, lines, "distractor", d.key, t.key))

    # Opaque ids in shuffled order: neither the language nor the pairing shows in an id.
    numbers = list(range(len(written)))
    rng.shuffle(numbers)
    ids = [f"{name}-{n:04d}" for n in numbers]
    return _assemble(name, seed, rates, written, pairs, ids, langs)


def check_langs(langs: Sequence[str], sources: Sequence[SourceDoc] = ()) -> tuple[str, str]:
    """`langs` as a (source, target) pair of two different languages of SIDES that every
    source document has; ValueError otherwise."""
    pair = tuple(langs)
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(SIDES):
        raise ValueError(f"a language pair is two of {', '.join(SIDES)}, not {langs!r}")
    for lang in pair:
        missing = [s.key for s in sources if not s.side(lang)]
        if missing:
            raise ValueError(f"{len(missing)} source documents have no {lang} side: {missing[0]}")
    return pair[0], pair[1]


def parse_pair(text: str) -> tuple[str, str]:
    """'fa-en' -> ('fa', 'en')."""
    return check_langs(tuple(text.split("-")))


_Written = tuple[str, list[_Line], str, str, str]  # lang, lines, role, source, target


def _assemble(
    name: str,
    seed: int,
    rates: Rates,
    written: list[_Written],
    pairs: list[tuple[int, int, list[LineLink]]],
    ids: list[str],
    langs: tuple[str, str] = LANGS,
) -> Dataset:
    docs: list[dict[str, str]] = []
    spans: dict[str, list[Span]] = {}
    info: dict[str, dict[str, object]] = {}
    for doc_id, (lang, lines, role, source, target) in zip(ids, written, strict=True):
        texts = tuple(line.text for line in lines)
        docs.append({"id": doc_id, "lang": lang, "text": "\n".join(texts)})
        spans[doc_id] = line_spans(texts)
        info[doc_id] = {
            "role": role,
            "source": source,
            "target": target,
            "furniture": [i for i, line in enumerate(lines) if line.furniture],
        }
    docs.sort(key=lambda d: d["id"])
    gold_links = {(ids[s], ids[t]): links for s, t, links in pairs}
    return Dataset(name, seed, docs, sorted(gold_links), gold_links, spans, info, rates, langs)


def line_spans(lines: Sequence[str]) -> list[Span]:
    """(start, end) of each line in "\\n".join(lines)."""
    spans: list[Span] = []
    start = 0
    for line in lines:
        spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


# --- mapping lines to a segmenter's sentences ---------------------------------------------


def map_lines(lines: Sequence[Span], sentences: Sequence[Span]) -> list[tuple[int, ...]]:
    """For each line, the indices of the sentences (start, end) that overlap it. A line the
    segmenter split maps to several sentences; a line it dropped (as boilerplate) to none."""
    starts = [s for s, _ in sentences]
    ends = [e for _, e in sentences]
    if starts != sorted(starts) or ends != sorted(ends):  # not in text order: check them all
        return [
            tuple(k for k, (s, e) in enumerate(sentences) if s < line_end and e > line_start)
            for line_start, line_end in lines
        ]
    # In text order, the sentences overlapping a line are a run: from the first that ends
    # after the line starts to the last that starts before it ends (linear in long documents).
    mapped = []
    for line_start, line_end in lines:
        first = bisect.bisect_right(ends, line_start)
        last = bisect.bisect_left(starts, line_end)
        mapped.append(tuple(range(first, last)))
    return mapped


def map_links(
    links: Sequence[LineLink],
    src_map: Sequence[tuple[int, ...]],
    tgt_map: Sequence[tuple[int, ...]],
) -> tuple[list[LineLink], int]:
    """Line links rewritten over sentence indices, and how many were lost because a side
    maps to no sentence (the project dropped a gold line: count those as missed links)."""
    mapped: list[LineLink] = []
    lost = 0
    for src, tgt in links:
        s = tuple(sorted({k for i in src for k in src_map[i]}))
        t = tuple(sorted({k for j in tgt for k in tgt_map[j]}))
        if s and t:
            mapped.append((s, t))
        else:
            lost += 1
    return mapped, lost


# --- files ---------------------------------------------------------------------------------


def write_dataset(dataset: Dataset, out: str | Path, with_lang: bool = False) -> Path:
    """docs.jsonl, gold_pairs.tsv, gold_links.jsonl, docs_info.jsonl and manifest.json.

    `lang` is left out of docs.jsonl unless `with_lang`, so that language detection is
    exercised. gold_pairs.tsv has src_doc and tgt_doc columns (the pair's first and second
    language), as `aligner.scoring.read_pairs` reads them. The manifest names the pair
    ("langs") when it is not fa-ar, so that a fa-ar set's files are what they were before
    sets had a language pair."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "docs.jsonl").open("w", encoding="utf-8") as f:
        for doc in dataset.docs:
            record = doc if with_lang else {"id": doc["id"], "text": doc["text"]}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (out / "gold_pairs.tsv").open("w", encoding="utf-8") as f:
        f.write("src_doc\ttgt_doc\n")
        f.writelines(f"{src}\t{tgt}\n" for src, tgt in dataset.gold_pairs)
    with (out / "gold_links.jsonl").open("w", encoding="utf-8") as f:
        for src, tgt in dataset.gold_pairs:
            record = {
                "src_doc": src,
                "tgt_doc": tgt,
                "links": [[list(s), list(t)] for s, t in dataset.gold_links[(src, tgt)]],
                "src_spans": [list(span) for span in dataset.line_spans[src]],
                "tgt_spans": [list(span) for span in dataset.line_spans[tgt]],
            }
            f.write(json.dumps(record) + "\n")
    with (out / "docs_info.jsonl").open("w", encoding="utf-8") as f:
        for doc in dataset.docs:
            record = {"id": doc["id"], "lang": doc["lang"], **dataset.info[doc["id"]]}
            record["spans"] = [list(span) for span in dataset.line_spans[doc["id"]]]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    manifest: dict[str, object] = {"name": dataset.name, "seed": dataset.seed}
    if dataset.langs != LANGS:
        manifest["langs"] = list(dataset.langs)
    manifest.update(rates=asdict(dataset.rates), stats=dataset.stats())
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return out


def write_sentence_gold(dataset: Dataset, path: str | Path) -> int:
    """Gold links over the project's own sentences (prepared as `aligner match` prepares
    documents without a language), as a TSV `aligner score --gold` reads. Returns how many
    gold links could not be written because preparation dropped one of their sides (the
    benchmark counts those as missed; `aligner score` cannot know them)."""
    from aligner.prepare import prepare_document
    from aligner.types import Document

    prepared = {d["id"]: prepare_document(Document(d["id"], d["text"])) for d in dataset.docs}
    lost = 0
    with Path(path).open("w", encoding="utf-8") as f:
        f.write("src_doc\ttgt_doc\tsrc_sents\ttgt_sents\n")
        for a, b in dataset.gold_pairs:
            spans = [[(s.start, s.end) for s in prepared[d].sentences] for d in (a, b)]
            a_map = map_lines(dataset.line_spans[a], spans[0])
            b_map = map_lines(dataset.line_spans[b], spans[1])
            links, n_lost = map_links(dataset.gold_links[(a, b)], a_map, b_map)
            lost += n_lost
            for src, tgt in links:
                f.write(f"{a}\t{b}\t{','.join(map(str, src))}\t{','.join(map(str, tgt))}\n")
    return lost


GoldRecord = tuple[list[LineLink], list[Span], list[Span]]  # links, src spans, tgt spans


def read_gold_links(path: str | Path) -> dict[tuple[str, str], GoldRecord]:
    """gold_links.jsonl -> {(src_doc, tgt_doc): (links, src line spans, tgt line spans)}."""
    result: dict[tuple[str, str], GoldRecord] = {}
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                links = [(tuple(s), tuple(t)) for s, t in r["links"]]
                spans = ([tuple(x) for x in r["src_spans"]], [tuple(x) for x in r["tgt_spans"]])
                result[(r["src_doc"], r["tgt_doc"])] = (links, *spans)
    return result


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.datasets", description="Write damaged bilingual benchmark sets."
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument(
        "--pair",
        type=parse_pair,
        default=LANGS,
        help="language pair, source-target: fa-ar (default), fa-en, ar-en, en-fa, ...",
    )
    parser.add_argument("--with-lang", action="store_true", help="write lang into docs.jsonl")
    parser.add_argument(
        "--sentence-gold",
        action="store_true",
        help="also write gold_sentences.tsv: the gold links over the sentences the project's "
        "own preparation makes, for `aligner score --gold`",
    )
    for name, value in asdict(Rates()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)

    rates = Rates(**{name: getattr(args, name) for name in asdict(Rates())})
    names = list(CORPORA) if args.corpus == "all" else [args.corpus]
    wrote = 0
    for name in names:
        file, group_by = CORPORA[name]
        path = args.data / file
        if not path.is_file():
            print(f"skipped {name}: {path} not found (development data is not part of the repo)")
            continue
        dataset = generate(load_corpus(path, group_by), name, args.seed, rates, args.pair)
        folder = write_dataset(dataset, args.out / name, with_lang=args.with_lang)
        if args.sentence_gold:
            lost = write_sentence_gold(dataset, folder / "gold_sentences.tsv")
            print(f"{name}: gold_sentences.tsv ({lost} gold links lost to preparation)")
        print(f"{name}: {folder}\n{json.dumps(dataset.stats(), ensure_ascii=False)}")
        wrote += 1
    if not wrote:
        print("skipped: nothing written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
