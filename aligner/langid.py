"""Language identification for whole documents, without models.

The script decides most languages outright. Within the Arabic script, letters alone are not
enough: Arabic is often typed on a Persian keyboard (ی and ک for ي and ك), as in the headline
of seed 002. So the decision between Persian and Arabic weighs letters that only one language
uses together with frequent function words and the Arabic article, all counted on normalised
text where the keyboard variants are already folded away.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from aligner.normalize import normalize

UNDETERMINED = "und"

# Script by code-point range: (first, last, script).
_SCRIPT_RANGES = [
    (0x0041, 0x024F, "Latin"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x08A0, 0x08FF, "Arabic"),
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x10A0, 0x10FF, "Georgian"),
    (0x1100, 0x11FF, "Hangul"),
    (0xAC00, 0xD7AF, "Hangul"),
    (0x3040, 0x30FF, "Kana"),
    (0x4E00, 0x9FFF, "Han"),
    (0x3400, 0x4DBF, "Han"),
]

_SINGLE_SCRIPT_LANG = {
    "Greek": "el",
    "Armenian": "hy",
    "Hebrew": "he",
    "Devanagari": "hi",
    "Bengali": "bn",
    "Tamil": "ta",
    "Thai": "th",
    "Georgian": "ka",
    "Hangul": "ko",
}

# Function words by language (aligner/data/function_words.json), written as `normalize`
# leaves them (ي->ی, ك->ک, أ/إ->ا, ة->ه).
_WORDS = json.loads((Path(__file__).parent / "data" / "function_words.json").read_text("utf-8"))
_FA_WORDS = frozenset(_WORDS["arabic_script"]["fa"])
_AR_WORDS = frozenset(_WORDS["arabic_script"]["ar"])
_LATIN_WORDS = {lang: frozenset(words) for lang, words in _WORDS["latin"].items()}

# The script of each language `detect_language` can name (Japanese and Chinese share one
# group: both use Han characters).
LANGUAGE_SCRIPTS = {
    **dict.fromkeys(("fa", "ar", "ur", "ps", "ckb"), "Arabic"),
    **dict.fromkeys(_LATIN_WORDS, "Latin"),
    **dict.fromkeys(("ru", "uk"), "Cyrillic"),
    **dict.fromkeys(("zh", "ja"), "Han"),
    **{lang: script for script, lang in _SINGLE_SCRIPT_LANG.items()},
}

_WORD = re.compile(r"\w+", re.UNICODE)
_SAMPLE = 20000  # characters: a long document's language shows in its first pages


def script_of(char: str) -> str | None:
    code = ord(char)
    for first, last, name in _SCRIPT_RANGES:
        if first <= code <= last:
            return name
    return None


def script_counts(text: str) -> Counter[str]:
    return _script_counts(Counter(text))


def language_script(lang: str, texts: Sequence[str] = ()) -> str | None:
    """The script `lang` is written in: the known one of a language `detect_language`
    names, else the script most letters of `texts` are in (None without letters)."""
    if lang in LANGUAGE_SCRIPTS:
        return LANGUAGE_SCRIPTS[lang]
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(script_counts(text[:_SAMPLE]))
    return counts.most_common(1)[0][0] if counts else None


def _script_counts(chars: Counter[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    # Count characters first (in C), then look up each distinct one: a text has a few
    # hundred distinct characters, not tens of thousands (10x faster on news reports).
    for char, n in chars.items():
        if char.isalpha():
            name = script_of(char)
            if name is not None:
                counts[name] += n
    return counts


def detect_language(text: str, normalized: str | None = None) -> str:
    """ISO 639-1 code of the main language of `text` (e.g. 'fa', 'ar', 'en'), or 'und'.
    `normalized`, when given, is `normalize` of the same text (in any line or sentence
    split): document preparation has it already, and normalising again is most of the
    cost of telling Persian from Arabic."""
    return detect_language_confidence(text, normalized)[0]


def detect_language_confidence(text: str, normalized: str | None = None) -> tuple[str, float]:
    """`detect_language` with how sure it is, in [0, 1]: the share of the letters in the
    deciding script, times, where languages share a script, how far the winner's evidence
    (function words, letters only one language uses) is ahead of the runner-up's and how
    much evidence there is. 0 for 'und'; a few words never reach 0.5."""
    sample = text[:_SAMPLE]
    # NFKC: presentation forms and full-width letters are counted as the letters they are
    letters = Counter(unicodedata.normalize("NFKC", sample))
    counts = _script_counts(letters)
    if not counts:
        return UNDETERMINED, 0.0
    script, main = counts.most_common(1)[0]
    share = main / sum(counts.values())
    if script == "Arabic":
        words = normalized[:_SAMPLE] if normalized is not None else normalize(sample)
        lang, sure = _arabic_script_language(letters, words)
    elif script == "Latin":
        lang, sure = _latin_language(sample)
    elif script == "Cyrillic":
        lang, sure = ("uk" if re.search("[іїєґІЇЄҐ]", sample) else "ru"), 1.0
    elif script in ("Han", "Kana"):
        lang, sure = ("ja" if counts["Kana"] > 0.05 * counts["Han"] else "zh"), 1.0
    else:
        lang, sure = _SINGLE_SCRIPT_LANG.get(script, UNDETERMINED), 1.0
    if lang == UNDETERMINED:
        return lang, 0.0
    # a short text is never sure: 200 letters (two or three sentences) for full weight
    return lang, share * sure * min(1.0, main / 200)


def _lead(best: float, second: float, enough: float) -> float:
    """How far `best` is ahead of `second`, in [0, 1], scaled down below `enough` evidence."""
    if best <= 0:
        return 0.0
    return (best - second) / best * min(1.0, best / enough)


def _arabic_script_language(letters: Counter[str], normalized: str) -> tuple[str, float]:
    # Letters of other Arabic-script languages that neither Persian nor Arabic uses.
    urdu = sum(letters[c] for c in "ٹڈڑںھے")
    pashto = sum(letters[c] for c in "ټډړږښګڼۍې")
    kurdish = sum(letters[c] for c in "ڕڵۆێ")
    if max(urdu, pashto, kurdish) >= 3:
        ranked = sorted(((urdu, "ur"), (pashto, "ps"), (kurdish, "ckb")), reverse=True)
        return ranked[0][1], _lead(ranked[0][0], ranked[1][0], 10)

    words = _WORD.findall(normalized)
    if not words:
        return UNDETERMINED, 0.0
    fa_words = sum(1 for w in words if w in _FA_WORDS)
    ar_words = sum(1 for w in words if w in _AR_WORDS)
    article = sum(1 for w in words if w.startswith(("ال", "وال", "بال", "لل")) and len(w) > 3)
    persian_letters = sum(letters[c] for c in "پچژگ")
    arabic_letters = letters["ة"] + letters["ى"] + letters["ي"] + letters["ك"]
    # Persian letters are strong evidence (Arabic has no use for them); ي/ك are weak evidence
    # because Persian text typed on an Arabic keyboard has them too.
    fa_score = 2.0 * fa_words + 3.0 * persian_letters
    ar_score = 2.0 * ar_words + 1.0 * article + 1.0 * letters["ة"] + 0.2 * arabic_letters
    if fa_score >= ar_score:
        return "fa", _lead(fa_score, ar_score, 40)
    return "ar", _lead(ar_score, fa_score, 40)


def _latin_language(text: str) -> tuple[str, float]:
    words = [w.lower() for w in _WORD.findall(text[:5000])]
    scores = {lang: sum(1 for w in words if w in vocab) for lang, vocab in _LATIN_WORDS.items()}
    ranked = sorted(scores, key=lambda lang: scores[lang], reverse=True)  # stable: ties keep order
    best = ranked[0]
    if scores[best] <= 0:
        return UNDETERMINED, 0.0
    return best, _lead(scores[best], scores[ranked[1]], 20)
