"""The Python API: what the command line does, as functions.

import aligner
docs = aligner.load_documents(["fixtures/seeds"])
result = aligner.match(docs)
for pair in result.pairs:
    print(pair.src.id, pair.tgt.id, pair.score)
aligner.write_parallel_tsv(result.alignments, "parallel.tsv")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aligner.alignment import AlignParams
from aligner.cluster.settings import RaySettings
from aligner.dedup.params import DedupParams
from aligner.embedding import Embedder
from aligner.encoders import Encoder, default_model, load_encoder
from aligner.errors import IndexError_
from aligner.langid import language_script
from aligner.match import MatchParams, language_pairs, match_documents
from aligner.prepare import prepare_document, prepare_documents
from aligner.readers import STRICT, ReadOptions, Warn, read_documents
from aligner.resources import check_embedding_memory
from aligner.runtime import single_threaded_blas
from aligner.types import Alignment, Document, DocumentPair, PreparedDocument
from aligner.verify import VerifyParams, verify_pair


@dataclass(frozen=True)
class MatchResult:
    documents: list[PreparedDocument]
    pairs: list[DocumentPair]
    # verified candidates that were not matched, each with its verdict (for the review page)
    rejected: list[DocumentPair] = field(default_factory=list, compare=False, repr=False)
    # the run's embeddings, for the review page's similarity heatmap
    embedder: Embedder | None = field(default=None, compare=False, repr=False)

    @property
    def alignments(self) -> list[Alignment]:
        return [pair.alignment for pair in self.pairs]


def load_documents(
    inputs: Iterable[str | Path], skip_bad: bool = False, warn: Warn | None = None
) -> list[Document]:
    """Read files, folders, JSONL, CSV/TSV (see `aligner.readers`). A bad file or record
    raises `InputError`, or with `skip_bad` is skipped and reported through `warn` (default:
    the "aligner" logger)."""
    options = ReadOptions(skip_bad=skip_bad, **({"warn": warn} if warn else {}))
    return read_documents(inputs, options)


def _as_encoder(encoder: Encoder | str | None) -> Encoder:
    if isinstance(encoder, Encoder):
        return encoder
    return load_encoder(encoder or default_model(), warn=STRICT.warn)


def _as_prepared(docs: Sequence[Document | PreparedDocument]) -> list[PreparedDocument]:
    """Documents prepared here; a given language their text contradicts is logged (the
    "aligner" logger), as `prepare_documents(docs, warn=...)` reports it."""
    fresh = iter(prepare_documents([d for d in docs if not isinstance(d, PreparedDocument)],
                                   warn=STRICT.warn))  # fmt: skip
    return [d if isinstance(d, PreparedDocument) else next(fresh) for d in docs]


@single_threaded_blas()
def match(
    docs: Sequence[Document | PreparedDocument],
    encoder: Encoder | str | None = None,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    index: str | Path | None = None,
    params: MatchParams | None = None,
    align_params: AlignParams | None = None,
) -> MatchResult:
    """Match documents across languages and align every matched pair sentence by sentence.
    With `index`, the documents are also added to the archive index in that folder (the
    one `index_add`, `search_index` and `dedup_archive` use; created if there is none)."""
    from aligner.store import check_folder

    model = _as_encoder(encoder)
    prepared = _as_prepared(docs)
    warn_script_gaps(model, prepared, language_pairs(prepared, src_lang, tgt_lang))
    align_params = align_params or AlignParams()
    if index is not None:
        check_folder(index, model.identity)  # a mismatched index refused before any work
    check_embedding_memory([len(d.sentences) for d in prepared], model.dim, align_params.max_group)
    embedder = Embedder.for_encoder(model)
    with_text = [d for d in prepared if d.sentences]
    vectors = dict(zip((d.id for d in with_text), embedder.document_vectors(with_text)))
    outcome = match_documents(
        prepared, embedder, src_lang, tgt_lang, params, align_params, doc_vectors=vectors
    )
    if index is not None:
        from aligner.ingest import add_prepared

        with open_archive(index, model, ArchiveOptions()) as store:
            add_prepared(prepared, store, model, embedder.encode)
    return MatchResult(prepared, outcome.pairs, outcome.rejected, embedder)


def warn_script_gaps(
    encoder: Encoder, docs: Sequence[PreparedDocument], pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """Warn (the "aligner" logger) of each language pair written in two scripts when the
    encoder cannot match across scripts (`Encoder.crosses_scripts`); the warnings given."""
    if encoder.crosses_scripts:
        return []
    texts: dict[str, list[str]] = {}
    for doc in docs:
        texts.setdefault(doc.lang, []).extend(doc.texts()[:20])
    scripts = {lang: language_script(lang, lang_texts) for lang, lang_texts in texts.items()}
    given = []
    for a, b in pairs:
        sa, sb = scripts.get(a), scripts.get(b)
        if sa and sb and sa != sb:
            given.append(
                f"the {encoder.name} encoder compares character n-grams and cannot "
                f"match {a} ({sa} script) with {b} ({sb} script); "
                "use --model e5 (pip install 'aligner[e5]')"
            )
            STRICT.warn(given[-1])
    return given


@single_threaded_blas()
def align(
    src: Document | PreparedDocument,
    tgt: Document | PreparedDocument,
    encoder: Encoder | str | None = None,
    params: AlignParams | None = None,
) -> Alignment:
    """Sentence-align two documents known to be translations (no matching step)."""
    return align_pair(src, tgt, encoder, params).pairs[0].alignment


@single_threaded_blas()
def align_pair(
    src: Document | PreparedDocument,
    tgt: Document | PreparedDocument,
    encoder: Encoder | str | None = None,
    params: AlignParams | None = None,
    verify: VerifyParams | None = None,
) -> MatchResult:
    """`align` as a result of one document pair, with its verdict (`pair.verdict`: whether
    the two report the same event; the alignment is given either way) and embeddings (for
    the review page). There was no retrieval step, so its retrieval_score is NaN."""
    model = _as_encoder(encoder)
    src_doc, tgt_doc = _as_prepared([src, tgt])
    warn_script_gaps(model, [src_doc, tgt_doc], [(src_doc.lang, tgt_doc.lang)])
    params = params or AlignParams()
    check_embedding_memory(
        [len(src_doc.sentences), len(tgt_doc.sentences)], model.dim, params.max_group
    )
    embedder = Embedder.for_encoder(model)
    pair = verify_pair(src_doc, tgt_doc, embedder, params, verify)
    return MatchResult([src_doc, tgt_doc], [pair], [], embedder)


@dataclass(frozen=True)
class IndexInfo:
    """What an archive index holds."""

    folder: str
    encoder_identity: dict[str, Any]
    doc_dim: int
    doc_space: str  # how document vectors are made ("hash", "pca"; "" until decided)
    documents: int
    faiss: dict[str, dict[str, Any]]  # lang -> {"vectors": n, "factory": ...}
    clustered: tuple[int, int]  # documents with a dedup assignment, clusters
    generation: int


def index_info(folder: str | Path) -> IndexInfo:
    """Describe the archive index in `folder` (read-only)."""
    from aligner.store import ArchiveStore

    with ArchiveStore.open(folder) as store:
        return IndexInfo(
            str(folder), dict(store.encoder_identity), store.dim, store.doc_space().kind or "",
            len(store), store.faiss_info(), store.clustered(), store.generation,
        )  # fmt: skip


def index_encoder(folder: str | Path) -> str:
    """The name of the encoder that made the archive index in `folder` (read-only)."""
    from aligner.encoders import model_for_identity
    from aligner.store import ArchiveStore

    with ArchiveStore.open(folder) as store:
        return model_for_identity(store.encoder_identity)


@dataclass(frozen=True)
class SearchHit:
    rank: int
    doc_id: str
    lang: str
    score: float
    title: str


def search_index(
    folder: str | Path,
    query: Document,
    k: int = 10,
    lang: str | None = None,
    encoder: Encoder | str | None = None,
) -> list[SearchHit]:
    """The `k` indexed documents nearest to `query` (embedded as the index embeds its
    documents), in `lang` or every language; `encoder` defaults to the one that made the
    index."""
    from aligner.store import ArchiveStore

    model = _as_encoder(encoder or index_encoder(folder))
    with ArchiveStore.open(folder, model.identity) as store:
        prepared = prepare_document(query, remove_titles=False)
        vector = store.doc_space().embed([prepared], model)
        found = []
        for language in [lang] if lang else store.search_languages():
            scores, rows = store.search(vector, language, k)
            found.extend((float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0)
        info = store.lookup_rows([r for _, r in found])
        live = sorted((h for h in found if h[1] in info), key=lambda h: -h[0])[:k]
        titles = store.titles([row for _, row in live])
    return [
        SearchHit(rank, info[row].id, info[row].lang, score, titles.get(row) or "")
        for rank, (score, row) in enumerate(live, start=1)
    ]


@dataclass(frozen=True)
class ArchiveOptions:
    """How an archive index is opened or created: its document dimension (the builtin
    encoder's document vectors fold to it), FAISS factory (None: by size), how long to wait
    for another writer's lock, and how often to save the FAISS caches."""

    doc_dim: int = 512
    faiss_factory: str | None = None
    lock_timeout: float = 10.0
    cache_every_s: float = 120.0


def open_archive(folder: str | Path, encoder: Encoder, options: ArchiveOptions) -> Any:
    """The archive index in `folder` opened for writing (created if there is none)."""
    from aligner.docvec import doc_dim_for
    from aligner.store import ArchiveStore, StoreConfig

    config = StoreConfig(
        doc_dim=doc_dim_for(encoder, options.doc_dim), factory=options.faiss_factory
    )
    return ArchiveStore.open(
        folder, encoder.identity, write=True, config=config, lock_timeout=options.lock_timeout
    )


def archive_engine(cluster: RaySettings | None) -> Any:
    """A context manager giving the engine of an archive command: None (this machine's
    processes) without `cluster`, else a `RayEngine` on the Ray it reaches or starts."""
    if cluster is None:
        return contextlib.nullcontext(None)
    from aligner.cluster.engine import ray_engine

    return ray_engine(cluster)


def index_add(
    inputs: Sequence[str | Path],
    folder: str | Path,
    encoder: Encoder | str | None = None,
    options: ArchiveOptions | None = None,
    chunk_size: int = 1000,
    show_progress: bool = True,
    cluster: RaySettings | None = None,
    record_only: bool = False,
) -> Any:
    """`aligner index add`: stream the inputs into the archive index (`ingest.IngestStats`).
    With `cluster`, a Ray cluster's actors write them into the folder's distributed record
    (`cluster.record`), which is then imported into the index unless `record_only`
    (returns `record.RecordStats`)."""
    from aligner.ingest import add_documents

    options = options or ArchiveOptions()
    model = _as_encoder(encoder or "builtin")
    if cluster is not None:
        return record_archive(inputs, folder, model, options, chunk_size, show_progress,
                              cluster, record_only)  # fmt: skip
    with open_archive(folder, model, options) as store:
        return add_documents(
            list(inputs), store, model, chunk_size, show_progress, options.cache_every_s
        )


def record_archive(
    inputs: Sequence[str | Path],
    folder: str | Path,
    encoder: Encoder,
    options: ArchiveOptions,
    chunk_size: int,
    show_progress: bool,
    cluster: RaySettings,
    record_only: bool = False,
) -> Any:
    """`index add --engine ray`: the record, then (unless `record_only`) its import."""
    from aligner.cluster.record import add_to_record, import_record, refuse_local_index
    from aligner.docvec import doc_dim_for
    from aligner.store import check_folder

    check_folder(folder, encoder.identity)  # before any work: not someone else's folder
    if not record_only:
        refuse_local_index(folder)
    doc_dim = doc_dim_for(encoder, options.doc_dim)
    with archive_engine(cluster) as engine:
        stats = add_to_record(inputs, folder, encoder, engine, doc_dim, chunk_size, show_progress)
    if not record_only:
        with open_archive(folder, encoder, options) as store:
            stats.imported = import_record(folder, store, show_progress)
    return stats


def dedup_archive(
    inputs: Sequence[str | Path],
    clusters: IO[str],
    folder: str | Path | None = None,
    encoder: Encoder | str | None = None,
    params: DedupParams | None = None,
    options: ArchiveOptions | None = None,
    keep: Callable[[], Any] | None = None,
    show_progress: bool = True,
    cluster: RaySettings | None = None,
) -> tuple[Any, int | None]:
    """`aligner dedup`: cluster the inputs against the index in `folder` (a temporary one,
    removed after, when None), writing clusters.tsv rows to `clusters`; with `keep` (a
    context manager giving a text handle, opened only once the clusters are written), one
    canonical document per cluster as JSONL; with `cluster`, over the folder's distributed
    record on a Ray cluster (`dedup_record`). Returns (`dedup.DedupStats`, documents
    kept)."""
    import tempfile

    from aligner import dedup as archive_dedup

    options = options or ArchiveOptions()
    model = _as_encoder(encoder or "builtin")
    if cluster is not None:
        return dedup_record(inputs, clusters, folder, model, params, options, keep,
                            show_progress, cluster)  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="aligner-dedup-") as temp,
        open_archive(folder or Path(temp) / "index", model, options) as store,
    ):
        stats = archive_dedup.dedup(
            list(inputs), store, model, clusters, params, show_progress=show_progress,
            cache_every_s=options.cache_every_s,
        )  # fmt: skip
        kept = None
        if keep is not None:
            with keep() as handle:
                kept = archive_dedup.write_kept(
                    list(inputs), archive_dedup.canonical_in(store), handle, show_progress
                )
    return stats, kept


def dedup_record(
    inputs: Sequence[str | Path],
    clusters: IO[str],
    folder: str | Path | None,
    encoder: Encoder,
    params: DedupParams | None,
    options: ArchiveOptions,
    keep: Callable[[], Any] | None,
    show_progress: bool,
    cluster: RaySettings,
) -> tuple[Any, int | None]:
    """`dedup --engine ray`: the inputs written into the distributed record of `folder` (a
    temporary one when None; `cluster.record`), then decided over it (`cluster.decide`)."""
    import tempfile

    from aligner import dedup as archive_dedup
    from aligner.cluster.decide import canonical_by_position, decide_record
    from aligner.cluster.record import add_to_record
    from aligner.docvec import doc_dim_for
    from aligner.store import check_folder

    params = params or DedupParams()
    with tempfile.TemporaryDirectory(prefix="aligner-dedup-") as temp:
        folder = folder or Path(temp) / "index"
        check_folder(folder, encoder.identity)  # before any work: not someone else's folder
        doc_dim = doc_dim_for(encoder, options.doc_dim)
        with archive_engine(cluster) as engine:
            recorded = add_to_record(
                inputs, folder, encoder, engine, doc_dim, params.chunk_size, show_progress
            )
            stats, decisions = decide_record(
                folder, recorded.documents, encoder, engine, clusters, params, AlignParams(),
                show_progress,
            )  # fmt: skip
        stats.seconds += recorded.seconds
        kept = None
        if keep is not None:
            with keep() as handle:
                kept = archive_dedup.write_kept(
                    list(inputs), canonical_by_position(decisions), handle, show_progress
                )
    return stats, kept


__all__ = [
    "AlignParams",
    "Alignment",
    "ArchiveOptions",
    "DedupParams",
    "Document",
    "DocumentPair",
    "IndexError_",
    "IndexInfo",
    "MatchParams",
    "MatchResult",
    "PreparedDocument",
    "RaySettings",
    "SearchHit",
    "VerifyParams",
    "align",
    "align_pair",
    "dedup_archive",
    "index_add",
    "index_encoder",
    "index_info",
    "load_documents",
    "load_encoder",
    "match",
    "open_archive",
    "prepare_documents",
    "search_index",
]
