"""From a raw document to a cleaned, language-tagged list of sentences."""

from __future__ import annotations

from collections.abc import Iterable

from aligner.boilerplate import remove_boilerplate
from aligner.langid import detect_language
from aligner.normalize import normalize
from aligner.segment import split_sentences
from aligner.types import Document, PreparedDocument, Sentence


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
    docs: Iterable[Document], remove_titles: bool = True
) -> list[PreparedDocument]:
    return [prepare_document(doc, remove_titles=remove_titles) for doc in docs]
