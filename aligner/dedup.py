"""`aligner dedup`: group the documents of an archive that report the same story.

Documents are taken in input order; each is attached to the best earlier document it
repeats, or starts a cluster of its own (as its canonical document):

1. exact copy: the same cleaned text (body hash, so boilerplate and whitespace do not
   matter) -> `duplicate`, score 1;
2. near copy in the same language (syndicated with edits, a paragraph added or cut):
   FAISS neighbours of its document vector, verified by sentence alignment -> `duplicate`;
3. translation or rewrite in another language: neighbours in the other languages,
   verified the same way (the same-event score of `aligner.match`) -> `translation`.

Verification is what keeps two reports of *different* events on the same topic apart:
their document vectors are close, but their sentences do not align.

A cluster id is the id of its canonical document. One pass, streaming: documents are
processed and committed chunk by chunk, so memory stays bounded; a document is compared
with everything stored before it (the store's earlier documents and the earlier documents
of its chunk). Clusters are never merged afterwards (a document joins one cluster).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import faiss
import numpy as np

from aligner.alignment import (
    AlignParams,
    Background,
    SideEmbeddings,
    embed_side,
    side_from_windows,
)
from aligner.docvec import (
    coverage_many,
    language_centers,
    prepared_from_texts,
    sentence_coverage,
    sentence_features,
    sentence_lengths,
    sketch_background,
    window_background,
)
from aligner.embedding import Embedder, recenter
from aligner.encoders.base import Encoder, l2_normalize, sum_windows
from aligner.ingest import (
    ChunkItem,
    first_chunk,
    new_run_id,
    prepare_chunks,
    read_chunks,
    stored_document,
)
from aligner.progress import Progress
from aligner.readers import document_to_record, input_size
from aligner.recent import RecentWindow
from aligner.runtime import (
    fewer_collections,
    init_worker,
    keep_heap,
    single_threaded_blas,
    single_threaded_faiss,
)
from aligner.store import ArchiveStore, DocumentRow
from aligner.types import PreparedDocument
from aligner.verify import VerifyParams, background_for, verdict_of_sides, verify_pair

CANONICAL, DUPLICATE, TRANSLATION = "canonical", "duplicate", "translation"
CLUSTER_COLUMNS = ("doc_id", "cluster_id", "lang", "role", "score", "matched_doc")
# What verification keeps per document (see `_Verifier`): copies and translations tend to
# arrive close together, so recent documents are the likely candidates. Builtin features
# are kept as float16 (as the prepare worker sends them: nothing is lost), about 80 KB per
# news document, so 1 GiB holds some 13,000 documents, more than the recent window
# (5,000 a language) from which most candidates come. As float32 the cache held 6,500
# documents, and re-encoding the candidates that had fallen out of it took 7% of a
# 150,000-document run.
_CACHE_BYTES = 1 << 30
_RECENT_SIDES = 64
# Documents whose centred float32 sentence vectors are kept (about 130 KB each): a recent
# document is screened against many later ones. 2,048 rather than 256: 20,000 documents
# against a 150,000-document store 78.6 / 79.4 -> 75.8 / 77.6 s, 0.27 GiB more.
_SENTENCE_VECTORS = 2048
_STORED_DOCS = 20_000  # stored candidates rebuilt from their sentences (a few KB each)
_SKETCHES = 50_000  # documents' sentence sketches kept (about 10 KB each)
# The screen before alignment counts sentences whose best counterpart is this many spreads
# above unrelated pairs: at z > 1 (the link threshold) nearly every sentence of an unrelated
# news document of ten sentences has one by chance; at z > 3 few do (see DedupParams).
SCREEN_Z = 3.0
_LEARN_DOCS = 100  # documents of a language the screens' backgrounds are learnt from
# A translation's probability by default: deep in an archive every report meets
# other-language reports on its topic that share chance links, which the calibration
# (fitted on `match`'s candidates) overrates; docs/archive.md has the measurement.
ARCHIVE_TRANSLATION_SCORE = 0.9


@dataclass(frozen=True)
class DedupParams:
    # Nearest documents looked up per language in the whole store. Most copies and
    # translations are found among the recent documents as well; 20,000 documents
    # deduplicated against a 150,000-document store: 4 instead of 6 found 2 of 1,832
    # planted translations fewer (none of the copies) and took 12% less time (62.7 s).
    candidates: int = 4
    # Across languages the builtin document vectors are weaker (a translation's original is
    # the nearest other-language document for 87% of them, among the 6 nearest for 96%), so
    # the nearest `max_verify_translation` are always verified and the verdict decides.
    # Document-vector cosine to verify a same-language pair: 99% of planted near copies are
    # above 0.74, 99% of the unrelated candidates below 0.61 (10,000 documents); the more
    # documents, the more unrelated ones between 0.5 and 0.65 there are to verify.
    same_lang_cosine: float = 0.65
    cross_lang_cosine: float = -1.0  # ... and a pair across languages (-1: no threshold)
    max_verify: int = 3  # same-language candidates verified per document
    max_verify_translation: int = 3  # other-language candidates verified per document
    # The verdict (`aligner.verify`, as `match` and `align` give it) accepts a near copy
    # at a same-event probability of `duplicate_score` (None: the verdict's own threshold,
    # 0.5 for a calibrated encoder) and a translation at `translation_score` (None: 0.9
    # for a calibrated encoder, see `min_score`).
    duplicate_score: float | None = None
    translation_score: float | None = None
    # Pairs whose share of sentences with a strong counterpart (z > SCREEN_Z) is below
    # these are rejected without alignment. On the benchmark archive (10,000 documents)
    # 99% of true pairs are above 0.79 (same language) and 0.45 (across), while the median
    # unrelated candidate is at 0.36 and 0.23. Across languages the candidates that reach
    # the screen are the sketch-ranked best (median 0.32, 10% above 0.5): at 0.5 the screen
    # passes 60% fewer of them than at 0.4, for 6 of 745 accepted translations.
    screen_duplicate: float = 0.6
    screen_translation: float = 0.5
    # The same screen on stored sentence sketches (aligner.docvec.SKETCH_DIM dimensions),
    # used when both documents have them: 99% of true pairs are above 0.80 and 0.31. Across
    # languages the pairs between 0.31 and 0.45 are hardly ever accepted in the end: of
    # 11,521 pairs verified on 5,000 documents deduplicated against a 150,000-document
    # store, 0.45 instead of 0.3 keeps 5,404 (and 1,665 of 2,019 alignments) and 367 of
    # the 368 true translations accepted (8 of the 9 false ones).
    sketch_duplicate: float = 0.6
    sketch_translation: float = 0.45
    # ... and for an other-language candidate from the index only, i.e. older than the
    # recent documents: a translation published that much later is rare, while the deep
    # archive holds ever more reports that share a sentence or two with any document, and
    # each one verified must be re-encoded. In the run above the 3 verified per document
    # were as often such stored candidates as recent ones (5,267 of 13,500, 54 of them
    # true): at 0.5, a third as many pass, and all 54 true ones did.
    sketch_translation_stored: float = 0.5
    # The last `recent_docs` documents of each language are searched exactly (see
    # aligner.recent), and the `recent_candidates` nearest other-language ones among them
    # and the earlier chunk documents are ranked by their sketches with the stored
    # neighbours. At 100,000 documents a translation's original is among the 30 nearest
    # recent ones for 98% of translations (among the 6 nearest of the whole store: 87%);
    # at 10,000 the sketches rank it first for 93%, among the first 3 for 97%.
    recent_docs: int = 5000
    recent_candidates: int = 30
    # HNSW search breadth of the candidate search over the whole index (`index search`
    # uses the store's, 128). Dedup looks for close neighbours (a near copy is above 0.74
    # cosine), which a narrow search finds nearly as well, and recent copies and
    # translations come from the exact search above. Measured at 79,000 documents of a
    # language, 1,000 stored documents as queries: neighbours above 0.65 found 97.7% at 32
    # (0.26 s a chunk), 99.0% at 128 (0.85 s), one thread.
    ef_search: int = 32
    chunk_size: int = 1000
    workers: int = 1  # processes that verify pairs (the decisions stay in input order)
    # processes that clean and embed the next chunk while this one decides (see
    # `prepare_chunks`; 0: all in this process); only for an input of several chunks
    prepare_workers: int = 1
    # add each chunk to the FAISS indexes in a background thread (see `_IndexThread`); only
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


@dataclass
class _Pending:
    """A chunk document to decide, with what verification needs."""

    position: int
    item: ChunkItem
    doc: PreparedDocument
    vector: np.ndarray
    row: int | None  # its stored row, when it was stored before this run


class StoredCandidate:
    """A stored document found as a candidate: its id, language and sentence texts, which
    is all that ranking it by its sketches needs. Most stored candidates go no further;
    building a PreparedDocument for each (sentence objects and all) took 7% of dedup at
    300,000 documents. `_Verifier.verifiable` builds it for those that are verified."""

    def __init__(self, doc_id: str, lang: str, texts: list[str], stored: object) -> None:
        self.id = doc_id
        self.lang = lang
        self._texts = texts
        self.stored = stored  # its key among the verifier's stored documents
        # what `_key` and `_lengths` read (the raw sentence lengths weigh the ranking)
        self._dedup_key = (doc_id, hash(tuple(texts)))
        self._dedup_lengths = np.array([len(t) for t in texts], dtype=np.float64)

    def texts(self) -> list[str]:
        return self._texts


_Doc = PreparedDocument | StoredCandidate


class _Verifier:
    """Sentence-level verification, with a byte-bounded cache of what it needs per
    document: the raw sentence features of an additive encoder (a document's windows are
    sums of them; float16, about 80 KB per news document), or the window embeddings of any
    other encoder. Keys are `_key(doc)`."""

    def __init__(
        self,
        encoder: Encoder,
        centers: dict[str, np.ndarray],
        params: AlignParams,
        cache_bytes: int = _CACHE_BYTES,
    ) -> None:
        self.encoder = encoder
        # The verdict's statistics, fitted with the encoder (centres, backgrounds,
        # calibrations: never learnt from the archive). `centers` are the document space's
        # (the store's document vectors, for finding candidates).
        self.stats = encoder.statistics()
        self.centers = centers
        self.params = params
        self.additive = encoder.additive
        # centres as the verdict's; a costly encoder also encodes what the verdict needs
        # through it (each text once, and only the windows worth encoding)
        self.embedder = Embedder(encoder, self.stats)
        self.calibrated = self.stats is not None and self.stats.pair_calibration is not None
        self.cache_bytes = cache_bytes
        self.backgrounds: dict[tuple[str, str], Background] = {}
        self._cache: OrderedDict[object, np.ndarray | SideEmbeddings] = OrderedDict()
        self._cached = 0
        self._sides: OrderedDict[object, SideEmbeddings] = OrderedDict()  # recent, built
        self._single: OrderedDict[object, np.ndarray] = OrderedDict()  # their sentences
        self._docs: OrderedDict[tuple[int, str], PreparedDocument] = OrderedDict()
        self._sketches: OrderedDict[object, np.ndarray] = OrderedDict()
        self.sketch_backgrounds: dict[tuple[str, str], Background] = {}
        self.calls = 0
        self.screened = 0

    # -- the cache -------------------------------------------------------------------------
    def remember(self, key: object, value: np.ndarray | SideEmbeddings) -> None:
        if isinstance(value, np.ndarray) and (value.dtype != np.float16 or value.base is not None):
            # a copy: an array that came from the prepare worker is a view into the whole
            # chunk's message, which it would keep alive (+0.75 GiB at 30,000 documents)
            value = value.astype(np.float16)
        old = self._cache.pop(key, None)
        if old is not None:
            self._cached -= _nbytes(old)
        self._cache[key] = value
        self._cached += _nbytes(value)
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached -= _nbytes(evicted)

    def prime(self, docs: Sequence[PreparedDocument]) -> None:
        """Encode, in one batch, the sentences of the documents not in the cache."""
        if not self.additive:
            return
        missing = {_key(d): d for d in docs if _key(d) not in self._cache and d.sentences}
        texts = [t for d in missing.values() for t in d.texts()]
        features = sentence_features(texts, self.encoder)
        start = 0
        for key, doc in missing.items():
            end = start + len(doc.sentences)
            self.remember(key, features[start:end])  # (stored as a copy)
            start = end

    def _cached_value(self, key: object) -> np.ndarray | SideEmbeddings | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
        return value

    def side(self, doc: PreparedDocument) -> SideEmbeddings:
        """The document's centred window embeddings."""
        key = _key(doc)
        side = self._sides.pop(key, None)
        if side is None:
            value = self._cached_value(key)
            center = self.embedder.centre(doc.lang)
            if self.additive:
                if value is None:
                    self.prime([doc])
                    value = self._cached_value(key)
                features = (
                    _float32(value)
                    if isinstance(value, np.ndarray)
                    else np.zeros((0, self.encoder.dim), np.float32)
                )
                windows = sum_windows(features, self.params.max_group)
                side = side_from_windows(windows, doc.texts(), center)
            elif isinstance(value, SideEmbeddings):
                side = value
            else:
                side = embed_side(doc.texts(), self.encoder, self.params.max_group, center)
                self.remember(key, side)
        self._sides[key] = side
        if len(self._sides) > _RECENT_SIDES:
            self._sides.popitem(last=False)
        return side

    def sentences(self, doc: PreparedDocument) -> np.ndarray:
        """Centred sentence vectors (the one-sentence windows)."""
        if not self.additive:
            return self.embedder.sentences(doc)
        side = self._sides.get(_key(doc))
        if side is not None:
            return side.windows[0]
        key = _key(doc)
        vectors = self._single.pop(key, None)
        if vectors is None:
            value = self._cached_value(key)
            if not isinstance(value, np.ndarray):
                self.prime([doc])
                value = self._cached_value(key)
            assert isinstance(value, np.ndarray)
            vectors = recenter(
                l2_normalize(_float32(value), inplace=True), self.embedder.centre(doc.lang)
            )
        self._single[key] = vectors  # most recently used last
        if len(self._single) > _SENTENCE_VECTORS:
            self._single.popitem(last=False)
        return vectors

    def stored_documents(
        self, store: ArchiveStore, rows: dict[int, DocumentRow]
    ) -> dict[int, _Doc]:
        """Stored candidates with their sentences, kept for reuse (a candidate tends to
        come back for several later documents). New ones are `StoredCandidate`s: most
        are only ranked by their sketches and dropped; `verifiable` makes the documents
        of those that are screened and aligned."""
        keys = {row: (row, info.content_hash) for row, info in rows.items()}
        texts = store.sentence_texts([row for row, key in keys.items() if key not in self._docs])
        out = {}
        for row, key in keys.items():
            doc = self._docs.pop(key, None)
            if doc is None:
                info = rows[row]
                doc = StoredCandidate(info.id, info.lang, texts.get(row, []), key)
            self._docs[key] = out[row] = doc
        while len(self._docs) > _STORED_DOCS:
            self._docs.popitem(last=False)
        return out

    def verifiable(self, doc: _Doc) -> PreparedDocument:
        """The document of a stored candidate from `stored_documents`, with normalised
        sentences (what the screen and the alignment weigh); other documents as they are."""
        if isinstance(doc, PreparedDocument):
            return doc
        full = prepared_from_texts(doc.id, doc.lang, doc.texts())
        object.__setattr__(full, "_dedup_key", _key(doc))  # same sentences, same key
        if doc.stored in self._docs:
            self._docs[doc.stored] = full
        return full

    # -- backgrounds and scores ------------------------------------------------------------
    def learn_backgrounds(self, docs: Sequence[PreparedDocument], sample: int = 400) -> None:
        """The backgrounds of the screens, per language pair (kept for the rest of the run):
        the similarity of unrelated segments in a sample of the first chunk(s) that have
        the languages (for a costly encoder, the verdict's fitted ones), and the same for
        the sentence sketches. Screens only decide which pairs get a verdict, never what
        it is. Also the document space's language centres (for its document vectors)."""
        by_lang: dict[str, list[PreparedDocument]] = {}
        for doc in docs:
            if doc.sentences and len(by_lang.setdefault(doc.lang, [])) < sample:
                by_lang[doc.lang].append(doc)
        texts = {lang: [t for d in ds for t in d.texts()][:2000] for lang, ds in by_lang.items()}
        self.centers.update(language_centers(texts, self.encoder, self.centers))
        langs = sorted(by_lang)
        # Learnt from the archive where that is cheap (an additive encoder's windows are
        # sums of cached features), as the screens' thresholds were chosen that way (with
        # the fitted ones a quarter more pairs reached the verdict: docs/archive.md); the
        # fitted ones for a costly encoder, and below `_LEARN_DOCS` documents of a
        # language, where the sample would be mostly the pairs to be judged.
        learn = self.additive or self.stats is None
        for i, a in enumerate(langs):
            for b in langs[i:]:
                few = min(len(by_lang[a]), len(by_lang[b])) < _LEARN_DOCS
                fitted = background_for(self.stats, a, b)
                if fitted is not None and (few or not learn):
                    self.backgrounds.setdefault((a, b), fitted)
        self.prime([d for ds in by_lang.values() for d in ds])
        pools = {lang: [self.side(d) for d in ds] for lang, ds in by_lang.items()} if learn else {}
        sketches = {
            lang: [self._sketches[_key(d)] for d in ds if _key(d) in self._sketches]
            for lang, ds in by_lang.items()
        }
        for i, a in enumerate(langs):
            for b in langs[i:]:
                if (a, b) not in self.backgrounds and pools:
                    bg = window_background(pools, a, b, self.params)
                    if bg is not None:
                        self.backgrounds[(a, b)] = bg
                if (a, b) not in self.sketch_backgrounds:
                    bg = sketch_background(sketches.get(a, []), sketches.get(b, []), a == b)
                    if bg is not None:
                        self.sketch_backgrounds[(a, b)] = bg

    # -- sketches (see aligner.docvec.sentence_sketches) -----------------------------------
    def remember_sketch(self, key: object, sketch: np.ndarray) -> None:
        self._sketches.pop(key, None)
        # kept as float32: a document is a candidate of dozens of others, and converting
        # its float16 sketch each time cost more than the products it is used in
        self._sketches[key] = np.asarray(sketch, dtype=np.float32)
        while len(self._sketches) > _SKETCHES:
            self._sketches.popitem(last=False)

    def sketches_of(self, keys: Sequence[object]) -> dict[object, np.ndarray]:
        return {key: self._sketches[key] for key in keys if key in self._sketches}

    def load_sketches(self, store: ArchiveStore, docs: dict[int, _Doc]) -> None:
        """Sketches of stored candidates (rows -> their rebuilt documents), from the store."""
        missing = {row: doc for row, doc in docs.items() if _key(doc) not in self._sketches}
        for row, sketch in store.sketches(list(missing)).items():
            self.remember_sketch(_key(missing[row]), sketch)

    def sketch_screen(self, a: PreparedDocument, b: PreparedDocument, screen: float) -> bool | None:
        """Whether the pair passes the screen on sentence sketches (see `score`); None when
        a sketch or its background is missing (the caller screens on full vectors)."""
        background = self.sketch_backgrounds.get(_lang_pair(a.lang, b.lang))
        sa, sb = self._sketches.get(_key(a)), self._sketches.get(_key(b))
        if background is None or sa is None or sb is None:
            return None
        return sentence_coverage(sa, a, sb, b, background, SCREEN_Z) >= screen

    def sketch_coverages(self, a: PreparedDocument, others: Sequence[_Doc]) -> list[float | None]:
        """`sketch_screen`'s coverage of a against each of `others`, batched per language;
        None where a sketch or its background is missing."""
        out: list[float | None] = [None] * len(others)
        sa = self._sketches.get(_key(a))
        if sa is None or not others:
            return out
        len_a = _lengths(a)
        by_lang: dict[str, list[int]] = {}
        for i, b in enumerate(others):
            if _key(b) in self._sketches:
                by_lang.setdefault(b.lang, []).append(i)
        for lang, positions in by_lang.items():
            background = self.sketch_backgrounds.get(_lang_pair(a.lang, lang))
            if background is None:
                continue
            pairs = [(self._sketches[_key(others[i])], _lengths(others[i])) for i in positions]
            values = coverage_many(sa, len_a, pairs, background, SCREEN_Z)
            for i, value in zip(positions, values):
                out[i] = float(value)
        return out

    def score(
        self,
        a: PreparedDocument,
        b: PreparedDocument,
        screen: float = 0.0,
        min_score: float | None = None,
    ) -> float:
        """`verify`, or 0.0 without a verdict when a quick sentence-level screen (the share
        of both documents whose sentences have a strong counterpart, see
        `sentence_coverage`) is below `screen`."""
        background = self.backgrounds.get(_lang_pair(a.lang, b.lang))
        if background is not None and screen > 0:
            coverage = sentence_coverage(
                self.sentences(a), a, self.sentences(b), b, background, SCREEN_Z
            )
            if coverage < screen:
                self.screened += 1
                return 0.0
        return self.verify(a, b, min_score)

    def verify(
        self, a: PreparedDocument, b: PreparedDocument, min_score: float | None = None
    ) -> float:
        """The verdict on a and b (`aligner.verify`, no screen): its score when it accepts
        the pair at `min_score`, else 0.0."""
        self.calls += 1
        if not a.sentences or not b.sentences:
            return 0.0
        params = VerifyParams(min_score=min_score)
        if self.additive:  # the windows from cached features
            sides = self.side(a), self.side(b)
            pair = verdict_of_sides(a, b, *sides, self.stats, self.params, params)
        else:
            pair = verify_pair(a, b, self.embedder, self.params, params)
        return pair.score if pair.verdict.accepted else 0.0


class _IndexThread:
    """Adds each chunk's document vectors to the FAISS indexes in a background thread
    while the next chunk is decided (FAISS releases the GIL), instead of inside the commit:
    at 75,000 documents a language an HNSW insertion costs about 0.45 ms, an eighth of the
    decision's time. The next chunk's search therefore runs before the previous chunk is
    in the index; that chunk's documents are found by the exact search over the recent
    documents (see aligner.recent), which is why `dedup` only uses this thread when the
    recent window holds at least two chunks."""

    def __init__(self, store: ArchiveStore) -> None:
        import concurrent.futures

        self.store = store
        # OpenMP's thread count is per thread: `single_threaded_faiss` in the main thread
        # does not reach this one, whose HNSW insertions ran on two OpenMP threads (a
        # spinning one among them) against the verification and the prepare worker for the
        # same two cores (measured with perf: 30% of dedup's CPU time)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, "aligner-faiss", initializer=faiss.omp_set_num_threads, initargs=(1,)
        )
        self._job: Any = None

    def wait(self) -> None:
        """Until the background additions are done (before searching or saving)."""
        if self._job is not None:
            job, self._job = self._job, None
            job.result()  # re-raises what went wrong there

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) in the index thread once the additions are done (a future)."""
        self.wait()
        return self._executor.submit(fn, *args)

    def start(self) -> None:
        """Apply the additions deferred by the last commits, in the background."""
        self.wait()
        work = self.store.take_index_work()
        if work is not None:
            self._job = self._executor.submit(work)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._executor.shutdown()


_FP16_DECODERS: dict[int, faiss.IndexScalarQuantizer] = {}


def _float32(value: np.ndarray) -> np.ndarray:
    """A float32 copy of cached features. FAISS's float16 decoder gives the same values
    as numpy's `astype` in a third less time (a verification converts thousands of these)."""
    if value.dtype != np.float16 or value.ndim != 2 or not len(value):
        return value.astype(np.float32)
    dim = value.shape[1]
    decoder = _FP16_DECODERS.get(dim)
    if decoder is None:
        decoder = _FP16_DECODERS[dim] = faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16
        )
    return decoder.sa_decode(np.ascontiguousarray(value).view(np.uint8))


def _nbytes(value: np.ndarray | SideEmbeddings) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    return sum(w.nbytes for w in value.windows)


def dedup(
    inputs: Sequence[str | Path],
    store: ArchiveStore,
    encoder: Encoder,
    out: IO[str],
    params: DedupParams | None = None,
    align_params: AlignParams | None = None,
    show_progress: bool = True,
    cache_every_s: float = 120.0,
) -> DedupStats:
    """Deduplicate the inputs against the store and each other; write one clusters.tsv row
    per input document to `out`; store every document with its assignment."""
    params = params or DedupParams()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CLUSTER_COLUMNS)
    stats = DedupStats()
    space = store.doc_space()
    align_params = align_params or AlignParams()
    # one dict of sentence-encoder centres for document vectors and verification alike
    verifier = _Verifier(encoder, space.sentence_centers, align_params)
    pool = PoolScorer(params.workers, encoder, align_params) if params.workers > 1 else None
    window: RecentWindow[tuple[PreparedDocument, Assignment]] = RecentWindow(params.recent_docs)
    scorer: _Scorer = pool or score_serial
    run = new_run_id()
    # Indexing in the background needs the recent window to cover a chunk (see _IndexThread).
    background = params.index_in_background and params.recent_docs >= 2 * params.chunk_size
    index = _IndexThread(store) if background else None
    keep_heap()
    with (
        single_threaded_blas(),
        single_threaded_faiss(),
        fewer_collections(),
        Progress("dedup", input_size(inputs), show_progress) as progress,
        contextlib.closing(pool) if pool else contextlib.nullcontext(),
        contextlib.closing(index) if index else contextlib.nullcontext(),
    ):
        chunks = read_chunks(inputs, first_chunk(space, params.chunk_size))
        prepared = prepare_chunks(
            chunks, store, encoder, space, run, verifier.additive, params.prepare_workers
        )
        for items, nbytes in prepared:
            for item in items:  # the features embedding computed: verification reuses them
                if item.features is not None and item.prepared is not None:
                    verifier.remember(_key(item.prepared), item.features)
                    item.features = None
                if item.sketch is not None and item.prepared is not None:
                    verifier.remember_sketch(_key(item.prepared), item.sketch)
            decided, exact = _decide_chunk(items, store, verifier, params, scorer, window, index)
            docs, updates = [], []
            for item, a in zip(items, decided):
                fields = {
                    "cluster_id": a.cluster_id,
                    "role": a.role,
                    "score": a.score,
                    "matched_doc": a.matched_doc,
                    "run": run,
                }
                if item.changed:
                    docs.append(stored_document(item, **fields))
                elif item.existing is not None:
                    updates.append((item.existing.row, *fields.values()))
            store.commit(docs, space=space, assignments=updates, defer_index=index is not None)
            for a, is_exact in zip(decided, exact):
                writer.writerow(
                    [a.doc_id, a.cluster_id, a.lang, a.role, f"{a.score:.4f}", a.matched_doc]
                )
                stats.count(a, is_exact)
            progress.advance(nbytes, len(items))
            if store.cache_save_due(cache_every_s):
                if index is not None:
                    index.wait()
                store.save_caches()
        if index is not None:
            index.wait()
        store.save_caches()
        stats.seconds = progress.elapsed
    stats.verified = verifier.calls
    stats.screened = verifier.screened
    return stats


def _stored_assignment(row: DocumentRow) -> Assignment:
    return Assignment(
        row.id,
        row.cluster_id or row.id,
        row.lang,
        row.role or CANONICAL,
        float(row.score if row.score is not None else 1.0),
        row.matched_doc or "",
    )


def _decide_chunk(
    items: list[ChunkItem],
    store: ArchiveStore,
    verifier: _Verifier,
    params: DedupParams,
    scorer: _Scorer,
    window: RecentWindow[tuple[PreparedDocument, Assignment]] | None = None,
    index: _IndexThread | None = None,
) -> tuple[list[Assignment], list[bool]]:
    """Assign every item of a chunk, in order (see the module documentation).

    The pairs to verify do not depend on earlier decisions (only the cluster a match
    belongs to does), so they are all scored first, in parallel with `scorer`, and the
    decisions are then taken in input order."""
    decided: list[Assignment | None] = [None] * len(items)
    exact = [False] * len(items)
    # Stored documents that already have an assignment (from an earlier dedup) keep it; a
    # stored one that others were already attached to stays their canonical.
    unassigned = [i.existing for i in items if not i.changed and i.existing]
    heads = store.heads([row.id for row in unassigned if row.cluster_id is None])
    reload_rows = []
    for position, item in enumerate(items):
        old = item.existing
        if not item.changed and old is not None:
            if old.cluster_id is not None or old.id in heads:
                decided[position] = _stored_assignment(old)
                continue
            reload_rows.append(old.row)
    texts = store.sentence_texts(reload_rows)
    vectors = store.vectors_for(reload_rows)
    pending: list[_Pending] = []
    for position, item in enumerate(items):
        if decided[position] is not None:
            continue
        if item.changed:
            assert item.prepared is not None and item.vector is not None
            pending.append(_Pending(position, item, item.prepared, item.vector, None))
        else:
            assert item.existing is not None
            row = item.existing.row
            doc = prepared_from_texts(item.doc.id, item.existing.lang, texts.get(row, []))
            pending.append(_Pending(position, item, doc, vectors[row], row))
    if not pending:
        return [a for a in decided if a is not None], exact
    langs = sorted({p.doc.lang for p in pending})
    if any((a, b) not in verifier.backgrounds for a in langs for b in langs if a <= b):
        verifier.learn_backgrounds([p.doc for p in pending])

    # Rows of this chunk's documents (re-processed ones, or the old version of an updated
    # one) are never candidates from the store: earlier chunk documents come from `within`.
    chunk_rows = {p.item.existing.row for p in pending if p.item.existing is not None}
    matrix = np.stack([p.vector for p in pending]).astype(np.float32)
    # The index search and the exact search of the recent documents run in the index
    # thread while this one looks for exact copies; then the last chunk is added to the
    # index there.
    pending_langs = np.array([p.doc.lang for p in pending], dtype=object)
    searching = _in_index_thread(
        index, _store_candidates, matrix, pending, store, chunk_rows, params
    )
    recent = _in_index_thread(
        index, _recent_candidates, matrix, pending_langs.tolist(), window, params
    )
    by_body = store.lookup_hashes("body_hash", [p.item.body_hash for p in pending])
    by_content = store.lookup_hashes("content_hash", [p.item.content_hash for p in pending])
    within = matrix @ matrix.T
    has_text = np.array([bool(p.doc.sentences) for p in pending])

    # 1. exact copies: of an earlier chunk document, or of a stored one
    copy_of: dict[int, tuple[str, object]] = {}
    chunk_hash: dict[str, int] = {}
    for k, p in enumerate(pending):
        earlier = chunk_hash.get(p.item.content_hash)
        if earlier is None and p.doc.sentences:
            earlier = chunk_hash.get(p.item.body_hash)
        if earlier is not None:
            copy_of[k] = ("c", earlier)
        else:
            other = by_content.get(p.item.content_hash) or (
                by_body.get(p.item.body_hash) if p.doc.sentences else None
            )
            if other is not None and other.row not in chunk_rows:
                copy_of[k] = ("s", other)
        chunk_hash.setdefault(p.item.content_hash, k)
        if p.doc.sentences:
            chunk_hash.setdefault(p.item.body_hash, k)

    # 2./3. the candidates to verify: earlier chunk documents, recent ones (see
    # aligner.recent; both carry their decisions) and stored neighbours
    recent_hits = recent.result()
    store_hits = searching.result()
    if index is not None:
        index.start()  # the last chunk's vectors, while this one is decided
    candidate_rows = sorted({row for hits in store_hits for _, row, _ in hits})
    rows_info = store.lookup_rows(candidate_rows)
    stored_docs = verifier.stored_documents(store, rows_info)
    verifier.load_sketches(store, stored_docs)
    plans: dict[int, list[tuple[bool, float, object]]] = {}  # k -> (same, cosine, source)
    jobs: list[tuple[PreparedDocument, list[tuple[PreparedDocument, float]]]] = []
    for k, p in enumerate(pending):
        if k in copy_of or not p.doc.sentences:
            continue
        lang = p.doc.lang
        same = pending_langs[:k] == lang
        limits = np.where(same, params.same_lang_cosine, params.cross_lang_cosine)
        earlier = np.nonzero((within[k, :k] >= limits) & has_text[:k])[0]
        cross = earlier[~same[earlier]]
        if len(cross) > params.recent_candidates:  # only the nearest are kept below
            top = np.argpartition(-within[k, cross], params.recent_candidates - 1)
            earlier = np.concatenate(
                [earlier[same[earlier]], cross[top[: params.recent_candidates]]]
            )
        near: list[_Candidate] = [
            (bool(same[j]), float(within[k, j]), ("c", int(j)), pending[j].doc)
            for j in np.sort(earlier)
        ]
        near += [
            (doc.lang == lang, cosine, ("w", a), doc)
            for cosine, (doc, a) in recent_hits[k]
            if cosine >= (params.same_lang_cosine if doc.lang == lang else params.cross_lang_cosine)
        ]
        same_near = [c for c in near if c[0]]
        cross_near = sorted((c for c in near if not c[0]), key=lambda c: -c[1])
        cands = same_near + cross_near[: params.recent_candidates]
        seen = {c[3].id for c in cands}
        for cosine, row, _ in store_hits[k]:
            info = rows_info.get(row)
            if info is not None and info.id not in seen:
                cands.append((info.lang == lang, cosine, ("s", info), stored_docs[row]))
                seen.add(info.id)
        same_group = sorted((c for c in cands if c[0]), key=lambda c: -c[1])
        chosen = same_group[: params.max_verify]
        chosen += _rank_translations(p.doc, [c for c in cands if not c[0]], verifier, params)
        plans[k] = [(c[0], c[1], c[2]) for c in chosen]
        jobs.append((p.doc, [(verifier.verifiable(c[3]), c[0]) for c in chosen]))
    scores = iter(scorer(jobs, verifier, params))

    for k, p in enumerate(pending):
        lang = p.doc.lang
        choice: Assignment | None = None
        if k in copy_of:
            where, what = copy_of[k]
            exact[p.position] = True
            if where == "c":
                a = decided[pending[what].position]  # type: ignore[index]
                assert a is not None
                choice = Assignment(p.item.doc.id, a.cluster_id, lang, DUPLICATE, 1.0, a.doc_id)
            else:
                other: DocumentRow = what  # type: ignore[assignment]
                cluster = other.cluster_id or other.id
                choice = Assignment(p.item.doc.id, cluster, lang, DUPLICATE, 1.0, other.id)
        elif k in plans:
            choice = _choose(p, plans[k], next(scores), pending, decided)
        if choice is None:
            choice = Assignment(p.item.doc.id, p.item.doc.id, lang, CANONICAL, 1.0, "")
        decided[p.position] = choice
    if window is not None:
        for p in pending:
            a = decided[p.position]
            if p.doc.sentences and a is not None:
                window.add(p.doc.lang, p.vector, (p.doc, a))
    return [a for a in decided if a is not None], exact


_Candidate = tuple[bool, float, tuple[str, Any], _Doc]  # same, cosine, source, doc


def _recent_candidates(
    matrix: np.ndarray,
    langs: Sequence[str],
    window: RecentWindow[tuple[PreparedDocument, Assignment]] | None,
    params: DedupParams,
) -> list[list[tuple[float, tuple[PreparedDocument, Assignment]]]]:
    """Per pending document (vectors in `matrix`, languages in `langs`): its nearest recent
    documents of every language."""
    hits: list[list[tuple[float, tuple[PreparedDocument, Assignment]]]] = [[] for _ in matrix]
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


def _rank_translations(
    doc: PreparedDocument, cands: list[_Candidate], verifier: _Verifier, params: DedupParams
) -> list[_Candidate]:
    """The other-language candidates worth verifying, best first: those whose sentence
    sketches pass the screen, by sketch coverage (a far better pair signal than the
    document cosine), then those without sketches, by cosine. Candidates from the index
    alone (older than the recent window) must pass a stricter screen."""
    coverages = verifier.sketch_coverages(doc, [c[3] for c in cands])
    sketched = [(cov, c) for c, cov in zip(cands, coverages) if cov is not None]
    stored = params.sketch_translation_stored
    passed = [
        (cov, c)
        for cov, c in sketched
        if cov >= (stored if c[2][0] == "s" else params.sketch_translation)
    ]
    verifier.screened += len(sketched) - len(passed)
    passed.sort(key=lambda pair: -pair[0])
    unsketched = sorted((c for c, cov in zip(cands, coverages) if cov is None), key=lambda c: -c[1])
    return ([c for _, c in passed] + unsketched)[: params.max_verify_translation]


def _choose(
    p: _Pending,
    plan: list[tuple[bool, float, object]],
    scores: list[float],
    pending: list[_Pending],
    decided: list[Assignment | None],
) -> Assignment | None:
    """The best accepted candidate (scored above 0): a same-language near copy first, then
    a translation."""
    for same, role in ((True, DUPLICATE), (False, TRANSLATION)):
        best = max(
            ((score, source) for (kind, _, source), score in zip(plan, scores) if kind == same),
            key=lambda pair: pair[0],
            default=None,
        )
        if best is None or best[0] <= 0.0:
            continue
        where, what = best[1]  # type: ignore[misc]
        if where == "c":
            a = decided[pending[what].position]
            assert a is not None
            cluster, matched = a.cluster_id, a.doc_id
        elif where == "w":
            cluster, matched = what.cluster_id, what.doc_id
        else:
            cluster, matched = what.cluster_id or what.id, what.id
        return Assignment(p.item.doc.id, cluster, p.doc.lang, role, round(best[0], 4), matched)
    return None


def _in_index_thread(index: _IndexThread | None, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) as a future: run by the index thread, or here and now."""
    import concurrent.futures

    if index is not None:
        return index.submit(fn, *args)
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    done.set_result(fn(*args))
    return done


def _store_candidates(
    matrix: np.ndarray,
    pending: list[_Pending],
    store: ArchiveStore,
    chunk_rows: set[int],
    params: DedupParams,
) -> list[list[tuple[float, int, str]]]:
    """Per pending document: (cosine, row, lang) of stored neighbours above the cosine
    thresholds, `params.candidates` per language."""
    hits: list[list[tuple[float, int, str]]] = [[] for _ in pending]
    langs = np.array([p.doc.lang for p in pending], dtype=object)
    for lang in store.search_languages():
        # rows of this chunk are in the index too (re-processed documents): ask for more
        k = params.candidates + min(len(chunk_rows), 20)
        scores, rows = store.search(matrix, lang, k, ef_search=params.ef_search)
        same = langs == lang
        for i in range(len(pending)):
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


# -- scoring the planned pairs: in this process, or in worker processes -------------------
_Jobs = list[tuple[PreparedDocument, list[tuple[PreparedDocument, bool]]]]  # (other, same)
_Scorer = Callable[[_Jobs, "_Verifier", DedupParams], list[list[float]]]


def score_serial(jobs: _Jobs, verifier: _Verifier, params: DedupParams) -> list[list[float]]:
    """The verdicts' scores of each document's candidates (same language first, then the
    others; each kind best first). Pairs are screened on stored sentence sketches first,
    so that only the documents of pairs that pass are encoded, then on full sentence
    vectors (a finer screen), then judged. Verification stops where the decision is made:
    after a same-language candidate is accepted (a near copy is preferred to a
    translation), and after an other-language one is; the candidates not verified or not
    accepted score 0."""
    passed: list[list[bool | None]] = [
        [
            verifier.sketch_screen(
                doc, other, params.sketch_duplicate if same else params.sketch_translation
            )
            for other, same in cands
        ]
        for doc, cands in jobs
    ]
    needed: dict[object, PreparedDocument] = {}
    for (doc, cands), flags in zip(jobs, passed):
        for (other, _), flag in zip(cands, flags):
            if flag is not False:
                needed[_key(doc)] = doc
                needed[_key(other)] = other
    verifier.prime(list(needed.values()))
    out = []
    for (doc, cands), flags in zip(jobs, passed):
        scores, done = [], {True: False, False: False}
        for (other, same), flag in zip(cands, flags):
            if done[True] or done[same]:
                scores.append(0.0)
                continue
            if flag is False:
                verifier.screened += 1
                score = 0.0
            else:  # passed on sketches (or has none): the full-vector screen, then the verdict
                screen = params.screen_duplicate if same else params.screen_translation
                min_score = params.min_score(same, verifier.calibrated)
                score = verifier.score(doc, other, screen, min_score)
            done[same] = score > 0.0
            scores.append(score)
        out.append(scores)
    return out


def _lang_pair(a: str, b: str) -> tuple[str, str]:
    """The key of a language pair's backgrounds (either order)."""
    return (a, b) if a <= b else (b, a)


def _key(doc: _Doc) -> tuple[str, int]:
    # ids are unique within a run, but an updated document shares its id with the stored
    # old version: the sentences tell them apart. Kept on the (frozen) document: it is
    # asked for many times per pair.
    key = doc.__dict__.get("_dedup_key")
    if key is None:
        key = (doc.id, hash(tuple(doc.texts())))
        object.__setattr__(doc, "_dedup_key", key)
    return key  # type: ignore[no-any-return]


def _lengths(doc: _Doc) -> np.ndarray:
    lengths = doc.__dict__.get("_dedup_lengths")  # kept on the document, as `_key`
    if lengths is None:
        lengths = sentence_lengths(doc)
        object.__setattr__(doc, "_dedup_lengths", lengths)
    return lengths  # type: ignore[no-any-return]


_WORKER: _Verifier | None = None


def _worker_init(encoder: Encoder, params: AlignParams) -> None:
    global _WORKER
    init_worker()
    _WORKER = _Verifier(encoder, {}, params)


_Batch = tuple[
    dict[str, np.ndarray],  # sentence-encoder centres
    dict[tuple[str, str], Background],  # window backgrounds
    dict[tuple[str, str], Background],  # sketch backgrounds
    dict[object, np.ndarray],  # the batch documents' sketches, by `_key`
    _Jobs,
    DedupParams,
]


def _worker_score(batch: _Batch) -> tuple[list[list[float]], int, int]:
    centers, backgrounds, sketch_backgrounds, sketches, jobs, params = batch
    assert _WORKER is not None
    _WORKER.centers, _WORKER.backgrounds = centers, backgrounds
    _WORKER.sketch_backgrounds = sketch_backgrounds
    for key, sketch in sketches.items():
        _WORKER.remember_sketch(key, sketch)
    before = (_WORKER.calls, _WORKER.screened)
    out = score_serial(jobs, _WORKER, params)
    return out, _WORKER.calls - before[0], _WORKER.screened - before[1]


class PoolScorer:
    """Scores the planned pairs in `workers` processes (spawned: no FAISS/OpenMP state is
    inherited), with the same screens and scores as `score_serial`. Batches smaller than
    `serial_below` jobs go through the calling process."""

    serial_below = 64

    def __init__(self, workers: int, encoder: Encoder, params: AlignParams) -> None:
        self.workers = workers
        self.encoder = encoder
        self.params = params
        self._pool: Any = None

    def __call__(self, jobs: _Jobs, verifier: _Verifier, params: DedupParams) -> list[list[float]]:
        if len(jobs) < self.serial_below:
            return score_serial(jobs, verifier, params)
        if self._pool is None:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(
                self.workers, initializer=_worker_init, initargs=(self.encoder, self.params)
            )
        size = max(1, len(jobs) // (4 * self.workers))
        batches = []
        for i in range(0, len(jobs), size):
            part = jobs[i : i + size]
            # Keys are computed here and travel with the documents (a worker's str hashes
            # differ), so that the sketches sent along are found under them.
            docs = [d for doc, cands in part for d in (doc, *(c for c, _ in cands))]
            sketches = verifier.sketches_of([_key(d) for d in docs])
            batches.append(
                (verifier.centers, verifier.backgrounds, verifier.sketch_backgrounds,
                 sketches, part, params)
            )  # fmt: skip
        out: list[list[float]] = []
        for scores, calls, screened in self._pool.imap(_worker_score, batches):
            out.extend(scores)
            verifier.calls += calls
            verifier.screened += screened
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


def write_kept(
    inputs: Sequence[str | Path], store: ArchiveStore, out: IO[str], show_progress: bool = True
) -> int:
    """Write the inputs' canonical documents (one per cluster) as JSONL: a JSONL input
    line is copied as it was, so every field of the record is kept byte for byte."""
    kept = 0
    with Progress("writing kept", input_size(inputs), show_progress) as progress:
        for chunk, nbytes in read_chunks(inputs, 1000):
            progress.advance(nbytes, len(chunk))
            found = store.lookup_ids([doc.id for doc, _ in chunk])
            for doc, line in chunk:
                row = found.get(doc.id)
                if row is not None and (row.role or CANONICAL) == CANONICAL:
                    out.write(
                        (line or json.dumps(document_to_record(doc), ensure_ascii=False)) + "\n"
                    )
                    kept += 1
    return kept
