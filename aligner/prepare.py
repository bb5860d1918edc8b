"""From a raw document to a cleaned, language-tagged list of sentences."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from aligner.boilerplate import remove_boilerplate
from aligner.langid import LANGUAGE_SCRIPTS, detect_language, detect_language_confidence
from aligner.normalize import normalize
from aligner.segment import split_sentences
from aligner.types import Document, PreparedDocument, Sentence

Warn = Callable[[str], None]

# How sure the language detector must be to question a language the input gave: on
# FLORES-200 and TICO-19 documents 95% of detections reach it, and a text of fewer than
# about 160 letters never does.
MISMATCH_CONFIDENCE = 0.8
# Other codes of the languages the detector tells apart (ISO 639-2/3, macro-language members).
_PERSIAN_CODES = "fas per pes prs"
_ARABIC_CODES = "ara arb arz ary arq acm apc ajp aeb afb ars acq ayl apd shu"
_LANGUAGE_ALIASES = {
    **dict.fromkeys(_PERSIAN_CODES.split(), "fa"),
    **dict.fromkeys(_ARABIC_CODES.split(), "ar"),
    **dict.fromkeys(("pus", "pbt", "pbu", "pst"), "ps"),
    "urd": "ur",
    "eng": "en",
}


def prepare_document(doc: Document, remove_titles: bool = True) -> PreparedDocument:
    """Remove boilerplate, detect the language (unless the input gave it) and split the rest
    into sentences. Sentence texts are spans of the original text."""
    cleaned = remove_boilerplate(doc.text, detect_title=remove_titles and doc.title is None)
    sentences = []
    for start, end in split_sentences(doc.text, cleaned.spans):
        text = doc.text[start:end]
        norm = normalize(text)
        if not norm:
            continue
        sentences.append(Sentence(len(sentences), text, norm, start, end))
    lang = doc.lang
    if not lang:
        body = "\n".join(doc.text[s:e] for s, e in cleaned.spans)
        # the sentences' normalised texts are the body's: no second normalisation
        normalized = " ".join(s.norm for s in sentences) if body else None
        lang = detect_language(body or doc.text, normalized)
    return PreparedDocument(doc=doc, lang=lang, sentences=tuple(sentences), removed=cleaned.removed)


def prepare_documents(
    docs: Iterable[Document], remove_titles: bool = True, warn: Warn | None = None
) -> list[PreparedDocument]:
    """`prepare_document` of each; with `warn`, documents whose given language their text
    contradicts are reported in one warning (see `language_disagreement`)."""
    prepared = [prepare_document(doc, remove_titles=remove_titles) for doc in docs]
    if warn is not None:
        warn_language_disagreements(prepared, warn)
    return prepared


def _comparable(code: str) -> str | None:
    base = re.split("[-_]", code.lower())[0]
    base = _LANGUAGE_ALIASES.get(base, base)
    return base if base in LANGUAGE_SCRIPTS else None


def language_disagreement(doc: PreparedDocument) -> str | None:
    """The language the text of `doc` reads as, when the input gave another one and the
    detector is sure of it: another script (Arabic text given as "en"), or Persian for
    Arabic and the other way round, which the detector is built to tell apart. None when
    they agree, when no language was given, when the text is short, or when the detector
    cannot judge (a language it does not know, Latin-script or Arabic-script languages
    other than Persian and Arabic among themselves)."""
    given = _comparable(doc.doc.lang) if doc.doc.lang else None
    if given is None or not doc.sentences:
        return None
    body = "\n".join(s.text for s in doc.sentences)
    detected, confidence = detect_language_confidence(body, " ".join(doc.norms()))
    if detected == given or detected not in LANGUAGE_SCRIPTS or confidence < MISMATCH_CONFIDENCE:
        return None
    other_script = LANGUAGE_SCRIPTS[detected] != LANGUAGE_SCRIPTS[given]
    return detected if other_script or {given, detected} == {"fa", "ar"} else None


def warn_language_disagreements(docs: Iterable[PreparedDocument], warn: Warn) -> None:
    """One warning for all documents whose given language their text contradicts: how many,
    and the first few. The given language is kept: the user may know better."""
    found = [(d, lang) for d in docs if (lang := language_disagreement(d)) is not None]
    if not found:
        return
    shown = ", ".join(f"{d.id} (given {d.lang}, reads as {lang})" for d, lang in found[:3])
    count = "1 document's" if len(found) == 1 else f"{len(found):,} documents'"
    warn(
        f"{count} given language disagrees with the text: {shown}"
        f"{', ...' if len(found) > 3 else ''}; kept as given (correct 'lang' in the input, or "
        "leave it out to have the language detected)"
    )
