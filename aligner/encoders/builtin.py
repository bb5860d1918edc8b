"""The built-in offline encoder: hashed character n-grams of script-folded text.

No weights, no network, deterministic across runs and machines. It is designed for pairs of
languages that share a script (Persian and Arabic above all): a Persian report and its Arabic
translation share names (پوتین/بوتين), loanwords (روسیه/روسيا, آستانه/استانا), numbers and
much Arabic vocabulary, and character n-grams of text folded to one letter inventory pick
that up. Three feature families, hashed into one signed vector (the "hashing trick"):

- surface n-grams (3 to 5 characters, across word boundaries) of the folded text, after
  dropping function words and the Arabic article;
- consonant-skeleton n-grams: the same words without their long vowels, so that spellings
  that differ only in vowel letters (کرونا/كورونا, بوتین/بوتين) still meet;
- nothing else: the encoder has no vocabulary, so it works for any language and script,
  only less well where the two languages share no characters.

The whole batch is processed as one NumPy array of code points, which is what makes it fast
(tens of thousands of sentences per second on one core).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from aligner.encoders.base import Encoder, l2_normalize, sum_windows
from aligner.normalize import normalize

VERSION = 2

# Folds that go further than `normalize`: they make Persian-only letters meet their Arabic
# transcriptions (Arabic writes پوتین as بوتين, گاز as غاز/جاز), for matching only.
_CROSS_FOLD = str.maketrans({"پ": "ب", "چ": "ج", "ژ": "ز", "گ": "ک"})

# Function words that carry no content; they would make every Arabic sentence look like every
# other (and unlike its Persian translation). Written as `normalize` leaves them.
_STOPWORDS = {
    # Persian
    "و", "در", "به", "از", "که", "این", "را", "با", "است", "برای", "ها", "های", "می", "آن",
    "شد", "کرد", "شده", "بود", "یک", "تا", "بر", "هم", "نیز", "خود", "اند", "ای", "وی", "کند",
    "کرده", "شود", "دارد", "باید", "نمی", "پس", "اما", "همچنین", "توسط", "اینکه", "آنها",
    "ما", "من", "او", "هر", "دیگر", "نه", "یا", "اگر", "چه", "همه", "بوده", "باشد", "کنند",
    # Arabic
    "فی", "علی", "الی", "ان", "عن", "التی", "الذی", "مع", "هذا", "هذه", "کان", "قد",
    "لا", "حیث", "ذلک", "کما", "بعد", "عند", "وقد", "هو", "هی", "لم", "لن", "انه",
    "الذین", "وفی", "ولا", "اذا", "ثم", "لدی", "تلک", "بان", "الا", "کل", "وان", "غیر",
    # English, for mixed text
    "the", "a", "an", "of", "to", "in", "and", "is", "that", "for", "on", "with", "as", "by",
}  # fmt: skip
# The Arabic article and its fused prepositions, stripped from longer words: Persian borrows
# the noun without it (الرئيس / رئیس, السوریه / سوریه).
_ARTICLE_RE = re.compile(r"(?:وال|بال|فال|کال|لل|ال)(?=\w{3,})")
# Long vowels inside a word (not its first letter) and a word-final ه: what differs most
# between Persian and Arabic spellings of one name.
_VOWELS_RE = re.compile(r"(?<=\w)[اوی]|(?<=\w)ه(?!\w)")

_SEPARATOR = 0x0A  # "\n": texts are joined with it and no n-gram may span it


class BuiltinEncoder(Encoder):
    """Hashed character n-gram encoder. See the module documentation."""

    def __init__(
        self,
        dim: int = 4096,
        ngram_range: tuple[int, int] = (3, 5),
        skeleton_ngram_range: tuple[int, int] = (2, 4),
        skeleton_weight: float = 0.7,
        batch_size: int = 2048,
        cross_word: bool = False,
        lexicon: bool = True,
    ) -> None:
        if dim <= 0 or dim & (dim - 1):
            raise ValueError(f"builtin encoder dimension must be a power of two, got {dim}")
        self.name = "builtin"
        self.dim = dim
        self.ngram_range = ngram_range
        self.skeleton_ngram_range = skeleton_ngram_range
        self.skeleton_weight = skeleton_weight
        self.cross_word = cross_word
        self.lexicon = lexicon
        self.batch_size = batch_size
        self._bits = np.uint64(dim.bit_length() - 1)
        # folded word -> (surface form, skeleton form, concept tokens): words repeat, so
        # each distinct word is analysed once
        self._word_cache: dict[str, tuple[str, str, tuple[str, ...]]] = {}

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "kind": "builtin",
            "name": self.name,
            "version": VERSION,
            "dim": self.dim,
            "ngram_range": list(self.ngram_range),
            "skeleton_ngram_range": list(self.skeleton_ngram_range),
            "skeleton_weight": self.skeleton_weight,
            "cross_word": self.cross_word,
            "lexicon": _lexicon_digest() if self.lexicon else None,
        }

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return l2_normalize(self.features(texts, batch_size), inplace=True)

    def features(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Unnormalised feature counts (len(texts), dim). They add up: no n-gram spans two
        words, so the counts of texts joined with a space are the sum of their counts."""
        size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), size):
            self._add_batch_features(texts[start : start + size], out[start : start + size])
        return out

    @property
    def cheap_windows(self) -> bool:
        return not self.cross_word

    @property
    def additive(self) -> bool:
        return not self.cross_word  # n-grams across words: joined texts have extra features

    def with_dim(self, dim: int) -> BuiltinEncoder:
        """The same features hashed into `dim` buckets (what folding the vector by summing
        blocks amounts to, but several times faster to compute)."""
        if dim == self.dim:
            return self
        return BuiltinEncoder(
            dim=dim,
            ngram_range=self.ngram_range,
            skeleton_ngram_range=self.skeleton_ngram_range,
            skeleton_weight=self.skeleton_weight,
            cross_word=self.cross_word,
        )

    @property
    def throughput_batch(self) -> int:
        # the cost is dominated by one bincount over batch*dim cells: smaller batches than
        # the default are faster in bulk (measured: 9k vs 7k sentences/s at dim 4096)
        return 256

    def __getstate__(self) -> dict[str, Any]:
        # to a worker process without the word cache (rebuilt there; not worth pickling)
        state = dict(self.__dict__)
        state["_word_cache"] = {}
        return state

    @property
    def crosses_scripts(self) -> bool:
        # character n-grams of two scripts share nothing but digits and names in Latin
        # letters: Persian-English and Arabic-English pair F1 about 0 (BENCHMARKS.md)
        return False

    def encode_windows(self, texts: Sequence[str], max_group: int) -> list[np.ndarray]:
        if self.cross_word:  # n-grams across words: joined texts have extra features
            return super().encode_windows(texts, max_group)
        return sum_windows(self.features(texts), max_group)

    # -- internals ---------------------------------------------------------------------
    def fold(self, text: str) -> str:
        """The text as the encoder sees it, surface form (for inspection and tests)."""
        return self._fold_joined(text.replace("\n", " "))[0].strip()

    def _analyse(self, word: str) -> tuple[str, str, tuple[str, ...]]:
        surface, skeleton = _word_forms(word)
        concepts = ()
        if self.lexicon and word != "\n":
            concepts = tuple(lookup_concepts(word, _lexicon()))
        return surface, skeleton, concepts

    def _fold_joined(self, joined: str) -> tuple[str, str]:
        """Surface and skeleton forms of texts joined with newlines (newlines kept)."""
        codes = np.frombuffer(
            unicodedata.normalize("NFKC", joined).encode("utf-32-le"), dtype=np.uint32
        )
        codes = _char_table()[np.minimum(codes, _TABLE_SIZE - 1)]
        codes = codes[codes != 0]
        text = codes.tobytes().decode("utf-32-le")
        surface: list[str] = []
        skeleton: list[str] = []
        cache = self._word_cache
        phrases = _lexicon() if self.lexicon else {}
        previous = ""
        for word in text.replace("\n", " \n ").split(" "):
            if not word:
                continue
            forms = cache.get(word)
            if forms is None:
                forms = cache[word] = self._analyse(word)
                if len(cache) > 500_000:  # bound memory on huge vocabularies
                    cache.clear()
            if forms[0]:
                surface.append(forms[0])
                skeleton.append(forms[1])
            concepts = forms[2]
            if previous and self.lexicon:  # two-word entries ("رئیس جمهور")
                concepts = tuple(phrases.get(f"{previous} {word}", ())) + concepts
            for token in concepts:
                surface.append(token)
                skeleton.append(token)
            previous = word if word != "\n" else ""
        return " ".join(surface), " ".join(skeleton)

    def _add_batch_features(self, texts: Sequence[str], out: np.ndarray) -> None:
        """Add the feature counts of `texts` to `out`, their (len(texts), dim) rows."""
        joined = "\n".join(t.replace("\n", " ").replace("\r", " ") for t in texts)
        surface, skeleton = self._fold_joined(joined)
        index_parts: list[np.ndarray] = []
        weight_parts: list[np.ndarray] = []
        self._ngrams(surface, self.ngram_range, 1.0, 1, index_parts, weight_parts)
        self._ngrams(
            skeleton, self.skeleton_ngram_range, self.skeleton_weight, 2, index_parts, weight_parts
        )
        if index_parts:
            # Straight into the float32 rows: a dense float64 bincount of the batch, then
            # converted and copied, took over a third of the encoder's time (8M cells, 1M hits).
            np.add.at(out.reshape(-1), np.concatenate(index_parts), np.concatenate(weight_parts))

    def _ngrams(
        self,
        text: str,
        ngram_range: tuple[int, int],
        weight: float,
        salt: int,
        index_parts: list[np.ndarray],
        weight_parts: list[np.ndarray],
    ) -> None:
        """Append the hashed n-gram features of `text` (texts separated by newlines)."""
        # A space on both sides of each text makes word starts and ends n-gram features.
        codes = np.frombuffer((" " + text + " ").encode("utf-32-le"), dtype=np.uint32)
        codes = codes.astype(np.uint64)
        is_sep = codes == _SEPARATOR
        rows = np.cumsum(is_sep)
        spaces = np.concatenate([[0], np.cumsum(codes == 0x20)])
        lo, hi = ngram_range
        h = np.full(len(codes), (salt * 0x9E3779B97F4A7C15) % 2**64, np.uint64)
        prime = np.uint64(0x100000001B3)
        with np.errstate(over="ignore"):
            for n in range(1, hi + 1):
                # h[i] becomes the hash of codes[i : i + n] (polynomial, wrapping at 2**64)
                h = (h[:-1] if n > 1 else h) * prime ^ codes[n - 1 :]
                if n < lo:
                    continue
                m = len(h)
                # an n-gram must lie within one text: no separator inside it
                valid = rows[:m] == rows[n - 1 : n - 1 + m]
                valid &= ~is_sep[:m]
                if not self.cross_word and n > 2:
                    # no space strictly inside the n-gram: it stays within one word
                    valid &= spaces[n - 1 : n - 1 + m] == spaces[1 : 1 + m]
                if not valid.any():
                    continue
                mixed = (h[valid] ^ np.uint64(n)) * np.uint64(0xFF51AFD7ED558CCD)
                mixed ^= mixed >> np.uint64(33)
                bucket = (mixed >> (np.uint64(64) - self._bits)).astype(np.int64)
                index_parts.append(rows[:m][valid].astype(np.int64) * self.dim + bucket)
                sign = mixed & np.uint64(1)
                weight_parts.append(np.where(sign, np.float32(weight), np.float32(-weight)))


_TABLE_SIZE = 0x30000
_LEXICON_PATH = Path(__file__).with_name("data") / "fa_ar_lexicon.tsv"
# Affixes tried, longest first, when a word is not in the lexicon as it stands.
_PREFIXES = ("وال", "بال", "فال", "کال", "لل", "ال", "و", "ف", "ب", "ل", "می", "نمی")
_SUFFIXES = (
    "هایی", "های", "ترین", "هما", "ها", "هم", "کم", "نا", "ات", "ون", "ین", "ان", "یه",
    "ای", "تر", "ه", "ی", "ش", "یا",
)  # fmt: skip


def _concept_token(concept: int) -> str:
    """Three private-use characters: an n-gram feature no real text produces."""
    return chr(0xE100 + concept // 64) + chr(0xE200 + concept % 64) + "\ue300"


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, list[str]]:
    """Folded word (or two-word phrase) -> concept tokens it stands for."""
    table: dict[str, list[str]] = {}
    lines = _LEXICON_PATH.read_text(encoding="utf-8").splitlines()
    concept = 0
    for line in lines:
        if not line.strip() or line.startswith("#") or "|" not in line:
            continue
        token = _concept_token(concept)
        concept += 1
        for side in line.split("|"):
            for form in side.split(","):
                key = _fold_form(form)
                if key and token not in table.setdefault(key, []):
                    table[key].append(token)
    return table


def _fold_form(form: str) -> str:
    codes = np.frombuffer(
        unicodedata.normalize("NFKC", form.strip()).encode("utf-32-le"), dtype=np.uint32
    )
    codes = _char_table()[np.minimum(codes, _TABLE_SIZE - 1)]
    words = codes[codes != 0].tobytes().decode("utf-32-le").split()
    stripped = []
    for word in words:
        match = _ARTICLE_RE.match(word)
        stripped.append(word[match.end() :] if match else word)
    return " ".join(stripped)


@lru_cache(maxsize=1)
def _lexicon_digest() -> str:
    return hashlib.sha256(_LEXICON_PATH.read_bytes()).hexdigest()[:12]


def lookup_concepts(word: str, lexicon: dict[str, list[str]]) -> list[str]:
    """Concept tokens of a folded word, trying it as it stands, then without a prefix, a
    suffix, or both (Arabic clitics و/ب/ل/ال and pronoun suffixes, Persian plurals)."""
    found = lexicon.get(word)
    if found is not None:
        return found
    candidates = []
    for prefix in ("", *_PREFIXES):
        if prefix and not word.startswith(prefix):
            continue
        stem = word[len(prefix) :]
        for suffix in ("", *_SUFFIXES):
            if suffix and not stem.endswith(suffix):
                continue
            core = stem[: len(stem) - len(suffix)] if suffix else stem
            if len(core) >= 3 and (prefix or suffix):
                candidates.append(core)
    for core in candidates:
        found = lexicon.get(core)
        if found is not None:
            return found
    return []


@lru_cache(maxsize=1)
def _char_table() -> np.ndarray:
    """Code point -> folded code point (0 = drop), for the whole batch at once in NumPy.

    Applies `normalize`'s letter folding, lower case, the cross-language folds, and turns
    every character that is not part of a word into a space."""
    table = np.zeros(_TABLE_SIZE, dtype=np.uint32)
    for code in range(_TABLE_SIZE):
        char = chr(code)
        if char == "\n":
            table[code] = code
            continue
        folded = normalize(char).translate(_CROSS_FOLD) if not char.isspace() else " "
        if len(folded) != 1:
            # dropped (diacritics, controls) or expanded by case folding: keep it simple
            folded = "" if not folded else folded[0]
        if not folded:
            continue
        if folded == " " or not (folded.isalnum()):
            folded = " "
        table[code] = ord(folded)
    return table


def _word_forms(word: str) -> tuple[str, str]:
    """(surface, skeleton) of one folded word; ("", "") for a function word."""
    if word == "\n":
        return "\n", "\n"
    if not word or word in _STOPWORDS:
        return "", ""
    match = _ARTICLE_RE.match(word)
    if match:
        word = word[match.end() :]
    return word, _VOWELS_RE.sub("", word) or word
