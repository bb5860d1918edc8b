"""Verification of dedup's candidate pairs: the screens, then the one verdict.

A `Verifier` keeps what verification needs per document in caches (`aligner.cache`): the
raw sentence features of an additive encoder (a document's windows are sums of them), or
the window embeddings of any other encoder, the stored candidates rebuilt from their
sentences, and sentence sketches. It screens a pair on sketches and sentence vectors (the
screens only decide which pairs get a verdict) and asks `aligner.verify` for the verdict,
with the encoder's fitted statistics: a pair gets the same score here as alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from aligner.alignment import (
    AlignParams,
    Background,
    SideEmbeddings,
    embed_side,
    side_from_windows,
)
from aligner.cache import LRUCache
from aligner.dedup.screens import (
    coverage_many,
    sentence_coverage,
    sketch_background,
    window_background,
)
from aligner.docvec import language_centers, prepared_from_texts, sentence_features
from aligner.embedding import Embedder, recenter
from aligner.encoders.base import Encoder, l2_normalize, sum_windows
from aligner.store import ArchiveStore, DocumentRow
from aligner.types import PreparedDocument
from aligner.verify import VerifyParams, background_for, verdict_of_sides, verify_pair

# What verification keeps per document (see `Verifier`): copies and translations tend to
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


class StoredCandidate:
    """A stored document found as a candidate: its id, language and sentence texts, which
    is all that ranking it by its sketches needs. Most stored candidates go no further;
    building a PreparedDocument for each (sentence objects and all) took 7% of dedup at
    300,000 documents. `Verifier.verifiable` builds it for those that are verified."""

    def __init__(self, doc_id: str, lang: str, texts: list[str], stored: object) -> None:
        self.id = doc_id
        self.lang = lang
        self._texts = texts
        self.stored = stored  # its key among the verifier's stored documents
        # as a PreparedDocument's (here the raw sentence lengths weigh the ranking)
        self.fingerprint = (doc_id, hash(tuple(texts)))
        self.sentence_lengths = np.array([len(t) for t in texts], dtype=np.float64)

    def texts(self) -> list[str]:
        return self._texts


Doc = PreparedDocument | StoredCandidate


class Verifier:
    """Sentence-level verification, with a byte-bounded cache of what it needs per
    document: the raw sentence features of an additive encoder (a document's windows are
    sums of them; float16, about 80 KB per news document), or the window embeddings of any
    other encoder. Keys are `doc_key(doc)`."""

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
        # per document (by `doc_key`): features or window embeddings, bounded in bytes ...
        self._cache: LRUCache[object, np.ndarray | SideEmbeddings] = LRUCache(
            max_bytes=cache_bytes, size=lambda key, value: _nbytes(value)
        )
        # ... the window embeddings of the most recent ones, built ...
        self._sides: LRUCache[object, SideEmbeddings] = LRUCache(_RECENT_SIDES)
        self._single: LRUCache[object, np.ndarray] = LRUCache(_SENTENCE_VECTORS)  # sentences
        # stored candidates (by row and content hash), and sentence sketches
        self._docs: LRUCache[object, Doc] = LRUCache(_STORED_DOCS)
        self._sketches: LRUCache[object, np.ndarray] = LRUCache(_SKETCHES)
        self.sketch_backgrounds: dict[tuple[str, str], Background] = {}
        self.calls = 0
        self.screened = 0

    # -- the cache -------------------------------------------------------------------------
    def remember(self, key: object, value: np.ndarray | SideEmbeddings) -> None:
        if isinstance(value, np.ndarray) and (value.dtype != np.float16 or value.base is not None):
            # a copy: an array that came from the prepare worker is a view into the whole
            # chunk's message, which it would keep alive (+0.75 GiB at 30,000 documents)
            value = value.astype(np.float16)
        self._cache.put(key, value)

    def prime(self, docs: Sequence[PreparedDocument]) -> None:
        """Encode, in one batch, the sentences of the documents not in the cache."""
        if not self.additive:
            return
        missing = {doc_key(d): d for d in docs if doc_key(d) not in self._cache and d.sentences}
        texts = [t for d in missing.values() for t in d.texts()]
        features = sentence_features(texts, self.encoder)
        start = 0
        for key, doc in missing.items():
            end = start + len(doc.sentences)
            self.remember(key, features[start:end])  # (stored as a copy)
            start = end

    def _cached_value(self, key: object) -> np.ndarray | SideEmbeddings | None:
        return self._cache.get(key)

    def side(self, doc: PreparedDocument) -> SideEmbeddings:
        """The document's centred window embeddings."""
        key = doc_key(doc)
        side = self._sides.get(key)
        if side is None:
            value = self._cached_value(key)
            center = self.embedder.centre(doc.lang)
            if self.additive:
                if value is None:
                    self.prime([doc])
                    value = self._cached_value(key)
                features = (
                    float32_of(value)
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
        self._sides.put(key, side)
        return side

    def sentences(self, doc: PreparedDocument) -> np.ndarray:
        """Centred sentence vectors (the one-sentence windows)."""
        if not self.additive:
            return self.embedder.sentences(doc)
        side = self._sides.peek(doc_key(doc))
        if side is not None:
            return side.windows[0]
        key = doc_key(doc)
        vectors = self._single.get(key)
        if vectors is None:
            value = self._cached_value(key)
            if not isinstance(value, np.ndarray):
                self.prime([doc])
                value = self._cached_value(key)
            assert isinstance(value, np.ndarray)
            vectors = recenter(
                l2_normalize(float32_of(value), inplace=True), self.embedder.centre(doc.lang)
            )
        self._single.put(key, vectors)
        return vectors

    def stored_documents(self, store: ArchiveStore, rows: dict[int, DocumentRow]) -> dict[int, Doc]:
        """Stored candidates with their sentences, kept for reuse (a candidate tends to
        come back for several later documents). New ones are `StoredCandidate`s: most
        are only ranked by their sketches and dropped; `verifiable` makes the documents
        of those that are screened and aligned."""
        keys = {row: (row, info.content_hash) for row, info in rows.items()}
        texts = store.sentence_texts([row for row, key in keys.items() if key not in self._docs])
        out = {}
        for row, key in keys.items():
            doc = self._docs.get(key)
            if doc is None:
                info = rows[row]
                doc = StoredCandidate(info.id, info.lang, texts.get(row, []), key)
            # trimmed once all are in: the texts read above are only of those missing
            self._docs.put(key, doc, trim=False)
            out[row] = doc
        self._docs.trim()
        return out

    def verifiable(self, doc: Doc) -> PreparedDocument:
        """The document of a stored candidate from `stored_documents`, with normalised
        sentences (what the screen and the alignment weigh); other documents as they are."""
        if isinstance(doc, PreparedDocument):
            return doc
        full = prepared_from_texts(doc.id, doc.lang, doc.texts())
        if doc.stored in self._docs:
            self._docs.put(doc.stored, full)
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
            lang: [s for d in ds if (s := self._sketches.peek(doc_key(d))) is not None]
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
        # kept as float32: a document is a candidate of dozens of others, and converting
        # its float16 sketch each time cost more than the products it is used in
        self._sketches.put(key, np.asarray(sketch, dtype=np.float32))

    def features_of(self, keys: Sequence[object]) -> dict[object, np.ndarray]:
        """The cached sentence features (float16) of those of `keys` that have them."""
        found = ((key, self._cache.peek(key)) for key in keys)
        return {key: value for key, value in found if isinstance(value, np.ndarray)}

    def sketches_of(self, keys: Sequence[object]) -> dict[object, np.ndarray]:
        found = ((key, self._sketches.peek(key)) for key in keys)
        return {key: sketch for key, sketch in found if sketch is not None}

    def load_sketches(self, store: ArchiveStore, docs: dict[int, Doc]) -> None:
        """Sketches of stored candidates (rows -> their rebuilt documents), from the store."""
        missing = {row: doc for row, doc in docs.items() if doc_key(doc) not in self._sketches}
        for row, sketch in store.sketches(list(missing)).items():
            self.remember_sketch(doc_key(missing[row]), sketch)

    def sketch_screen(self, a: PreparedDocument, b: PreparedDocument, screen: float) -> bool | None:
        """Whether the pair passes the screen on sentence sketches (see `score`); None when
        a sketch or its background is missing (the caller screens on full vectors)."""
        background = self.sketch_backgrounds.get(_lang_pair(a.lang, b.lang))
        sa, sb = self._sketches.peek(doc_key(a)), self._sketches.peek(doc_key(b))
        if background is None or sa is None or sb is None:
            return None
        return sentence_coverage(sa, a, sb, b, background, SCREEN_Z) >= screen

    def sketch_coverages(self, a: PreparedDocument, others: Sequence[Doc]) -> list[float | None]:
        """`sketch_screen`'s coverage of a against each of `others`, batched per language;
        None where a sketch or its background is missing."""
        out: list[float | None] = [None] * len(others)
        sa = self._sketches.peek(doc_key(a))
        if sa is None or not others:
            return out
        len_a = a.sentence_lengths
        by_lang: dict[str, list[int]] = {}
        for i, b in enumerate(others):
            if doc_key(b) in self._sketches:
                by_lang.setdefault(b.lang, []).append(i)
        for lang, positions in by_lang.items():
            background = self.sketch_backgrounds.get(_lang_pair(a.lang, lang))
            if background is None:
                continue
            pairs = [
                (self._sketches.peek(doc_key(others[i])), others[i].sentence_lengths)
                for i in positions
            ]
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


_FP16_DECODERS: dict[int, faiss.IndexScalarQuantizer] = {}


def float32_of(value: np.ndarray) -> np.ndarray:
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


def _lang_pair(a: str, b: str) -> tuple[str, str]:
    """The key of a language pair's backgrounds (either order)."""
    return (a, b) if a <= b else (b, a)


def doc_key(doc: Doc) -> tuple[str, int]:
    """What the caches know a document by: ids are unique within a run, but an updated
    document shares its id with its stored old version, and the sentences tell them apart
    (`PreparedDocument.fingerprint`)."""
    return doc.fingerprint
