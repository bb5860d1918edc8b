"""Sentence segmentation for Persian, Arabic and other languages.

Rules, in order of importance for news text:
- a line break always ends a sentence (news sites put one paragraph per line);
- `. ! ? ؟ …` end a sentence when white space follows (so `4.5`, `1+5`, `U.S.` inside a
  word and URLs do not), together with any closing quotes or brackets (`.»`, `."`);
- a full stop after a known abbreviation or a single letter (an initial) does not;
- nothing ends inside a «…» or "…" quotation that closes within the same paragraph;
- CJK and Devanagari sentence marks end a sentence without white space;
- a run with no sentence mark at all is cut at white space every `max_chars` characters,
  so that a megabyte on one line does not become one "sentence".
Segmentation never changes text: every sentence is a span of the input.
"""

from __future__ import annotations

import re

_ENDERS = ".!?؟…"
_CLOSERS = "\"'»”’)]}"
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "no", "fig", "inc", "ltd",
    "co", "corp", "gen", "gov", "sen", "rep", "col", "lt", "sgt", "capt", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "e.g", "i.e", "u.s",
    "u.k", "u.n", "approx", "dept", "est", "vol", "p", "pp", "ca", "cf", "al",
}  # fmt: skip
_BOUNDARY = re.compile(rf"[{re.escape(_ENDERS)}]+[{re.escape(_CLOSERS)}]*(?=\s)|[。！？।]+")
_NEXT_CHAR = re.compile(r"\s*(\S)")
_QUOTE_PAIRS = {"«": "»", "“": "”"}

DEFAULT_MAX_CHARS = 2000


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the full stop at `dot` closes an abbreviation or an initial."""
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    token = text[start:dot].lower()
    if not token:
        return False
    if len(token) == 1 and token.isalpha() and token.isascii():
        return True  # an initial: "J. K. Rowling"
    return token in _ABBREVIATIONS


class _QuoteDepth:
    """Open quotations since the current sentence start, counted incrementally: each
    character is counted once, so a paragraph-long quotation stays linear (recounting from
    the sentence start at every full stop made a 1 MB quoted line take minutes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        # last index of each closing mark: a quotation that never closes in this paragraph
        # does not hold sentences together.
        self.last = {mark: text.rfind(mark) for mark in ("»", "”", '"')}
        self.reset(0)

    def reset(self, start: int) -> None:
        self.counted_to = start
        self.depth = dict.fromkeys(("«", "»", "“", "”", '"'), 0)

    def inside(self, pos: int) -> bool:
        """True when `pos` lies inside a quotation opened since the last reset and closed
        later in the paragraph."""
        for mark in self.depth:
            self.depth[mark] += self.text.count(mark, self.counted_to, pos)
        self.counted_to = max(self.counted_to, pos)
        for opening, closing in _QUOTE_PAIRS.items():
            if self.depth[opening] - self.depth[closing] > 0 and self.last[closing] >= pos:
                return True
        # Straight double quotes: inside when an odd number precede and one follows.
        return self.depth['"'] % 2 == 1 and self.last['"'] >= pos


def _split_paragraph(text: str, offset: int, max_chars: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    quotes = _QuoteDepth(text)
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        ender_pos = match.start()
        if _is_abbreviation(text, ender_pos):
            continue
        if quotes.inside(end):
            continue
        following = _NEXT_CHAR.match(text, end)
        next_char = following.group(1) if following else ""
        if text[ender_pos] == "." and next_char.islower() and next_char.isascii():
            continue  # "e.g. this" or a lower-case continuation is not a new sentence
        spans.append((start, end))
        start = end
        quotes.reset(end)
    spans.append((start, len(text)))

    result: list[tuple[int, int]] = []
    for s, e in spans:
        for cs, ce in _cut_long(text, s, e, max_chars):
            while cs < ce and text[cs].isspace():
                cs += 1
            while ce > cs and text[ce - 1].isspace():
                ce -= 1
            if cs < ce:
                result.append((cs + offset, ce + offset))
    return result


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut [start, end) into pieces of at most about `max_chars`, at white space if any."""
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def split_sentences(
    text: str,
    spans: tuple[tuple[int, int], ...] | list[tuple[int, int]] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of `text`, restricted to the given line spans (all
    lines when None). The spans never overlap and are in text order."""
    if spans is None:
        spans = [(m.start(), m.end()) for m in re.finditer(r"[^\n\r\u2028\u2029]+", text)]
    result: list[tuple[int, int]] = []
    for start, end in spans:
        result.extend(_split_paragraph(text[start:end], start, max_chars))
    return result
