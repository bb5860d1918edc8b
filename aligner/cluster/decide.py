"""`dedup --engine ray`: the archive's clusters decided over its distributed record.

The inputs are first written into the record (`record.add_to_record`: Parquet parts and
one merged IVF index a language). Then, with nothing passing through the driver but
small arrays:

1. exact copies: the documents grouped on their hashes by Ray Data (a document with
   sentences by its body hash, one without by its content hash); each document of a group
   is a copy of the group's first;
2. per part (one chunk's documents of one language), in an actor: each document's
   earlier candidates in every language (`part_candidates`), taken and ranked as on one
   machine (`dedup.candidates.to_verify`), then screened and verified with the one verdict
   (`dedup.scoring.score_serial`); the best accepted earlier document of each comes back
   (`dedup.decide.best_accepted`);
3. on the driver: a forest of those best earlier matches, whose roots are the clusters.

"Earlier" is input order, as on one machine, and the last `recent_docs` documents of each
language are searched exactly, as there. What differs is where the older candidates come
from: the merged IVF index of each language here, the store's HNSW index there.
docs/scale.md measures what that changes.

A document's decision depends only on the documents before it, so the parts are decided
in any order, in parallel. Appending to the input changes an earlier decision only where
later documents crowd earlier ones out of the IVF index's nearest neighbours (it is
asked for `SEARCH_K`, and only earlier ones count).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aligner.alignment import AlignParams, Background
from aligner.cache import LRUCache
from aligner.cluster import shards
from aligner.cluster.engine import (
    ACTOR_FEATURE_CACHE_BYTES,
    RayEngine,
    kill_actors,
    require_ray,
)
from aligner.cluster.record import SPACE, load_space, read_manifest, record_folder
from aligner.dedup.candidates import RECENT, STORED, Candidate, Earlier, to_verify
from aligner.dedup.decide import best_accepted
from aligner.dedup.params import (
    CANONICAL,
    CLUSTER_COLUMNS,
    DUPLICATE,
    TRANSLATION,
    Assignment,
    DedupParams,
    DedupStats,
)
from aligner.dedup.scoring import score_serial
from aligner.dedup.verifier import Verifier, doc_key
from aligner.docvec import prepared_from_texts
from aligner.encoders.base import Encoder
from aligner.errors import AlignerError
from aligner.progress import Progress
from aligner.runtime import init_worker
from aligner.types import PreparedDocument

# Neighbours asked of each language's index per document: about half are later documents
# (dropped), and a translation needs `recent_candidates` + `candidates` earlier ones.
SEARCH_K = 64
# Parts an actor keeps read (a document's candidates are mostly in the parts just before
# its own): about 13 KB a news document with its sentence sketches.
ACTOR_PARTS_BYTES = 768 * 1024**2
ROLES = (CANONICAL, DUPLICATE, TRANSLATION)  # the codes of `Decisions.role`


@dataclass(frozen=True)
class RecordLayout:
    """Where the record's documents are. A document's position is its place in the input
    (its chunk's first position plus its place in the chunk); its id in a language's IVF
    index is its row in that language's parts, read in part order (`shards.read_language`).
    """

    chunk_starts: dict[str, int]  # part -> position of the chunk's first document
    parts: dict[str, list[str]]  # language -> its parts, in id order
    part_starts: dict[str, np.ndarray]  # language -> id of each part's first row, and the end
    positions: dict[str, np.ndarray]  # language -> position of each id
    by_rank: dict[str, np.ndarray]  # language -> its ids in input order
    sorted_positions: dict[str, np.ndarray]  # language -> its positions in input order
    total: int  # documents in the record
    dim: int  # of the document vectors

    def locate(self, lang: str, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The part (index into `parts[lang]`) and row in it of each id."""
        parts = np.searchsorted(self.part_starts[lang], ids, side="right") - 1
        return parts, ids - self.part_starts[lang][parts]

    def language_rank(self, lang: str, positions: np.ndarray) -> np.ndarray:
        """How many documents of `lang` come before each position."""
        return np.searchsorted(self.sorted_positions[lang], positions)


def layout_of(folder: Path, manifest: dict[str, Any], chunks: int | None = None) -> RecordLayout:
    """The layout of the record in `folder` (its first `chunks` chunks, or all)."""
    entries = manifest["chunks"][:chunks]
    chunk_starts, start = {}, 0
    for entry in entries:
        chunk_starts[entry["part"]] = start
        start += entry["count"]
    parts: dict[str, list[str]] = {}
    for entry in entries:
        for lang, count in entry["langs"].items():
            if count:
                parts.setdefault(lang, []).append(entry["part"])
    positions, part_starts = {}, {}
    for lang, names in sorted(parts.items()):
        got, starts = [], [0]
        for part in names:
            table = shards.read_language(folder / "documents", lang, ["position"], parts=[part])
            got.append(table.column("position").to_numpy() + chunk_starts[part])
            starts.append(starts[-1] + table.num_rows)
        positions[lang] = np.concatenate(got).astype(np.int64)
        part_starts[lang] = np.array(starts, dtype=np.int64)
    by_rank = {lang: np.argsort(p, kind="stable") for lang, p in positions.items()}
    return RecordLayout(
        chunk_starts, parts, part_starts, positions, by_rank,
        {lang: positions[lang][order] for lang, order in by_rank.items()}, start,
        int(manifest["doc_dim"]),
    )  # fmt: skip


# ---------------------------------------------------------------- 1. exact copies


def exact_copies(folder: Path, layout: RecordLayout, show_progress: bool) -> np.ndarray:
    """[copies, 2] int64: (position, position of the first document with its text), by a
    group-by on the hashes in Ray Data over each part's keys (`copy_keys`, Ray tasks).
    Sorted by position."""
    require_ray()  # Ray Data comes with it (aligner[ray])
    import ray
    import ray.data
    from ray.data.context import ShuffleStrategy

    work = [(lang, part) for lang, parts in layout.parts.items() for part in parts]
    if not work:
        return np.zeros((0, 2), np.int64)
    keys = ray.remote(num_cpus=1)(copy_keys)
    refs = [keys.remote(str(folder), lang, part, layout.chunk_starts[part]) for lang, part in work]
    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    before = context.enable_progress_bars, context.shuffle_strategy, logger.level
    # its execution reports are news only with progress bars (and it warns that they are
    # off when they are)
    logger.setLevel(logging.WARNING if show_progress else logging.ERROR)
    context.enable_progress_bars = show_progress
    # Ray Data's default hash shuffle starts its aggregating actors for each run (12 s on
    # 5 documents here, 2.5 s sorting)
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        groups = ray.data.from_arrow_refs(refs).groupby(
            "key", num_partitions=max(1, min(len(work), layout.total // 1_000_000 + 1))
        )
        found = groups.map_groups(copies_in_group, batch_format="pyarrow")
        pairs = [
            np.stack([b["position"], b["first"]], axis=1)
            for b in found.iter_batches(batch_format="numpy")
            if len(b["position"])
        ]
    finally:
        context.enable_progress_bars, context.shuffle_strategy = before[:2]
        logger.setLevel(before[2])
    if not pairs:
        return np.zeros((0, 2), np.int64)
    out = np.concatenate(pairs).astype(np.int64)
    return out[np.argsort(out[:, 0], kind="stable")]


def copy_keys(folder: str, lang: str, part: str, start: int) -> pa.Table:
    """A part's documents as (key, position): a document with sentences is a copy of one
    with its cleaned text (key: body hash), one without of one with its text (content
    hash)."""
    columns = ["position", "content_hash", "body_hash", "sentences"]
    table = shards.read_language(Path(folder) / "documents", lang, columns, parts=[part])
    has_text = np.asarray(pc.list_value_length(table.column("sentences"))) > 0
    body = table.column("body_hash").to_pylist()
    content = table.column("content_hash").to_pylist()
    keys = [f"b{b}" if t else f"c{c}" for b, c, t in zip(body, content, has_text.tolist())]
    positions = table.column("position").to_numpy().astype(np.int64) + start
    return pa.table({"key": keys, "position": positions})


def copies_in_group(group: pa.Table) -> pa.Table:
    """One key's documents: each but the first, with the first."""
    positions = np.sort(group.column("position").to_numpy())
    first = np.full(len(positions) - 1, positions[0], dtype=np.int64)
    return pa.table({"position": positions[1:], "first": first})


# ---------------------------------------------------------------- 2. the parts, in actors


@dataclass
class PartRows:
    """One part's documents as read: their positions and vectors, and each row's document
    (rebuilt from its sentences) and sentence sketch once asked for. Most rows of a part
    read for a candidate are never asked for: rebuilding every row of such parts took two
    thirds of an actor's time at 100,000 documents."""

    positions: np.ndarray
    vectors: np.ndarray
    lang: str = ""
    table: pa.Table | None = None  # id, sentences, sketch, sketch_rows
    _docs: dict[int, PreparedDocument] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        table = 0 if self.table is None else self.table.nbytes
        # as read (the documents rebuilt later, a few KB each, are not counted)
        return table + self.vectors.nbytes

    def has_text(self) -> np.ndarray:
        assert self.table is not None
        return np.asarray(pc.list_value_length(self.table.column("sentences"))) > 0

    def doc(self, k: int) -> PreparedDocument:
        doc = self._docs.get(k)
        if doc is None:
            assert self.table is not None
            texts = self.table.column("sentences")[k].as_py()
            doc = prepared_from_texts(self.table.column("id")[k].as_py(), self.lang, texts)
            self._docs[k] = doc
        return doc

    def sketch(self, k: int) -> np.ndarray | None:
        assert self.table is not None
        blob = self.table.column("sketch")[k].as_py()
        if blob is None:
            return None
        rows = self.table.column("sketch_rows")[k].as_py()
        return np.frombuffer(blob, np.float16).reshape(rows, -1)


def read_part(folder: Path, layout: RecordLayout, lang: str, part: str) -> PartRows:
    columns = ["position", "id", "sentences", "vector", "sketch", "sketch_rows"]
    table = shards.read_language(folder / "documents", lang, columns, parts=[part])
    positions = table.column("position").to_numpy().astype(np.int64) + layout.chunk_starts[part]
    vectors = np.asarray(table.column("vector").combine_chunks().flatten(), np.float32)
    rest = table.select(["id", "sentences", "sketch", "sketch_rows"]).combine_chunks()
    return PartRows(positions, vectors.reshape(table.num_rows, -1), lang, rest)


def remember_sketches(verifier: Verifier, rows_and_docs: Sequence[tuple[PartRows, int]]) -> None:
    """The sentence sketches of these documents that `verifier` does not hold (its cache is
    bounded: one held when a part was read may be gone since)."""
    keys = {doc_key(rows.doc(k)): (rows, k) for rows, k in rows_and_docs}
    held = verifier.sketches_of(list(keys))
    for key, (rows, k) in keys.items():
        if key not in held and (sketch := rows.sketch(k)) is not None:
            verifier.remember_sketch(key, sketch)


@dataclass
class PartDecisions:
    """Per document of a part that was compared: its position and its best accepted
    earlier match (position -1: none), with the role and score it gives."""

    positions: np.ndarray
    matched: np.ndarray
    roles: np.ndarray  # codes of ROLES
    scores: np.ndarray
    verified: int = 0
    screened: int = 0


Hit = tuple[str, int, float, bool]  # language, id, cosine, recent


def part_candidates(
    rows: PartRows,
    queries: np.ndarray,
    lang: str,
    layout: RecordLayout,
    search: Callable[[str, np.ndarray], tuple[np.ndarray, np.ndarray]],
    vectors_of: Callable[[str, np.ndarray], np.ndarray],
    params: DedupParams,
) -> list[list[Hit]]:
    """Per query (indexes into `rows`): its earlier documents worth ranking, nearest first
    in each language, as one machine's dedup finds them. Among the last `recent_docs`
    documents of each language (searched exactly: their vectors from `vectors_of(lang,
    ids)`), the `max_verify` nearest of its own language above `same_lang_cosine` and the
    `recent_candidates` nearest of each other language; before those, the `candidates`
    nearest of each language from its IVF index (`search`)."""
    found: list[list[Hit]] = [[] for _ in queries]
    if not len(queries):
        return found
    own = rows.positions[queries]
    matrix = np.ascontiguousarray(rows.vectors[queries])
    for other in sorted(layout.parts):
        same = other == lang
        limit = params.same_lang_cosine if same else params.cross_lang_cosine
        ranks = layout.language_rank(other, own)  # documents of `other` before each query
        # the recent window, exactly: window document j has rank lo + j
        lo, hi = max(0, int(ranks.min()) - params.recent_docs), int(ranks.max())
        window = layout.by_rank[other][lo:hi]
        if len(window):
            sims = matrix @ vectors_of(other, window).T
            rank = lo + np.arange(len(window))
            inside = (rank[None, :] >= ranks[:, None] - params.recent_docs) & (
                rank[None, :] < ranks[:, None]
            )
            sims = np.where(inside & (sims >= limit), sims, -np.inf)
            cap = min(params.max_verify if same else params.recent_candidates, len(window))
            top = np.argsort(-sims, axis=1, kind="stable")[:, :cap]
            for i in range(len(queries)):
                for j in top[i]:
                    if sims[i, j] == -np.inf:
                        break
                    found[i].append((other, int(window[j]), float(sims[i, j]), True))
        # before the window: the index (asked for more, as later and recent ones are dropped)
        scores, ids = search(other, matrix)
        valid = ids >= 0
        rank_of = layout.language_rank(other, layout.positions[other][np.where(valid, ids, 0)])
        keep = valid & (rank_of < (ranks - params.recent_docs)[:, None]) & (scores >= limit)
        for i in range(len(queries)):
            for j in np.nonzero(keep[i])[0][: params.candidates]:
                found[i].append((other, int(ids[i, j]), float(scores[i, j]), False))
    return found


class _PartDecider:
    """An actor that decides parts: searches the merged IVF indexes, reads the candidates'
    parts (keeping the most recent ones), and verifies with its own verifier."""

    def __init__(
        self,
        folder: str,
        layout: RecordLayout,
        copies: np.ndarray,
        encoder: Encoder,
        align_params: AlignParams,
        params: DedupParams,
        screens: Screens,
    ) -> None:
        init_worker()
        faiss.omp_set_num_threads(1)
        self.folder = Path(folder)
        self.layout = layout
        self.copies = copies
        self.params = params
        self.verifier = Verifier(
            encoder, dict(screens.centers), align_params, cache_bytes=ACTOR_FEATURE_CACHE_BYTES
        )
        self.verifier.backgrounds = dict(screens.backgrounds)
        self.verifier.sketch_backgrounds = dict(screens.sketch_backgrounds)
        self._indexes: dict[str, faiss.Index] = {}
        self._parts: LRUCache[tuple[str, str], PartRows] = LRUCache(
            max_bytes=ACTOR_PARTS_BYTES, size=lambda key, rows: rows.nbytes
        )

    def _search(self, lang: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = self._indexes.get(lang)
        if index is None:
            index = faiss.read_index(str(self.folder / "ivf" / f"{lang}.faiss"), faiss.IO_FLAG_MMAP)
            faiss.extract_index_ivf(index).nprobe = shards.IVF_NPROBE
            self._indexes[lang] = index
        return shards.search(index, np.ascontiguousarray(queries), SEARCH_K)

    def _vectors(self, lang: str, ids: np.ndarray) -> np.ndarray:
        parts, offsets = self.layout.locate(lang, ids)
        out = np.empty((len(ids), self.layout.dim), np.float32)
        for p in np.unique(parts):
            at = parts == p
            out[at] = self._rows(lang, self.layout.parts[lang][p]).vectors[offsets[at]]
        return out

    def _documents(
        self, wanted: set[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[PartRows, int]]:
        """The part and row of each (language, id)."""
        out = {}
        by_lang: dict[str, list[int]] = {}
        for lang, row in wanted:
            by_lang.setdefault(lang, []).append(row)
        for lang, ids in by_lang.items():
            parts, offsets = self.layout.locate(lang, np.array(ids, np.int64))
            for row, p, offset in zip(ids, parts.tolist(), offsets.tolist()):
                source = self._rows(lang, self.layout.parts[lang][p])
                out[(lang, row)] = source, offset
        return out

    def _rows(self, lang: str, part: str) -> PartRows:
        rows = self._parts.get((lang, part))
        if rows is None:
            rows = read_part(self.folder, self.layout, lang, part)
            self._parts.put((lang, part), rows)
        return rows

    def decide(self, lang: str, part: str) -> PartDecisions:
        rows = self._rows(lang, part)
        before = (self.verifier.calls, self.verifier.screened)
        is_copy = np.isin(rows.positions, self.copies)
        queries = np.nonzero(rows.has_text() & ~is_copy)[0]
        found = part_candidates(
            rows, queries, lang, self.layout, self._search, self._vectors, self.params
        )
        earlier_docs = self._documents({(other, row) for hits in found for other, row, *_ in hits})
        remember_sketches(
            self.verifier, [(rows, k) for k in queries.tolist()] + list(earlier_docs.values())
        )
        plans, jobs = [], []
        for k, hits in zip(queries.tolist(), found):
            doc = rows.doc(k)
            cands = []
            for other, row, cosine, recent in hits:
                source, offset = earlier_docs[(other, row)]
                earlier = Earlier(
                    RECENT if recent else STORED, position=int(source.positions[offset])
                )
                cands.append(Candidate(other == lang, cosine, earlier, source.doc(offset)))
            plan = to_verify(doc, cands, self.verifier, self.params)
            plans.append(plan)
            jobs.append((doc, [(c.doc, c.same_lang) for c in plan]))
        scores = score_serial(jobs, self.verifier, self.params)  # type: ignore[arg-type]
        matched = np.full(len(queries), -1, np.int64)
        roles = np.zeros(len(queries), np.uint8)
        values = np.ones(len(queries), np.float32)
        for i, (plan, got) in enumerate(zip(plans, scores)):
            best = best_accepted(plan, got)
            if best is not None:
                candidate, values[i], role = best
                matched[i], roles[i] = candidate.earlier.position, ROLES.index(role)
        return PartDecisions(
            rows.positions[queries], matched, roles, values,
            self.verifier.calls - before[0], self.verifier.screened - before[1],
        )  # fmt: skip


# ---------------------------------------------------------------- the screens' backgrounds


@dataclass
class Screens:
    """What every verifier shares: sentence-encoder centres and the screens' backgrounds."""

    centers: dict[str, np.ndarray]
    backgrounds: dict[tuple[str, str], Background] = field(default_factory=dict)
    sketch_backgrounds: dict[tuple[str, str], Background] = field(default_factory=dict)


def learn_screens(
    folder: Path, manifest: dict[str, Any], layout: RecordLayout, encoder: Encoder,
    align_params: AlignParams,
) -> Screens:  # fmt: skip
    """The backgrounds learnt as one machine's dedup learns them: from the documents of the
    first chunk that has a pair of languages without them."""
    verifier = Verifier(encoder, load_space(folder / SPACE).sentence_centers, align_params)
    for entry in manifest["chunks"]:
        if entry["part"] not in layout.chunk_starts:
            break
        langs = sorted(lang for lang, n in entry["langs"].items() if n)
        if all((a, b) in verifier.backgrounds for a in langs for b in langs if a <= b):
            continue
        docs = []
        for lang in langs:
            rows = read_part(folder, layout, lang, entry["part"])
            texts = np.nonzero(rows.has_text())[0].tolist()
            remember_sketches(verifier, [(rows, k) for k in texts])
            docs.extend(rows.doc(k) for k in texts)
        if docs:
            verifier.learn_backgrounds(docs)
    return Screens(verifier.centers, verifier.backgrounds, verifier.sketch_backgrounds)


# ---------------------------------------------------------------- 3. the forest


@dataclass
class Decisions:
    """Every document's decision, by position: the document it is attached to (-1: none,
    it is canonical), its role (codes of ROLES), score and whether it is an exact copy."""

    matched: np.ndarray
    roles: np.ndarray
    scores: np.ndarray
    exact: np.ndarray

    @classmethod
    def empty(cls, total: int) -> Decisions:
        return cls(
            np.full(total, -1, np.int64), np.zeros(total, np.uint8),
            np.ones(total, np.float32), np.zeros(total, bool),
        )  # fmt: skip

    def add_copies(self, copies: np.ndarray) -> None:
        if len(copies):
            at = copies[:, 0]
            self.matched[at], self.roles[at], self.scores[at] = copies[:, 1], 1, 1.0
            self.exact[at] = True

    def add_part(self, part: PartDecisions) -> None:
        accepted = part.matched >= 0
        at = part.positions[accepted]
        self.matched[at] = part.matched[accepted]
        self.roles[at] = part.roles[accepted]
        self.scores[at] = part.scores[accepted]


def cluster_roots(matched: np.ndarray) -> np.ndarray:
    """The cluster of each document: the root of the forest in which each document points
    to the earlier one it was attached to (`matched`, -1 for a root). Pointer jumping: as
    many rounds as the log of the longest chain."""
    if np.any(matched >= np.arange(len(matched))):
        raise AlignerError("a document attached to a later one: the forest has a cycle")
    roots = np.where(matched < 0, np.arange(len(matched)), matched)
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            return roots
        roots = jumped


# ---------------------------------------------------------------- the run


def decide_record(
    index_folder: str | Path,
    documents: int,
    encoder: Encoder,
    engine: RayEngine,
    out: IO[str],
    params: DedupParams,
    align_params: AlignParams,
    show_progress: bool = True,
) -> tuple[DedupStats, Decisions]:
    """Decide the first `documents` documents of the record (this run's input) and write
    their clusters.tsv rows to `out`, in input order. Returns the counts and decisions."""
    ray = require_ray()
    folder = record_folder(index_folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise AlignerError(f"{folder}: no record to decide")
    started = time.monotonic()
    chunks, count = 0, 0
    while chunks < len(manifest["chunks"]) and count < documents:
        count += manifest["chunks"][chunks]["count"]
        chunks += 1
    layout = layout_of(folder, manifest, chunks)
    stats = DedupStats()
    decisions = Decisions.empty(layout.total)
    if not layout.total:  # no documents: no space, nothing to decide
        write_clusters(out, folder, layout, decisions, decisions.matched, stats)
        return stats, decisions
    copies = exact_copies(folder, layout, show_progress)
    decisions.add_copies(copies)
    screens = learn_screens(folder, manifest, layout, encoder, align_params)
    actor = ray.remote(num_cpus=engine.cpus_each, num_gpus=engine.gpus_each)(_PartDecider)
    shared = ray.put(layout), ray.put(copies[:, 0].copy())
    deciders = [
        actor.remote(str(folder), *shared, encoder, align_params, params, screens)
        for _ in range(engine.workers)
    ]
    work = [(lang, part) for part in layout.chunk_starts for lang in layout.parts
            if part in layout.parts[lang]]  # fmt: skip
    try:
        with Progress("deciding", len(work), show_progress, unit="parts") as progress:
            running: dict[Any, int] = {}
            idle = list(range(len(deciders)))
            while work or running:
                while work and len(running) < 2 * len(deciders):
                    who = idle.pop(0) if idle else len(running) % len(deciders)
                    running[deciders[who].decide.remote(*work.pop(0))] = who
                done, _ = ray.wait(list(running), num_returns=1)
                idle.append(running.pop(done[0]))
                part: PartDecisions = ray.get(done[0])
                decisions.add_part(part)
                stats.verified += part.verified
                stats.screened += part.screened
                progress.advance(1, 1)
    finally:
        kill_actors(deciders)
    roots = cluster_roots(decisions.matched)
    write_clusters(out, folder, layout, decisions, roots, stats)
    stats.seconds = time.monotonic() - started
    return stats, decisions


def record_ids(folder: Path, layout: RecordLayout) -> tuple[pa.Array, np.ndarray, list[str]]:
    """Every document's id (by position), its language (codes into the list returned)."""
    langs = sorted(layout.parts)
    codes = np.zeros(layout.total, np.int16)
    pieces, where = [], []
    for code, lang in enumerate(langs):
        table = shards.read_language(folder / "documents", lang, ["id"], parts=layout.parts[lang])
        pieces.append(table.column("id").combine_chunks())
        where.append(layout.positions[lang])
        codes[layout.positions[lang]] = code
    if not pieces:
        return pa.array([], pa.string()), codes, langs
    order = np.argsort(np.concatenate(where), kind="stable")
    return pa.concat_arrays(pieces).take(pa.array(order)), codes, langs


def write_clusters(
    out: IO[str], folder: Path, layout: RecordLayout, decisions: Decisions,
    roots: np.ndarray, stats: DedupStats, batch: int = 10_000,
) -> None:  # fmt: skip
    """clusters.tsv: one row per document, in input order (as `dedup`'s)."""
    import csv

    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CLUSTER_COLUMNS)
    ids, codes, langs = record_ids(folder, layout)
    for start in range(0, layout.total, batch):
        end = min(start + batch, layout.total)
        doc_ids = ids.slice(start, end - start).to_pylist()
        clusters = ids.take(pa.array(roots[start:end])).to_pylist()
        matched = decisions.matched[start:end]
        matched_ids = ids.take(pa.array(np.maximum(matched, 0))).to_pylist()
        for k in range(end - start):
            g = start + k
            a = Assignment(
                doc_ids[k], clusters[k], langs[codes[g]], ROLES[decisions.roles[g]],
                float(decisions.scores[g]), matched_ids[k] if matched[k] >= 0 else "",
            )  # fmt: skip
            writer.writerow(
                [a.doc_id, a.cluster_id, a.lang, a.role, f"{a.score:.4f}", a.matched_doc]
            )
            stats.count(a, bool(decisions.exact[g]))


def canonical_by_position(decisions: Decisions) -> Callable[[Sequence[Any], int], list[bool]]:
    """For `dedup.write_kept`: whether each of the documents from `start` on (input order)
    is the canonical document of its cluster."""

    def kept(docs: Sequence[Any], start: int) -> list[bool]:
        return (decisions.matched[start : start + len(docs)] < 0).tolist()

    return kept
