"""Which earlier documents a chunk's documents may repeat: exact copies by hash, then
candidates for verification from the chunk itself, the recent documents and the index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aligner.dedup.params import Assignment, DedupParams
from aligner.dedup.verifier import Doc, Verifier
from aligner.ingest import ChunkItem
from aligner.recent import RecentWindow
from aligner.store import ArchiveStore, DocumentRow
from aligner.types import PreparedDocument

CHUNK, RECENT, STORED = "chunk", "recent", "stored"


@dataclass
class Pending:
    """A chunk document to decide, with what finding and verifying candidates needs."""

    position: int  # in the chunk
    item: ChunkItem
    doc: PreparedDocument
    vector: np.ndarray
    row: int | None  # its stored row, when it was stored before this run


@dataclass(frozen=True, slots=True)
class Earlier:
    """An earlier document, and where it is: one of the chunk's pending documents (CHUNK,
    by its index among them), a recent one with its decision (RECENT), or a stored row
    (STORED). Over a distributed record (`cluster.decide`) a recent or older one is known
    by its `position` in the input."""

    where: str
    chunk: int = -1
    assignment: Assignment | None = None
    row: DocumentRow | None = None
    position: int = -1


@dataclass(frozen=True, slots=True)
class Candidate:
    """An earlier document that a pending one may repeat, to verify."""

    same_lang: bool
    cosine: float  # of the two document vectors
    earlier: Earlier
    doc: Doc


RecentItem = tuple[PreparedDocument, Assignment]


def exact_copies(
    pending: Sequence[Pending],
    by_content: dict[str, DocumentRow],
    by_body: dict[str, DocumentRow],
    chunk_rows: set[int],
) -> dict[int, Earlier]:
    """Pending documents (by index) that are exact copies of an earlier chunk document or
    of a stored one: the same content hash, or for a document with sentences the same body
    hash (the same cleaned text). `by_content`/`by_body`: the stored documents with the
    pending documents' hashes; `chunk_rows`: stored rows of this chunk's own documents,
    which are never their earlier copies."""
    copies: dict[int, Earlier] = {}
    first: dict[str, int] = {}
    for k, p in enumerate(pending):
        earlier = first.get(p.item.content_hash)
        if earlier is None and p.doc.sentences:
            earlier = first.get(p.item.body_hash)
        if earlier is not None:
            copies[k] = Earlier(CHUNK, chunk=earlier)
        else:
            other = by_content.get(p.item.content_hash) or (
                by_body.get(p.item.body_hash) if p.doc.sentences else None
            )
            if other is not None and other.row not in chunk_rows:
                copies[k] = Earlier(STORED, row=other)
        first.setdefault(p.item.content_hash, k)
        if p.doc.sentences:
            first.setdefault(p.item.body_hash, k)
    return copies


def store_candidates(
    matrix: np.ndarray,
    langs: Sequence[str],
    store: ArchiveStore,
    chunk_rows: set[int],
    params: DedupParams,
) -> list[list[tuple[float, int, str]]]:
    """Per pending document (vectors in `matrix`, languages in `langs`): (cosine, row,
    lang) of stored neighbours above the cosine thresholds, `params.candidates` per
    language."""
    hits: list[list[tuple[float, int, str]]] = [[] for _ in matrix]
    own_langs = np.array(langs, dtype=object)
    for lang in store.search_languages():
        # rows of this chunk are in the index too (re-processed documents): ask for more
        k = params.candidates + min(len(chunk_rows), 20)
        scores, rows = store.search(matrix, lang, k, ef_search=params.ef_search)
        same = own_langs == lang
        for i in range(len(matrix)):
            limit = params.same_lang_cosine if same[i] else params.cross_lang_cosine
            taken = 0
            for score, row in zip(scores[i], rows[i]):
                if row < 0 or score < limit or int(row) in chunk_rows:
                    continue
                hits[i].append((float(score), int(row), lang))
                taken += 1
                if taken >= params.candidates:
                    break
    return hits


def recent_candidates(
    matrix: np.ndarray,
    langs: Sequence[str],
    window: RecentWindow[RecentItem] | None,
    params: DedupParams,
) -> list[list[tuple[float, RecentItem]]]:
    """Per pending document: its nearest recent documents of every language."""
    hits: list[list[tuple[float, RecentItem]]] = [[] for _ in matrix]
    if window is None:
        return hits
    for lang in window.languages():
        # In a document's own language only the `max_verify` nearest can be verified (the
        # same-language candidates are taken by cosine); in the others, the
        # `recent_candidates` nearest are ranked by their sketches.
        own = np.array([lang == doc_lang for doc_lang in langs], dtype=bool)
        for rows, k in ((np.nonzero(own)[0], params.max_verify),
                        (np.nonzero(~own)[0], params.recent_candidates)):  # fmt: skip
            if len(rows):
                for i, found in zip(rows.tolist(), window.search(matrix[rows], lang, k)):
                    hits[i].extend(found)
    return hits


def candidates_of(
    k: int,
    pending: Sequence[Pending],
    langs: np.ndarray,
    has_text: np.ndarray,
    within: np.ndarray,
    recent_hits: Sequence[tuple[float, RecentItem]],
    store_hits: Sequence[tuple[float, int, str]],
    rows_info: dict[int, DocumentRow],
    stored_docs: dict[int, Doc],
    params: DedupParams,
) -> list[Candidate]:
    """The candidates of pending document k, nearest first within each source: earlier
    documents of its chunk (cosines in `within`; languages in `langs`, which have sentences
    in `has_text`), recent ones, then stored neighbours not already among them;
    other-language ones from the chunk and recent ones capped at `params.recent_candidates`."""
    lang = pending[k].doc.lang
    same = langs[:k] == lang
    limits = np.where(same, params.same_lang_cosine, params.cross_lang_cosine)
    earlier = np.nonzero((within[k, :k] >= limits) & has_text[:k])[0]
    cross = earlier[~same[earlier]]
    if len(cross) > params.recent_candidates:  # only the nearest are kept below
        top = np.argpartition(-within[k, cross], params.recent_candidates - 1)
        earlier = np.concatenate([earlier[same[earlier]], cross[top[: params.recent_candidates]]])
    near = [
        Candidate(bool(same[j]), float(within[k, j]), Earlier(CHUNK, chunk=int(j)), pending[j].doc)
        for j in np.sort(earlier)
    ]
    for cosine, (doc, assignment) in recent_hits:
        same_lang = doc.lang == lang
        if cosine >= (params.same_lang_cosine if same_lang else params.cross_lang_cosine):
            near.append(Candidate(same_lang, cosine, Earlier(RECENT, assignment=assignment), doc))
    cross_near = sorted((c for c in near if not c.same_lang), key=lambda c: -c.cosine)
    found = [c for c in near if c.same_lang] + cross_near[: params.recent_candidates]
    seen = {c.doc.id for c in found}
    for cosine, row, _ in store_hits:
        info = rows_info.get(row)
        if info is not None and info.id not in seen:
            found.append(
                Candidate(info.lang == lang, cosine, Earlier(STORED, row=info), stored_docs[row])
            )
            seen.add(info.id)
    return found


def to_verify(
    doc: PreparedDocument, found: list[Candidate], verifier: Verifier, params: DedupParams
) -> list[Candidate]:
    """The candidates worth verifying, in the order they are verified: the
    `params.max_verify` nearest of the same language, then the other-language ones that
    `rank_translations` keeps."""
    same = sorted((c for c in found if c.same_lang), key=lambda c: -c.cosine)
    cross = [c for c in found if not c.same_lang]
    return same[: params.max_verify] + rank_translations(doc, cross, verifier, params)


def rank_translations(
    doc: PreparedDocument, found: list[Candidate], verifier: Verifier, params: DedupParams
) -> list[Candidate]:
    """The other-language candidates worth verifying, best first: those whose sentence
    sketches pass the screen, by sketch coverage (a far better pair signal than the
    document cosine), then those without sketches, by cosine. Candidates from the index
    alone (older than the recent window) must pass a stricter screen."""
    coverages = verifier.sketch_coverages(doc, [c.doc for c in found])
    sketched = [(cov, c) for c, cov in zip(found, coverages) if cov is not None]
    stored, recent = params.sketch_translation_stored, params.sketch_translation
    passed = [
        (cov, c) for cov, c in sketched if cov >= (stored if c.earlier.where == STORED else recent)
    ]
    verifier.screened += len(sketched) - len(passed)
    passed.sort(key=lambda pair: -pair[0])
    unsketched = sorted(
        (c for c, cov in zip(found, coverages) if cov is None), key=lambda c: -c.cosine
    )
    return ([c for _, c in passed] + unsketched)[: params.max_verify_translation]
