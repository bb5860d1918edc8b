"""`aligner index add`: incremental, idempotent, safe to kill, one writer at a time."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.docvec import FIT_DOCS
from aligner.encoders import load_encoder
from aligner.store import HNSW_FACTORY, ArchiveStore, StoreConfig, auto_factory

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 40
DIM = 128  # document vectors: the first chunk is FIT_DOCS * DIM documents (to fit a projection)
FIRST = FIT_DOCS * DIM


def make_archive(seeds_dir: Path, path: Path, n: int) -> list[str]:
    """n distinct documents: lines of the seed reports, shuffled into new combinations."""
    lines = [
        line
        for seed in sorted(seeds_dir.glob("*.txt"))
        for line in seed.read_text(encoding="utf-8").splitlines()
        if len(line) > 40
    ]
    rng = random.Random(0)
    ids = []
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            doc_id = f"d{i:05d}"
            text = "\n".join(rng.sample(lines, 4)) + f"\nشماره {i}"
            handle.write(json.dumps({"id": doc_id, "text": text, "n": i}, ensure_ascii=False))
            handle.write("\n")
            ids.append(doc_id)
    return ids


def add(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["index", "add", *args])
    assert result.exit_code == expect, result.output
    return result.output


def snapshot(folder: Path) -> dict[str, object]:
    """What a reader sees: ids, generation, and every stored vector and FAISS hit."""
    with ArchiveStore.open(folder) as store:
        docs = {(r.id, r.lang, r.content_hash) for r in store.iter_documents()}
        ids = {r.row: r.id for r in store.iter_documents()}
        vectors = {}
        for lang in store.search_languages():
            rows, matrix = store.vectors_of(lang)
            vectors.update((ids[int(r)], v.tobytes()) for r, v in zip(rows, matrix))
        ntotal = {lang: info["vectors"] for lang, info in store.faiss_info().items()}
        return {"docs": docs, "generation": store.generation, "ntotal": ntotal, "v": vectors}


def assert_same_vectors(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    """Equal up to float rounding (BLAS sums in another order with other thread counts)."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = np.frombuffer(a[key], np.float32), np.frombuffer(b[key], np.float32)
        assert np.allclose(x, y, atol=1e-5), key


def assert_consistent(folder: Path) -> set[str]:
    """The index opens, FAISS holds exactly the stored rows, and every row has its
    sentences and vector. Returns the stored ids."""
    with ArchiveStore.open(folder) as store:
        rows = {r.row: r for r in store.iter_documents()}
        for lang in store.search_languages():
            stored, vectors = store.vectors_of(lang)
            assert store.faiss_info()[lang]["vectors"] == len(stored)
            assert set(stored.tolist()) == {r for r, d in rows.items() if d.lang == lang}
            # every stored vector finds itself
            if len(stored):
                _, hits = store.search(vectors[:5], lang, 1)
                assert hits[:, 0].tolist() == stored[:5].tolist()
        assert set(store.sentence_texts(list(rows))) == set(rows)
        return {r.id for r in rows.values()}


def test_add_is_idempotent_and_incremental(seeds_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    out = add(str(seeds_dir), "--index", str(folder))
    assert "5 added" in out
    before = snapshot(folder)
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    out = add(str(seeds_dir), "--index", str(folder))
    assert "0 added, 0 updated, 5 unchanged" in out
    assert snapshot(folder) == before
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "lock"} == {
        k: v for k, v in files.items() if k != "lock"
    }

    # a changed document is updated, a new one appended
    archive = tmp_path / "more.jsonl"
    text = (seeds_dir / "000_0b3d61da6e3e4f39.txt").read_text(encoding="utf-8")
    archive.write_text(
        json.dumps({"id": "000_0b3d61da6e3e4f39", "text": text + "\nانتهای پیام\nخبر تازه"})
        + "\n"
        + json.dumps({"id": "new", "text": "خبر کاملا تازه درباره نشست وزیران نفت اوپک."})
        + "\n",
        encoding="utf-8",
    )
    out = add(str(archive), "--index", str(folder))
    assert "1 added, 1 updated, 0 unchanged" in out
    ids = assert_consistent(folder)
    assert len(ids) == 6
    after = snapshot(folder)
    assert after["generation"] == before["generation"] + 1  # type: ignore[operator]


def test_search_and_info(seeds_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    add(str(seeds_dir), "--index", str(folder), "-q")
    runner = CliRunner()
    result = runner.invoke(main, ["index", "info", "--index", str(folder)])
    assert result.exit_code == 0, result.output
    assert "documents:  5" in result.output and "fa: 3 (Flat)" in result.output
    query = seeds_dir / "004_e5f69c90d0bd1dfa.txt"
    result = runner.invoke(main, ["index", "search", str(query), "--index", str(folder), "-k", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "rank\tdoc_id\tlang\tscore\ttitle"
    assert lines[1].split("\t")[1] == "004_e5f69c90d0bd1dfa"


def test_other_encoder_or_folder_is_refused(seeds_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    add(str(seeds_dir), "--index", str(folder), "-q")
    out = add(str(seeds_dir), "--index", str(folder), "--model", "builtin:1024", expect=3)
    assert "made with encoder" in out
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    out = add(str(seeds_dir), "--index", str(other), expect=3)
    assert "not an aligner index and not empty" in out


def test_second_writer_fails_clearly_or_waits(seeds_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    add(str(seeds_dir), "--index", str(folder), "-q")
    identity = load_encoder("builtin").identity
    holder = ArchiveStore.open(folder, identity, write=True)
    try:
        out = add(str(seeds_dir), "--index", str(folder), "--lock-timeout", "0.3", expect=3)
        assert "being written by another process" in out and f"pid {os.getpid()}" in out
        threading.Timer(0.5, holder.close).start()  # the waiting writer gets its turn
        out = add(str(seeds_dir), "--index", str(folder), "--lock-timeout", "20")
        assert "5 unchanged" in out
    finally:
        holder.close()


def _generation(folder: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        finally:
            db.close()
    except (sqlite3.Error, TypeError):
        return -1


@pytest.fixture(scope="module")
def big_archive(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("kill")
    path = folder / "archive.jsonl"
    return path, make_archive(seeds_dir, path, FIRST + 6 * CHUNK)


@pytest.fixture(scope="module")
def reference(big_archive: tuple[Path, list], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The index an uninterrupted run makes."""
    folder = tmp_path_factory.mktemp("ref") / "idx"
    add(str(big_archive[0]), "--index", str(folder), "--chunk-size", str(CHUNK), "-q",
        "--doc-dim", str(DIM))  # fmt: skip
    with ArchiveStore.open(folder) as store:
        assert store.doc_space().kind == "pca"
    return snapshot(folder)


def _alive() -> set[int]:
    """Running process ids (Linux /proc; empty elsewhere)."""
    return {int(p) for p in os.listdir("/proc") if p.isdigit()} if os.path.isdir("/proc") else set()


def _children(pid: int) -> set[int]:
    """Processes whose parent is pid (Linux /proc; empty elsewhere)."""
    found = set()
    for p in _alive():
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(p)
    return found


@pytest.mark.parametrize("moment", [0, 1, 3, 6])
def test_killed_add_leaves_a_usable_index_and_a_rerun_completes_it(
    moment: int, big_archive: tuple[Path, list], reference: dict, tmp_path: Path
) -> None:
    archive, ids = big_archive
    folder = tmp_path / "idx"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "aligner.cli", "index", "add", str(archive), "--index",
               str(folder), "--chunk-size", str(CHUNK), "--doc-dim", str(DIM),
               "--cache-every", "0", "-q"]  # fmt: skip
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Wait for the chosen chunk, then a random few milliseconds: the kill lands anywhere in
    # a transaction, a FAISS cache write or the manifest update.
    deadline = time.monotonic() + 60
    while _generation(folder) < moment and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(random.Random(moment).uniform(0, 0.15))
    workers = _children(child.pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    # its worker processes end with it (they used to wait for work forever)
    deadline = time.monotonic() + 20
    while workers & _alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not workers & _alive()

    if (folder / "manifest.json").exists():
        stored = assert_consistent(folder)
        # whole chunks, in input order: a prefix of the archive
        n = len(stored)
        assert n in (0, len(ids)) or (n >= FIRST and (n - FIRST) % CHUNK == 0)
        assert stored == set(ids[: len(stored)])
        print(f"killed at chunk {moment}: {len(stored)} of {len(ids)} documents stored")
    else:
        assert moment == 0  # killed while the index was being created: no index yet

    rerun = subprocess.run(command[:-3], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert assert_consistent(folder) == set(ids)
    final = snapshot(folder)
    assert final["docs"] == reference["docs"]
    assert final["ntotal"] == reference["ntotal"]
    # the same vectors as an uninterrupted run: the language centres survive the kill
    assert_same_vectors(final["v"], reference["v"])


def test_vectors_equal_after_interrupted_run(
    big_archive: tuple[Path, list], reference: dict, tmp_path: Path
) -> None:
    """Resuming gives bit-identical vectors: stop after 3 chunks (as a kill would), go on."""
    archive, ids = big_archive
    part = tmp_path / "part.jsonl"
    done = FIRST + 2 * CHUNK
    part.write_text("".join(archive.read_text(encoding="utf-8").splitlines(True)[:done]))
    folder = tmp_path / "idx"
    options = ["--index", str(folder), "--chunk-size", str(CHUNK), "--doc-dim", str(DIM)]
    add(str(part), *options, "-q")
    out = add(str(archive), *options)
    assert f"{len(ids) - done:,} added, 0 updated, {done:,} unchanged" in out
    final = snapshot(folder)
    assert final["docs"] == reference["docs"]
    assert_same_vectors(final["v"], reference["v"])


@pytest.mark.parametrize("factory", ["HNSW32", HNSW_FACTORY])
def test_faiss_factory_is_configurable_and_remembered(
    factory: str, seeds_dir: Path, tmp_path: Path
) -> None:
    """Any HNSW factory; `HNSW_FACTORY` (float16 vectors) is what large stores get."""
    folder = tmp_path / "idx"
    add(str(seeds_dir), "--index", str(folder), "-q", "--faiss-factory", factory)
    with ArchiveStore.open(folder) as store:
        assert {info["factory"] for info in store.faiss_info().values()} == {factory}
        # built with the store's construction breadth, which the manifest records and the
        # saved index keeps (read back from its file here)
        assert store.manifest["ef_construction"] == StoreConfig.ef_construction != 40
        for index in store._faiss.values():
            inner = faiss.downcast_index(index.index)
            assert inner.hnsw.efConstruction == StoreConfig.ef_construction
    # an update on HNSW (which cannot remove) keeps search right: the old row is skipped
    text = (seeds_dir / "001_2ad9410abe4922a4.txt").read_text(encoding="utf-8")
    archive = tmp_path / "upd.jsonl"
    archive.write_text(json.dumps({"id": "001_2ad9410abe4922a4", "text": text[:400]}) + "\n")
    add(str(archive), "--index", str(folder), "-q")
    result = CliRunner().invoke(
        main, ["index", "search", text[:400], "--index", str(folder), "-k", "10"]
    )
    assert result.exit_code == 0, result.output
    hits = [line.split("\t")[1] for line in result.output.splitlines()[1:]]
    assert hits[0] == "001_2ad9410abe4922a4" and len(hits) == len(set(hits)) == 5
    with ArchiveStore.open(folder) as store:
        assert store.faiss_info()["fa"]["factory"] == factory
    assert auto_factory(10**6, StoreConfig()) == HNSW_FACTORY


def test_background_preparation_gives_the_same_index_and_clusters(
    big_archive: tuple[Path, list],
    reference: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next chunk prepared in a worker process (the default for a multi-chunk input),
    everything in one process, and pairs verified in a pool of processes give identical
    vectors and identical dedup decisions."""
    from aligner.dedup import DedupParams, dedup
    from aligner.dedup.scoring import PoolScorer
    from aligner.docvec import doc_dim_for
    from aligner.ingest import add_documents
    from aligner.store import StoreConfig

    archive, _ = big_archive
    encoder = load_encoder("builtin")
    config = StoreConfig(doc_dim=doc_dim_for(encoder, DIM))
    folder = tmp_path / "inline"
    with ArchiveStore.open(folder, encoder.identity, write=True, config=config) as store:
        add_documents([archive], store, encoder, CHUNK, show_progress=False, workers=0)
    inline = snapshot(folder)
    assert inline["docs"] == reference["docs"]
    assert_same_vectors(inline["v"], reference["v"])

    monkeypatch.setattr(PoolScorer, "serial_below", 1)  # every chunk goes to the pool
    clusters = {}
    for workers, verifiers in ((1, 1), (0, 1), (0, 2)):
        folder = tmp_path / f"dedup-{workers}-{verifiers}"
        out = tmp_path / f"clusters-{workers}-{verifiers}.tsv"
        params = DedupParams(chunk_size=CHUNK, prepare_workers=workers, workers=verifiers)
        with (
            ArchiveStore.open(folder, encoder.identity, write=True, config=config) as store,
            open(out, "w", encoding="utf-8") as handle,
        ):
            stats = dedup([archive], store, encoder, handle, params, show_progress=False)
        assert stats.documents == len(big_archive[1])
        clusters[workers, verifiers] = out.read_text(encoding="utf-8")
    assert "\tduplicate\t" in clusters[1, 1]
    assert clusters[1, 1] == clusters[0, 1] == clusters[0, 2]


def test_id_repeated_in_a_later_chunk_is_refused(
    big_archive: tuple[Path, list], tmp_path: Path
) -> None:
    """The worker prepares a chunk before the previous one is committed; the repeated id
    is still caught (the chunk is looked up again after the commit)."""
    lines = big_archive[0].read_text(encoding="utf-8").splitlines(True)
    repeated = json.loads(lines[FIRST + 1])
    repeated["text"] += "\nجمله تازه"
    lines.insert(FIRST + 3 * CHUNK, json.dumps(repeated, ensure_ascii=False) + "\n")
    archive = tmp_path / "repeated.jsonl"
    archive.write_text("".join(lines), encoding="utf-8")
    folder = tmp_path / "idx"
    out = add(str(archive), "--index", str(folder), "--chunk-size", str(CHUNK),
              "--doc-dim", str(DIM), "-q", expect=4)  # fmt: skip
    assert f"duplicate document id {repeated['id']!r}" in out
    with ArchiveStore.open(folder) as store:  # whole chunks before it, nothing after
        assert len(store) == FIRST + 3 * CHUNK


def test_new_language_in_chunks_prepared_at_once_gets_one_centre(
    big_archive: tuple[Path, list], tmp_path: Path
) -> None:
    """Two workers prepare two chunks at once, both with a language the store has not
    seen: the second is embedded again with the centre the first fixed, so the vectors
    are those of a run in one process."""
    from aligner.docvec import doc_dim_for
    from aligner.ingest import add_documents
    from aligner.store import StoreConfig

    lines = big_archive[0].read_text(encoding="utf-8").splitlines(True)[: FIRST + 4 * CHUNK]
    english = [
        "The two presidents spoke by telephone about trade and energy.",
        "Officials said the talks would continue in Astana next month.",
        "Gas exports and regional security were also discussed at length.",
    ]
    for k, at in enumerate((FIRST + CHUNK + 5, FIRST + 2 * CHUNK + 5)):
        record = {"id": f"en{k}", "text": "\n".join(english[k:] + english[:k])}
        lines[at] = json.dumps(record) + "\n"
    archive = tmp_path / "mixed.jsonl"
    archive.write_text("".join(lines), encoding="utf-8")
    encoder = load_encoder("builtin")
    config = StoreConfig(doc_dim=doc_dim_for(encoder, DIM))
    snapshots = []
    for workers in (2, 0):
        folder = tmp_path / f"idx-{workers}"
        with ArchiveStore.open(folder, encoder.identity, write=True, config=config) as store:
            add_documents([archive], store, encoder, CHUNK, False, workers=workers)
            assert "en" in store.languages()
        snapshots.append(snapshot(folder))
    assert snapshots[0]["docs"] == snapshots[1]["docs"]
    assert_same_vectors(snapshots[0]["v"], snapshots[1]["v"])


def test_sketches_are_stored_with_documents_and_optional(
    big_archive: tuple[Path, list], tmp_path: Path
) -> None:
    """A store fitted with a projection keeps each document's sentence sketches (one
    unit row per sentence) and the sketch projection; a store without them (an older one)
    still deduplicates, screening on full vectors, and gets the language index that
    counting documents per language uses."""
    from aligner.docvec import SKETCH_DIM

    folder = tmp_path / "idx"
    add(str(big_archive[0]), "--index", str(folder), "--chunk-size", str(CHUNK),
        "--doc-dim", str(DIM), "-q")  # fmt: skip
    with ArchiveStore.open(folder) as store:
        assert store.doc_space().sketch is not None
        rows = [r.row for r in store.iter_documents()]
        sketches = store.sketches(rows)
        assert set(sketches) == set(rows)
        texts = store.sentence_texts(rows[:5])
        for row in rows[:5]:
            assert sketches[row].shape == (len(texts[row]), SKETCH_DIM)
            norms = np.linalg.norm(sketches[row].astype(np.float32), axis=1)
            assert np.allclose(norms, 1.0, atol=1e-2)
    db = sqlite3.connect(folder / "store.sqlite")
    db.executescript(
        "DROP TABLE sketches; DROP TABLE sketch_projection; DROP INDEX documents_lang;"
    )
    db.close()
    out = tmp_path / "clusters.tsv"
    result = CliRunner().invoke(
        main, ["dedup", str(big_archive[0]), "--index", str(folder), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(big_archive[1]) + 1
    db = sqlite3.connect(folder / "store.sqlite")
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT lang, COUNT(*) FROM documents GROUP BY lang"
    ).fetchall()
    db.close()
    assert "documents_lang" in str(plan)
    with ArchiveStore.open(folder) as store:
        counts = Counter(r.lang for r in store.iter_documents())
        assert store.languages() == dict(sorted(counts.items()))
        assert store.manifest["documents"] == store.languages()


def test_background_indexing_leaves_a_complete_index(
    big_archive: tuple[Path, list], tmp_path: Path
) -> None:
    """Dedup adds each chunk to FAISS in a background thread, after the next chunk's
    search: at the end every stored row is in the index, and the clusters are those of
    indexing inside each commit."""
    from aligner.dedup import DedupParams, dedup
    from aligner.docvec import doc_dim_for
    from aligner.store import StoreConfig

    archive, ids = big_archive
    encoder = load_encoder("builtin")
    config = StoreConfig(doc_dim=doc_dim_for(encoder, DIM))
    clusters = {}
    for background in (True, False):
        folder = tmp_path / f"dedup-{background}"
        out = tmp_path / f"clusters-{background}.tsv"
        params = DedupParams(chunk_size=CHUNK, index_in_background=background)
        with (
            ArchiveStore.open(folder, encoder.identity, write=True, config=config) as store,
            open(out, "w", encoding="utf-8") as handle,
        ):
            dedup([archive], store, encoder, handle, params, show_progress=False)
        assert assert_consistent(folder) == set(ids)
        clusters[background] = out.read_text(encoding="utf-8")
    assert clusters[True] == clusters[False]


def test_deferred_index_work(seeds_dir: Path, tmp_path: Path) -> None:
    """commit(defer_index=True) stores the rows at once and leaves FAISS alone until the
    work from take_index_work runs (or the caches are saved)."""
    from aligner.store import StoredDocument

    folder = tmp_path / "index"
    add(str(seeds_dir), "--index", str(folder), "-q")
    with ArchiveStore.open(folder, write=True) as store:
        lang = store.search_languages()[0]
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((2, store.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        doc = StoredDocument("late", lang, "h1", "b1", None, ("یک جمله.",), vectors[0])
        before = store.faiss_info()[lang]["vectors"]
        store.commit([doc], defer_index=True)
        assert store.faiss_info()[lang]["vectors"] == before  # not searched yet
        work = store.take_index_work()
        assert work is not None and store.take_index_work() is None
        work()
        assert store.faiss_info()[lang]["vectors"] == before + 1
        late = store.lookup_ids(["late"])["late"].row
        _, hits = store.search(vectors[:1], lang, 1)
        assert hits[0].tolist() == [late]
        doc2 = StoredDocument("later", lang, "h2", "b2", None, ("دو.",), vectors[1])
        store.commit([doc2], defer_index=True)
        store.save_caches()  # applies what is deferred before writing
    assert "later" in assert_consistent(folder)


def test_features_travel_through_shared_memory_and_are_freed() -> None:
    from aligner.ingest import SharedFeatures, share_features, take_features

    rng = np.random.default_rng(0)
    features = [rng.standard_normal((n, 64)).astype(np.float16) for n in (3, 0, 5)]
    shared = share_features(features)
    assert isinstance(shared, SharedFeatures) and shared.rows == (3, 0, 5)
    back = take_features(shared)
    assert [f.shape for f in back] == [(3, 64), (0, 64), (5, 64)]
    assert all(np.array_equal(a, b) for a, b in zip(features, back))
    if os.path.isdir("/dev/shm"):
        assert shared.name not in os.listdir("/dev/shm")  # the block is removed
    assert share_features([]) == []


def test_interrupted_preparation_leaves_no_shared_memory(
    big_archive: tuple[Path, list], tmp_path: Path
) -> None:
    """A dedup stopped while chunks are being prepared in the worker frees the blocks those
    chunks' features were put in."""
    from aligner.docvec import DocSpace, doc_dim_for
    from aligner.ingest import prepare_chunks, read_chunks
    from aligner.store import StoreConfig

    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm to look at")
    archive, _ = big_archive
    encoder = load_encoder("builtin")
    config = StoreConfig(doc_dim=doc_dim_for(encoder, DIM))
    ours = f"aligner-{os.getpid()}-"  # blocks made by this process's workers
    with ArchiveStore.open(tmp_path / "i", encoder.identity, write=True, config=config) as store:
        space = DocSpace(config.doc_dim)
        chunks = read_chunks([archive], (FIRST, CHUNK))
        prepared = prepare_chunks(chunks, store, encoder, space, "run", True, workers=1)
        next(prepared)
        items, _ = next(prepared)  # came from the worker
        assert any(item.features is not None for item in items)
        prepared.close()  # the worker still had the next chunk
    assert not [name for name in os.listdir("/dev/shm") if name.startswith(ours)]


def test_prepare_worker_uses_one_blas_thread() -> None:
    """The prepare worker shares the cores with its parent: one BLAS thread, whatever
    OpenBLAS would pick for the machine."""
    import concurrent.futures
    import multiprocessing

    import threadpoolctl

    from aligner.ingest import _init_worker

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        1, mp_context=context, initializer=_init_worker, initargs=(load_encoder("builtin"),)
    ) as pool:
        info = pool.submit(threadpoolctl.threadpool_info).result()
    blas = [lib["num_threads"] for lib in info if lib["user_api"] == "blas"]
    assert blas and set(blas) == {1}
