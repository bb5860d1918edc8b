"""The small records that flow between the stages of the pipeline.

read -> Document -> clean/segment -> PreparedDocument (sentences) -> match -> DocumentPair
-> align -> Alignment (list of Link) -> export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Document:
    """A document as read from the input, before any cleaning."""

    id: str
    text: str
    lang: str | None = None
    title: str | None = None
    date: str | None = None
    url: str | None = None
    origin: str = ""  # where it was read from, e.g. "archive.jsonl:12", for error messages
    fields: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def display_title(self) -> str | None:
        """The title to show: the input's title, else the first line of the text (a .txt
        file's headline), shortened to about 120 characters at a word; None if there is none.
        The review page and `aligner index search` show this."""
        title = self.title
        if title is None:
            title = next((line for line in self.text[:4096].splitlines() if line.strip()), None)
        if title is None:
            return None
        title = " ".join(title.split())
        if len(title) > 120:
            title = title[:120].rsplit(" ", 1)[0] + " …"
        return title or None


@dataclass(frozen=True)
class Sentence:
    """One sentence of a cleaned document.

    `text` is the original wording (what gets exported); `norm` is the normalised form used
    only for comparison. `start`/`end` are character offsets into the document's text.
    """

    index: int
    text: str
    norm: str
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class PreparedDocument:
    """A document cleaned of boilerplate, with its language and its sentences."""

    doc: Document
    lang: str
    sentences: tuple[Sentence, ...]
    removed: tuple[str, ...] = ()  # boilerplate lines that were dropped, for review

    @property
    def id(self) -> str:
        return self.doc.id

    def texts(self) -> list[str]:
        return [s.text for s in self.sentences]

    def norms(self) -> list[str]:
        return [s.norm for s in self.sentences]

    # Computed once per document (a dedup candidate is asked for them for every pair it is
    # in); cached_property keeps them beside the frozen fields, never changing those.
    @cached_property
    def fingerprint(self) -> tuple[str, int]:
        """The id with a hash of the sentence texts: an updated document shares its id
        with its stored old version, its sentences tell them apart."""
        return (self.id, hash(tuple(self.texts())))

    @cached_property
    def sentence_lengths(self) -> np.ndarray:
        """Lengths of the normalised sentences (what coverage weighs)."""
        return np.array([len(s.norm) for s in self.sentences], dtype=np.float64)


@dataclass(frozen=True)
class Link:
    """One aligned segment: consecutive source sentences <-> consecutive target sentences."""

    src: tuple[int, ...]
    tgt: tuple[int, ...]
    score: float

    @property
    def kind(self) -> str:
        return f"{len(self.src)}-{len(self.tgt)}"


@dataclass(frozen=True)
class Alignment:
    """The sentence alignment of one document pair. Unaligned sentences are simply absent."""

    src: PreparedDocument
    tgt: PreparedDocument
    links: tuple[Link, ...]

    @property
    def src_coverage(self) -> float:
        """Share of the source text (in characters) that is inside an aligned segment."""
        return _coverage(self.src, (i for link in self.links for i in link.src))

    @property
    def tgt_coverage(self) -> float:
        return _coverage(self.tgt, (j for link in self.links for j in link.tgt))

    @property
    def mean_score(self) -> float:
        if not self.links:
            return 0.0
        weights = [len(link.src) + len(link.tgt) for link in self.links]
        return sum(w * link.score for w, link in zip(weights, self.links)) / sum(weights)


def _coverage(doc: PreparedDocument, indices: Any) -> float:
    total = sum(len(s.norm) for s in doc.sentences)
    if total == 0:
        return 0.0
    covered = sum(len(doc.sentences[i].norm) for i in set(indices))
    return covered / total


@dataclass(frozen=True)
class Verdict:
    """Whether two documents report the same event, and why."""

    score: float  # the probability of the same event (calibrated encoders), else in [0, 1]
    accepted: bool
    reason: str  # why not, when not accepted
    evidence: dict[str, float] = field(default_factory=dict, compare=False)
    calibrated: bool = False


@dataclass(frozen=True)
class DocumentPair:
    """Two documents with the verdict on them: judged to report the same thing (a matched
    pair), or a verified candidate that was rejected (`verdict.reason` says why)."""

    src: PreparedDocument
    tgt: PreparedDocument
    score: float  # final same-event score in [0, 1]
    retrieval_score: float  # margin score of the document embeddings
    alignment: Alignment
    verdict: Verdict | None = field(default=None, compare=False)

    @property
    def evidence(self) -> dict[str, float]:
        a = self.alignment
        return {
            "retrieval_score": self.retrieval_score,
            "src_coverage": a.src_coverage,
            "tgt_coverage": a.tgt_coverage,
            "mean_link_score": a.mean_score,
            "links": float(len(a.links)),
        }
