"""What dedup is asked (its parameters) and what it answers (assignments and counts).

The measurements behind each default are in docs/archive.md ("Dedup's parameters").
"""

from __future__ import annotations

from dataclasses import dataclass, field

CANONICAL, DUPLICATE, TRANSLATION = "canonical", "duplicate", "translation"
CLUSTER_COLUMNS = ("doc_id", "cluster_id", "lang", "role", "score", "matched_doc")
# A translation's probability by default: deep in an archive every report meets
# other-language reports on its topic that share chance links, which the calibration
# (fitted on `match`'s candidates) overrates.
ARCHIVE_TRANSLATION_SCORE = 0.9


@dataclass(frozen=True)
class DedupParams:
    # -- candidates ------------------------------------------------------------------------
    candidates: int = 4  # nearest documents looked up per language in the whole store
    # document-vector cosine a same-language pair needs to be verified
    same_lang_cosine: float = 0.65
    cross_lang_cosine: float = -1.0  # ... and a pair across languages (-1: no threshold)
    max_verify: int = 3  # same-language candidates verified per document
    max_verify_translation: int = 3  # other-language candidates verified per document
    # the last `recent_docs` documents of each language are searched exactly (see
    # aligner.recent), and the `recent_candidates` nearest other-language ones among them
    # and the earlier chunk documents are ranked by their sketches with the stored ones
    recent_docs: int = 5000
    recent_candidates: int = 30
    ef_search: int = 32  # HNSW search breadth of the candidate search over the whole index
    # -- screens (they decide which pairs get a verdict, never what it is) -----------------
    # share of both documents' text whose sentences have a strong counterpart (z above
    # SCREEN_Z), on full sentence vectors ...
    screen_duplicate: float = 0.6
    screen_translation: float = 0.5
    # ... and on stored sentence sketches, when both documents have them
    sketch_duplicate: float = 0.6
    sketch_translation: float = 0.45
    # ... for an other-language candidate from the index only (older than the recent ones)
    sketch_translation_stored: float = 0.5
    # -- the verdict (`aligner.verify`, as `match` and `align` give it) --------------------
    # probability a near copy needs (None: the verdict's own threshold, 0.5 when
    # calibrated) and a translation (None: ARCHIVE_TRANSLATION_SCORE when calibrated)
    duplicate_score: float | None = None
    translation_score: float | None = None
    # -- running ---------------------------------------------------------------------------
    chunk_size: int = 1000
    workers: int = 1  # processes that verify pairs (the decisions stay in input order)
    # processes that clean and embed the next chunk while this one decides (see
    # `ingest.prepare_chunks`; 0: all in this process); only for an input of several chunks
    prepare_workers: int = 1
    # add each chunk to the FAISS indexes in a background thread (see `IndexThread`); only
    # when the recent window covers two chunks
    index_in_background: bool = True

    def min_score(self, same: bool, calibrated: bool) -> float | None:
        """The probability a pair needs (None: the verdict's own threshold)."""
        given = self.duplicate_score if same else self.translation_score
        if given is None and not same and calibrated:
            return ARCHIVE_TRANSLATION_SCORE
        return given


@dataclass(frozen=True)
class Assignment:
    doc_id: str
    cluster_id: str
    lang: str
    role: str
    score: float
    matched_doc: str


@dataclass
class DedupStats:
    documents: int = 0
    clusters: int = 0
    duplicates: int = 0
    exact: int = 0
    translations: int = 0
    verified: int = 0  # pairs aligned sentence by sentence
    screened: int = 0  # pairs rejected by the quick sentence-level screen
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)

    def count(self, a: Assignment, exact: bool) -> None:
        self.documents += 1
        self.languages[a.lang] = self.languages.get(a.lang, 0) + 1
        if a.role == CANONICAL:
            self.clusters += 1
        elif a.role == DUPLICATE:
            self.duplicates += 1
            self.exact += exact
        else:
            self.translations += 1
