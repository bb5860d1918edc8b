"""The `aligner` command line: a thin layer over `aligner.api`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from aligner import api
from aligner.align import AlignParams
from aligner.dedup import DedupParams
from aligner.encoders import load_encoder
from aligner.errors import AlignerError
from aligner.export import write_pairs_tsv, write_parallel_tsv
from aligner.match import MatchParams
from aligner.readers import read_text_file

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"aligner: error: {message}", err=True)
    sys.exit(code)


def handle_errors(command: F) -> F:
    """Turn known errors into one clear line and a non-zero exit (a traceback only with
    --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except AlignerError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except (OSError, MemoryError) as exc:
            if debug:
                raise
            _fail(f"{type(exc).__name__}: {exc}", 1)

    return wrapper  # type: ignore[return-value]


def model_options(command: F) -> F:
    command = click.option(
        "--batch-size", type=click.IntRange(1), default=None,
        help="Sentences per encoder batch (default: 2048 for builtin, 64 for models).",
    )(command)  # fmt: skip
    command = click.option(
        "--device", default=None,
        help="Device for sentence-transformers models: cpu, cuda, cuda:1, mps (default: auto).",
    )(command)  # fmt: skip
    command = click.option(
        "--model", "-m", default="builtin", show_default=True,
        help="Encoder: 'builtin' (offline, no weights), or a sentence-transformers model name "
        "or local path, e.g. sentence-transformers/LaBSE.",
    )(command)  # fmt: skip
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aligner")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    """Find the same news story across languages and align it sentence by sentence.

    \b
    Examples:
      aligner match fixtures/seeds/ -o parallel.tsv --pairs pairs.tsv
      aligner match fa.jsonl ar.jsonl --src-lang fa --tgt-lang ar -o corpus.tsv
      aligner align report.fa.txt report.ar.txt
    """


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Parallel corpus TSV ('-' for standard output).",
)
@click.option(
    "--pairs",
    "pairs_path",
    default=None,
    help="Also write the matched document pairs, with their evidence, as TSV.",
)
@click.option("--src-lang", default=None, help="Only match documents of this language as source.")
@click.option("--tgt-lang", default=None, help="Only match documents of this language as target.")
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Save document vectors to this index folder (e.g. indexes/news); an "
    "existing index must have been made with the same encoder.",
)
@click.option(
    "--min-pair-score",
    type=float,
    default=MatchParams.min_score,
    show_default=True,
    help="Same-event score a document pair needs to be accepted.",
)
@click.option(
    "--candidates",
    type=click.IntRange(1),
    default=MatchParams.candidates,
    show_default=True,
    help="Nearest documents checked per document.",
)
@model_options
@handle_errors
def match(
    inputs: tuple[str, ...],
    output: str,
    pairs_path: str | None,
    src_lang: str | None,
    tgt_lang: str | None,
    index_dir: str | None,
    min_pair_score: float,
    candidates: int,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Match documents across languages and write their sentence alignment.

    INPUT is a text file (one document; id = file name), a folder (every .txt below it), a
    .jsonl file (objects with id, text and optional lang, title, date, url), a .csv/.tsv with
    id and text columns, or '-' for JSONL on standard input.

    \b
    Output columns (TSV, header row):
      src_doc tgt_doc src_lang tgt_lang src_sents tgt_sents score src_text tgt_text
    src_sents/tgt_sents are comma-separated 0-based sentence indices in the cleaned
    document; sentences without a counterpart (boilerplate, dropped text) are left out.

    \b
    Examples:
      aligner match fixtures/seeds/ -o parallel.tsv --pairs pairs.tsv
      aligner match news.jsonl --src-lang fa --tgt-lang ar --index indexes/news -o out.tsv
      cat news.jsonl | aligner match - --model sentence-transformers/LaBSE
    """
    docs = api.load_documents(inputs)
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    params = MatchParams(min_score=min_pair_score, candidates=candidates)
    result = api.match(docs, encoder, src_lang, tgt_lang, index=index_dir, params=params)
    segments = write_parallel_tsv(result.alignments, output)
    if pairs_path:
        write_pairs_tsv(result.pairs, pairs_path)
    langs = sorted({d.lang for d in result.documents})
    click.echo(
        f"aligner: {len(docs)} documents ({', '.join(langs) or 'none'}), "
        f"{len(result.pairs)} pairs matched, {segments} segments written",
        err=True,
    )


@main.command()
@click.argument("file_a", type=click.Path(dir_okay=False))
@click.argument("file_b", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Parallel corpus TSV ('-' for standard output).",
)
@click.option("--src-lang", default=None, help="Language of FILE_A (default: detected).")
@click.option("--tgt-lang", default=None, help="Language of FILE_B (default: detected).")
@model_options
@handle_errors
def align(
    file_a: str,
    file_b: str,
    output: str,
    src_lang: str | None,
    tgt_lang: str | None,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Sentence-align two documents that translate each other (no matching step).

    Writes the same TSV columns as `aligner match`.

    \b
    Example:
      aligner align fixtures/seeds/001_2ad9410abe4922a4.txt \\
                    fixtures/seeds/004_e5f69c90d0bd1dfa.txt -o pair.tsv
    """
    from dataclasses import replace
    from pathlib import Path

    doc_a = read_text_file(Path(file_a))
    doc_b = read_text_file(Path(file_b))
    if doc_a.id == doc_b.id:
        doc_b = replace(doc_b, id=doc_b.id + "#2")
    doc_a = replace(doc_a, lang=src_lang) if src_lang else doc_a
    doc_b = replace(doc_b, lang=tgt_lang) if tgt_lang else doc_b
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    alignment = api.align(doc_a, doc_b, encoder, AlignParams())
    segments = write_parallel_tsv([alignment], output)
    click.echo(
        f"aligner: {len(alignment.src.sentences)} + {len(alignment.tgt.sentences)} sentences, "
        f"{segments} segments written",
        err=True,
    )


def store_options(command: F) -> F:
    """Options of the commands that write an archive index."""
    command = click.option(
        "--lock-timeout", type=float, default=10.0, show_default=True,
        help="Seconds to wait for another process writing the same index (0: fail at once).",
    )(command)  # fmt: skip
    command = click.option(
        "--faiss-factory", default=None,
        help="FAISS index-factory string, e.g. 'Flat', 'IVF1024,Flat', 'HNSW32' (default: "
        "exact search below 50,000 documents per language, HNSW32 above).",
    )(command)  # fmt: skip
    command = click.option(
        "--doc-dim", type=click.Choice(["128", "256", "512", "1024"]), default="512",
        show_default=True,
        help="Dimension of the stored document vectors (builtin encoder; set when the index "
        "is created).",
    )(command)  # fmt: skip
    command = click.option(
        "--chunk-size", type=click.IntRange(1), default=1000, show_default=True,
        help="Documents per committed chunk (an interrupted run keeps every finished chunk).",
    )(command)  # fmt: skip
    command = click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar and no summary."
    )(command)  # fmt: skip
    # How often the FAISS caches are rewritten (they are only a cache of SQLite); tests set
    # 0 to write them after every chunk.
    command = click.option(
        "--cache-every", type=float, default=120.0, hidden=True
    )(command)  # fmt: skip
    return command


def _open_store(
    folder: str, encoder: Any, doc_dim: str, factory: str | None, lock_timeout: float
) -> Any:
    from aligner.docvec import doc_dim_for
    from aligner.store import ArchiveStore, StoreConfig

    config = StoreConfig(doc_dim=doc_dim_for(encoder, int(doc_dim)), factory=factory)
    return ArchiveStore.open(
        folder, encoder.identity, write=True, config=config, lock_timeout=lock_timeout
    )


@main.group()
def index() -> None:
    """A persistent, incremental document index for a news archive.

    \b
    Examples:
      aligner index add archive-2020.jsonl --index indexes/news
      aligner index info --index indexes/news
      aligner index search "text or a file" --index indexes/news -k 10
    """


@index.command("add")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--index", "index_dir", required=True, help="Index folder (created if missing).")
@store_options
@model_options
@handle_errors
def index_add(
    inputs: tuple[str, ...],
    index_dir: str,
    cache_every: float,
    quiet: bool,
    chunk_size: int,
    doc_dim: str,
    faiss_factory: str | None,
    lock_timeout: float,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Add documents to an index: new ones are appended, changed ones (same id, other text)
    updated, unchanged ones left alone. Safe to interrupt and run again.

    INPUT is read as by `aligner match` (JSONL is streamed, not read whole).
    """
    from aligner.ingest import add_documents

    encoder = load_encoder(model, device=device, batch_size=batch_size)
    with _open_store(index_dir, encoder, doc_dim, faiss_factory, lock_timeout) as store:
        stats = add_documents(
            list(inputs), store, encoder, chunk_size, not quiet, cache_every_s=cache_every
        )
    if not quiet:
        rate = stats.documents / stats.seconds if stats.seconds else 0.0
        langs = ", ".join(f"{k} {v:,}" for k, v in stats.languages.items())
        click.echo(
            f"aligner: {stats.documents:,} documents read: {stats.added:,} added, "
            f"{stats.updated:,} updated, {stats.unchanged:,} unchanged "
            f"({stats.seconds:.1f}s, {rate:,.0f} docs/s); index now {langs or 'empty'}",
            err=True,
        )


@index.command("info")
@click.option("--index", "index_dir", required=True, help="Index folder.")
@handle_errors
def index_info(index_dir: str) -> None:
    """Show what an index holds: documents per language, FAISS index types, encoder."""
    from aligner.store import ArchiveStore

    with ArchiveStore.open(index_dir) as store:
        identity = store.encoder_identity
        click.echo(f"index:      {index_dir}")
        click.echo(f"encoder:    {identity.get('kind')}:{identity.get('name')} "
                   f"(dim {identity.get('dim')}), document vectors of dim {store.dim} "
                   f"({store.doc_space().kind or 'not yet decided'})")  # fmt: skip
        click.echo(f"documents:  {len(store):,}")
        for lang, info in store.faiss_info().items():
            click.echo(f"  {lang}: {info['vectors']:,} ({info['factory']})")
        clustered = store.db.execute(
            "SELECT COUNT(*), SUM(role = 'canonical') FROM documents WHERE role IS NOT NULL"
        ).fetchone()
        if clustered[0]:
            click.echo(f"dedup:      {clustered[0]:,} documents in {clustered[1] or 0:,} clusters")
        click.echo(f"generation: {store.generation}")


@index.command("search")
@click.argument("query")
@click.option("--index", "index_dir", required=True, help="Index folder.")
@click.option("-k", type=click.IntRange(1), default=10, show_default=True, help="Hits to show.")
@click.option("--lang", default=None, help="Only search documents of this language.")
@click.option("--query-lang", default=None, help="Language of the query (default: detected).")
@model_options
@handle_errors
def index_search(
    query: str,
    index_dir: str,
    k: int,
    lang: str | None,
    query_lang: str | None,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Find the indexed documents nearest to QUERY (a text, or the path of a text file).
    Prints TSV: rank, doc_id, lang, score, title."""
    from pathlib import Path

    from aligner.prepare import prepare_document
    from aligner.store import ArchiveStore
    from aligner.types import Document

    try:
        is_file = len(query) < 4096 and Path(query).is_file()
    except OSError:  # a long text is not a file name ("File name too long")
        is_file = False
    doc = read_text_file(Path(query)) if is_file else Document("query", query)
    if query_lang:
        doc = Document(doc.id, doc.text, query_lang)
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    with ArchiveStore.open(index_dir, encoder.identity) as store:
        prepared = prepare_document(doc, remove_titles=False)
        vector = store.doc_space().embed([prepared], encoder)
        hits = []
        for language in [lang] if lang else store.search_languages():
            scores, rows = store.search(vector, language, k)
            hits.extend((float(s), int(r)) for s, r in zip(scores[0], rows[0]) if r >= 0)
        info = store.lookup_rows([r for _, r in hits])
        hits = sorted((h for h in hits if h[1] in info), key=lambda h: -h[0])  # live rows
        titles = dict(
            store.db.execute(
                f"SELECT row, title FROM documents WHERE row IN ({','.join('?' * len(info))})",
                list(info),
            ).fetchall()
        )
    click.echo("rank\tdoc_id\tlang\tscore\ttitle")
    for rank, (score, row) in enumerate(hits[:k], start=1):
        title = (titles.get(row) or "").replace("\t", " ").replace("\n", " ")
        click.echo(f"{rank}\t{info[row].id}\t{info[row].lang}\t{score:.4f}\t{title}")


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o", "--output", default="-", show_default=True,
    help="clusters.tsv: doc_id, cluster_id, lang, role, score, matched_doc ('-': stdout).",
)  # fmt: skip
@click.option(
    "--keep", "keep_path", default=None,
    help="Also write the archive as JSONL with one canonical document per cluster "
    "(input records copied unchanged).",
)  # fmt: skip
@click.option(
    "--index", "index_dir", default=None,
    help="Deduplicate against this index and add the documents to it (default: a "
    "temporary index, removed at the end).",
)  # fmt: skip
@click.option(
    "--duplicate-score", type=float, default=DedupParams.duplicate_score, show_default=True,
    help="Same-event score a same-language near copy needs.",
)  # fmt: skip
@click.option(
    "--translation-score", type=float, default=DedupParams.translation_score,
    show_default=True, help="Same-event score a translation needs.",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(1), default=1, show_default=True,
    help="Processes that verify candidate pairs (worth it on idle cores only).",
)  # fmt: skip
@store_options
@model_options
@handle_errors
def dedup(
    inputs: tuple[str, ...],
    output: str,
    keep_path: str | None,
    index_dir: str | None,
    duplicate_score: float,
    translation_score: float,
    workers: int,
    cache_every: float,
    quiet: bool,
    chunk_size: int,
    doc_dim: str,
    faiss_factory: str | None,
    lock_timeout: float,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Group the documents that report the same story: exact copies, near copies in one
    language, and translations across languages.

    \b
    clusters.tsv (TSV, header row), one row per input document:
      doc_id cluster_id lang role score matched_doc
    role is canonical (first of its cluster; cluster_id is its doc_id), duplicate (same
    language) or translation; matched_doc is the document it was attached to.

    \b
    Examples:
      aligner dedup archive.jsonl -o clusters.tsv --keep deduped.jsonl
      aligner dedup today.jsonl --index indexes/news -o clusters.tsv
    """
    import tempfile
    from dataclasses import replace

    from aligner import dedup as dedup_module
    from aligner.export import atomic_output

    encoder = load_encoder(model, device=device, batch_size=batch_size)
    params = replace(
        DedupParams(),
        duplicate_score=duplicate_score,
        translation_score=translation_score,
        chunk_size=chunk_size,
        workers=workers,
    )
    with tempfile.TemporaryDirectory(prefix="aligner-dedup-") as temp:
        folder = index_dir or str(Path(temp) / "index")
        with _open_store(folder, encoder, doc_dim, faiss_factory, lock_timeout) as store:
            with atomic_output(output) as handle:
                stats = dedup_module.dedup(
                    list(inputs), store, encoder, handle, params, show_progress=not quiet,
                    cache_every_s=cache_every,
                )  # fmt: skip
            kept = None
            if keep_path:
                with atomic_output(keep_path) as handle:
                    kept = dedup_module.write_kept(list(inputs), store, handle, not quiet)
    if not quiet:
        rate = stats.documents / stats.seconds if stats.seconds else 0.0
        langs = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.languages.items()))
        click.echo(
            f"aligner: {stats.documents:,} documents ({langs or 'none'}) in "
            f"{stats.clusters:,} clusters: {stats.duplicates:,} duplicates "
            f"({stats.exact:,} exact copies), {stats.translations:,} translations; "
            f"{stats.verified:,} pairs aligned, {stats.screened:,} screened out "
            f"({stats.seconds:.1f}s, {rate:,.0f} docs/s)"
            + (f"; {kept:,} documents kept" if kept is not None else ""),
            err=True,
        )


if __name__ == "__main__":  # pragma: no cover
    main()
