"""The `aligner` command line: a thin layer over `aligner.api`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from aligner import api
from aligner.align import AlignParams
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


if __name__ == "__main__":  # pragma: no cover
    main()
