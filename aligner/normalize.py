"""Script normalisation for comparison (never for export).

Persian and Arabic are written with the same script but with different code points for the
"same" letters (ي/ی, ك/ک), optional diacritics, decorative tatweel, zero-width joiners and
three sets of digits. Two reports of one event only look alike to a machine once these are
folded together. `normalize` is idempotent: normalize(normalize(x)) == normalize(x).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Characters removed outright: Arabic diacritics (harakat, tanwin, shadda, sukun, superscript
# alef, Quranic marks), tatweel, zero-width and bidi controls, BOM, soft hyphen.
_DROP = (
    [chr(c) for c in range(0x0610, 0x061B)]
    + [chr(c) for c in range(0x064B, 0x0660)]
    + ["\u0670", "\u0640"]
    + [chr(c) for c in range(0x06D6, 0x06EE)]
    + ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff", "\u00ad", "\u061c"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)

# Letter variants folded to one form. Persian forms are the targets because they are the
# superset (Persian has ک and ی where Arabic has ك and ي/ى).
_FOLD = {
    "\u064a": "\u06cc",  # ي ARABIC YEH -> ی FARSI YEH
    "\u0649": "\u06cc",  # ى ALEF MAKSURA
    "\u0626": "\u06cc",  # ئ YEH WITH HAMZA
    "\u06d2": "\u06cc",  # ے YEH BARREE (Urdu)
    "\u0643": "\u06a9",  # ك ARABIC KAF -> ک KEHEH
    "\u0623": "\u0627",  # أ
    "\u0625": "\u0627",  # إ
    "\u0622": "\u0627",  # آ
    "\u0671": "\u0627",  # ٱ ALEF WASLA
    "\u0672": "\u0627",
    "\u0673": "\u0627",
    "\u0624": "\u0648",  # ؤ
    "\u0629": "\u0647",  # ة TEH MARBUTA -> ه (same sound at a word end; matters for matching)
    "\u06c0": "\u0647",  # ۀ HEH WITH YEH ABOVE
    "\u06c1": "\u0647",  # ہ HEH GOAL (Urdu)
    "\u06d5": "\u0647",  # ە AE (Kurdish)
    "\u0621": "",  # ء lone hamza: often present in one spelling and absent in the other
    "\u060c": ",",  # ، Arabic comma
    "\u061b": ";",  # ؛ Arabic semicolon
    "\u061f": "?",  # ؟ Arabic question mark
    "\u066b": ".",  # ٫ Arabic decimal separator
    "\u066c": ",",  # ٬ Arabic thousands separator
    "\u066a": "%",  # ٪
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u2013": "-",
    "\u2014": "-",
    "\u00a0": " ",
}
_FOLD.update({chr(0x06F0 + d): str(d) for d in range(10)})  # Persian digits
_FOLD.update({chr(0x0660 + d): str(d) for d in range(10)})  # Arabic-Indic digits
_FOLD.update(dict.fromkeys(_DROP, ""))


def _translation_list(mapping: dict[str, str]) -> list[int | str]:
    """`mapping` as a list indexed by code point, for `str.translate`: a list lookup is
    about twice as fast as a dict's, and translating is most of `normalize`'s time. Code
    points past the list's end raise IndexError, a LookupError, which `translate` takes
    as "unchanged"."""
    table: list[int | str] = list(range(max(map(ord, mapping)) + 1))
    for char, replacement in mapping.items():
        table[ord(char)] = replacement
    return table


_TABLE = _translation_list(_FOLD)

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalize(text: str) -> str:
    """Return `text` folded for comparison: one letter form per letter, no diacritics,
    ASCII digits, unified punctuation, lower case, single spaces."""
    # NFKC first: Arabic presentation forms (U+FB50..U+FEFF) become ordinary letters.
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = text.translate(_TABLE).casefold()
    # casefold/translate can produce new decomposable sequences; one more NFKC settles them
    # so that the function is idempotent. Translating again is only needed when NFKC changed
    # something (the table's outputs are never its inputs), and it is the slow part on a
    # 20 MB document.
    settled = unicodedata.normalize("NFKC", text)
    text = settled if settled == text else settled.translate(_TABLE)
    return _SPACES.sub(" ", text).strip()


_SPACES_IN_LINE = re.compile(r"[^\S\n]+")


def normalize_many(texts: Sequence[str]) -> list[str]:
    """`normalize` of each text, done on the texts joined by newlines: one pass of each
    step over the batch instead of one per text (rebuilding stored documents normalises
    many short sentences). Texts that contain a newline are normalised one by one."""
    if any("\n" in t for t in texts):
        return [normalize(t) for t in texts]
    # No step turns a newline into anything else or anything else into a newline, and
    # NFKC composes nothing across one, so each line of the result is its text's form.
    text = unicodedata.normalize("NFKC", "\n".join(texts))
    text = _CONTROL.sub(" ", text)
    text = text.translate(_TABLE).casefold()
    settled = unicodedata.normalize("NFKC", text)
    text = settled if settled == text else settled.translate(_TABLE)
    lines = _SPACES_IN_LINE.sub(" ", text).split("\n")
    return [line.strip() for line in lines] if texts else []


def clean_for_export(text: str) -> str:
    """Original text made safe for one-line formats: control characters, tabs and line
    breaks become spaces; bidi controls are kept (they are part of the author's text)."""
    text = text.replace("\x00", "")
    text = _CONTROL.sub(" ", text.replace("\t", " ").replace("\r", " ").replace("\n", " "))
    text = text.replace("\u2028", " ").replace("\u2029", " ").replace("\x85", " ")
    return _SPACES.sub(" ", text).strip()
