"""Archive-scale benchmark: `aligner index add` and `aligner dedup` on a synthetic archive.

The archive is built from the real Persian-Arabic parallel sentences in ../shared/data:
every "story" is a random set of 5-12 sentence rows, written in Persian or Arabic with
news-site boilerplate, and some stories get planted copies at random later positions:

- exact copies (the same text under another id),
- near copies in the same language (other boilerplate, a sentence cut or added, a word
  edited),
- translations (the same rows in the other language, a sentence dropped or two merged).

Document ids carry the truth (`s<story>-<kind><n>`), so evaluation needs no side file.
Measured: documents/s of `index add` and of `dedup` (both run as the real CLI in a
subprocess), their peak memory (getrusage maxrss of the child), dedup precision and recall
over planted pairs (overall and per kind), recall@10 of the approximate FAISS index against
exact search, and datasketch MinHash LSH on the same-language copies, with three tokenizers.

    python -m bench.archive --docs 10000 [--docs 100000 ...] [--keep-dir out/bench]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import heapq
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aligner.store import HNSW_FACTORY, StoreConfig

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FILES = {
    "flores200-devtest.fa-ar.tsv": ("fa", "ar"),
    "tico19.fa-ar.tsv": ("fa", "ar"),
}

HEADERS = {
    "fa": ["به گزارش خبرگزاری ایرنا،", "به گزارش خبرنگار سیاسی ما،", "سرویس بین الملل:"],
    "ar": ["وكالة الأنباء الرسمية -", "متابعات:", "خاص:"],
}
FOOTERS = {
    "fa": ["انتهای پیام", "کپی برداری از این خبر با ذکر منبع آزاد است.",
           "برای دیدن اخبار بیشتر کلیک کنید"],
    "ar": ["جميع الحقوق محفوظة", "تابعونا على تويتر", "اقرأ أيضا على موقعنا"],
}  # fmt: skip


def load_rows(data: Path = DATA) -> list[tuple[str, str]]:
    """(fa, ar) sentence pairs from the shared TSVs (csv QUOTE_NONE: sentences contain ")."""
    rows: list[tuple[str, str]] = []
    for name in FILES:
        with open(data / name, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader)
            fa, ar = header.index("fa"), header.index("ar")
            for row in reader:
                if len(row) > max(fa, ar) and row[fa].strip() and row[ar].strip():
                    rows.append((row[fa].strip(), row[ar].strip()))
    return rows


@dataclass(frozen=True)
class ArchiveSpec:
    docs: int
    seed: int = 0
    p_exact: float = 0.08
    p_near: float = 0.12
    p_translation: float = 0.12
    spread: int = 3000  # planted copies appear up to this many documents later


def _text(sentences: list[str], lang: str, rng: np.random.Generator) -> str:
    """Sentences in paragraphs of 1-3, with a header and a footer line of boilerplate."""
    lines = [HEADERS[lang][rng.integers(len(HEADERS[lang]))]]
    i = 0
    while i < len(sentences):
        size = int(rng.integers(1, 4))
        lines.append(" ".join(sentences[i : i + size]))
        i += size
    lines.append(FOOTERS[lang][rng.integers(len(FOOTERS[lang]))])
    return "\n".join(lines)


def _edit_word(sentence: str, rng: np.random.Generator) -> str:
    words = sentence.split()
    if len(words) > 4:
        del words[int(rng.integers(1, len(words) - 1))]
    return " ".join(words)


def generate(spec: ArchiveSpec, rows: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """The archive's records, in order (a stream: memory is bounded by `spread`)."""
    rng = np.random.default_rng(spec.seed)
    langs = ("fa", "ar")
    due: list[tuple[int, int, dict[str, Any]]] = []  # (position, tiebreak, record)
    emitted = story = 0
    while emitted < spec.docs:
        if due and due[0][0] <= emitted:
            yield heapq.heappop(due)[2]
            emitted += 1
            continue
        story += 1
        picked = rng.choice(len(rows), int(rng.integers(5, 13)), replace=False)
        li = int(rng.integers(2))
        lang = langs[li]
        sentences = [rows[r][li] for r in picked]
        text = _text(sentences, lang, rng)
        record = {"id": f"s{story}-c0", "text": text, "title": None, "source": "bench"}
        record["title"] = sentences[0][:60]
        record["meta"] = {"story": story, "kind": "canonical"}
        yield record
        emitted += 1

        def plant(kind: str, text: str, n: int, story: int = story, now: int = emitted) -> None:
            at = now + int(rng.integers(1, spec.spread))
            rec = {"id": f"s{story}-{kind[0]}{n}", "text": text, "source": "bench"}
            rec["meta"] = {"story": story, "kind": kind}
            heapq.heappush(due, (at, int(rng.integers(1 << 30)), rec))

        if rng.random() < spec.p_exact:
            plant("exact", text, 1)
        if rng.random() < spec.p_near:
            near = list(sentences)
            if len(near) > 6 and rng.random() < 0.5:
                del near[int(rng.integers(len(near)))]  # a paragraph cut
            else:
                near.append(rows[int(rng.integers(len(rows)))][li])  # a paragraph added
            k = int(rng.integers(len(near)))
            near[k] = _edit_word(near[k], rng)
            plant("near", _text(near, lang, rng), 1)
        if rng.random() < spec.p_translation:
            other = 1 - li
            trans = [rows[r][other] for r in picked]
            if len(trans) > 6 and rng.random() < 0.5:
                del trans[int(rng.integers(len(trans)))]
            if rng.random() < 0.3:
                k = int(rng.integers(len(trans) - 1))
                trans[k : k + 2] = [trans[k].rstrip(".") + "، " + trans[k + 1]]
            plant("translation", _text(trans, langs[other], rng), 1)


def write_archive(path: Path, spec: ArchiveSpec, rows: list[tuple[str, str]]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    with open(path, "w", encoding="utf-8") as handle:
        for record in generate(spec, rows):
            kind = record["meta"]["kind"]
            kinds[kind] = kinds.get(kind, 0) + 1
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return kinds


def story_of(doc_id: str) -> int:
    return int(doc_id[1 : doc_id.index("-")])


def kind_of(doc_id: str) -> str:
    return {"c": "canonical", "e": "exact", "n": "near", "t": "translation"}[
        doc_id[doc_id.index("-") + 1]
    ]


# -- running the CLI ---------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system: the figure that does not depend on other load
    max_rss_mib: float  # the largest single process (getrusage)
    tree_rss_mib: float  # the most the command and its worker processes held together
    output: str
    own_cpu_seconds: float = 0.0  # the command's process alone, its children not counted


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants, from /proc (0 where unreadable):
    proportional set sizes where the kernel gives them, so that memory the processes share
    (Ray's object store, mapped by each of its workers) counts once, else resident sizes."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _own_memory(current)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


def _own_memory(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _TreeSampler(threading.Thread):
    """Samples `_tree_rss` every 0.2 s: dedup and index add prepare chunks in a second
    process, whose memory getrusage would report apart, not added to the first's."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        self.own_cpu = 0.0
        while not self.done.wait(0.2):
            self.peak = max(self.peak, _tree_rss(self.pid))
            self.own_cpu = max(self.own_cpu, _own_cpu(self.pid))


def _own_cpu(pid: int) -> float:
    """User + system seconds of the process itself (not its children), 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def run_cli(args: list[str]) -> Run:
    """Run `aligner ARGS` in a child process; its own wall time and peak memory."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "aligner.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = _TreeSampler(child.pid)
    sampler.start()
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    sampler.done.set()
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"aligner {' '.join(args)} failed ({child.returncode}):\n{output}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        seconds, cpu, usage.ru_maxrss / 1024, sampler.peak / 2**20, output.strip(),
        sampler.own_cpu,
    )  # fmt: skip


# -- evaluation ----------------------------------------------------------------------------
def read_clusters(path: Path) -> dict[str, tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return {row["doc_id"]: (row["cluster_id"], row["role"]) for row in reader}


def pair_quality(cluster_of: dict[str, Any]) -> dict[str, float]:
    """Pairwise precision and recall of a clustering against the planted stories, and the
    recall of each kind of planted copy (is it in its original's cluster?)."""
    members: dict[Any, list[str]] = {}
    for doc, cluster in cluster_of.items():
        members.setdefault(cluster, []).append(doc)
    predicted = correct = 0
    for docs in members.values():
        stories: dict[int, int] = {}
        for doc in docs:
            stories[story_of(doc)] = stories.get(story_of(doc), 0) + 1
        predicted += len(docs) * (len(docs) - 1) // 2
        correct += sum(n * (n - 1) // 2 for n in stories.values())
    by_story: dict[int, int] = {}
    for doc in cluster_of:
        by_story[story_of(doc)] = by_story.get(story_of(doc), 0) + 1
    true_pairs = sum(n * (n - 1) // 2 for n in by_story.values())
    found: dict[str, list[bool]] = {}
    for doc, cluster in cluster_of.items():
        kind = kind_of(doc)
        if kind != "canonical":
            original = f"s{story_of(doc)}-c0"
            found.setdefault(kind, []).append(cluster_of.get(original) == cluster)
    out = {
        "precision": correct / predicted if predicted else 1.0,
        "recall": correct / true_pairs if true_pairs else 1.0,
    }
    for kind, hits in sorted(found.items()):
        out[f"recall_{kind}"] = sum(hits) / len(hits)
    return out


def recall_at_k(
    index_dir: Path, k: int = 10, queries: int = 1000, nprobes: tuple[int, ...] = (16, 32, 64, 128)
) -> dict[str, Any]:
    """recall@k of approximate FAISS indexes against exact search, per language, with
    search time per query: HNSW (`HNSW_FACTORY`, what the store uses above 50,000
    documents per language) at several efSearch values, and IVF (nlist ~ 4 sqrt(n),
    capped at n/40 so that it can be trained) at several nprobe values."""
    import faiss

    from aligner.store import ArchiveStore, new_faiss

    out: dict[str, Any] = {}
    with ArchiveStore.open(index_dir) as store:
        for lang in store.search_languages():
            rows, vectors = store.vectors_of(lang)
            if len(rows) < 50 * k:
                continue
            rng = np.random.default_rng(0)
            q = vectors[rng.choice(len(rows), min(queries, len(rows)), replace=False)]
            exact = faiss.IndexFlatIP(store.dim)
            exact.add(vectors)
            started = time.perf_counter()
            _, truth = exact.search(q, k)
            exact_ms = 1000 * (time.perf_counter() - started) / len(q)
            nlist = 2 ** round(np.log2(4 * np.sqrt(len(rows))))
            lists = max(16, min(nlist, len(rows) // 40))
            factory = f"IVF{lists},Flat"
            ids = np.arange(len(rows), dtype=np.int64)
            candidates: list[tuple[str, Any, Any]] = []
            ivf = new_faiss(store.dim, factory)
            # trained on a sample (FAISS's own k-means default is 256 points a list) so
            # that 500,000 vectors of a language train in seconds, not tens of minutes
            sample = rng.choice(len(rows), min(len(rows), 64 * lists), replace=False)
            ivf.train(vectors[np.sort(sample)])
            ivf.add_with_ids(vectors, ids)
            for nprobe in nprobes:
                candidates.append((f"{factory} nprobe {nprobe}", ivf, ("nprobe", nprobe)))
            # The store's own index where it is HNSW (what dedup searched), else one
            # built here for comparison. Its ids are store rows: truth is mapped to them.
            own = store.faiss_info()[lang]["factory"] == HNSW_FACTORY
            hnsw_build = 0.0
            if not own:
                hnsw = new_faiss(store.dim, HNSW_FACTORY, store.config.ef_construction)
                started = time.perf_counter()
                hnsw.add_with_ids(vectors, ids)
                hnsw_build = time.perf_counter() - started
            for ef in (32, 64, 128, 256, 384, 512):
                name = f"{HNSW_FACTORY} efSearch {ef}"
                candidates.append((name, None if own else hnsw, ("ef", ef)))
            lang_out: dict[str, Any] = {"docs": len(rows), "exact_ms_per_query": exact_ms,
                                        "hnsw_build_s": hnsw_build,
                                        "hnsw": "the store's" if own else "built"}  # fmt: skip
            for name, index, (knob, value) in candidates:
                started = time.perf_counter()
                if index is None:  # the store's index, searched as dedup searches it
                    _, found = store.search(q, lang, k, ef_search=value)
                    by_row = np.argsort(rows)  # store row -> position in `vectors`
                    at = np.searchsorted(rows[by_row], np.maximum(found, 0))
                    approx = np.where(found >= 0, by_row[np.minimum(at, len(rows) - 1)], -1)
                else:
                    if knob == "nprobe":
                        faiss.extract_index_ivf(index).nprobe = value
                    else:
                        faiss.downcast_index(index.index).hnsw.efSearch = value
                    _, approx = index.search(q, k)
                ms = 1000 * (time.perf_counter() - started) / len(q)
                hits = sum(len(set(a) & set(t)) for a, t in zip(approx, truth))
                lang_out[name] = {"recall": hits / truth.size, "ms_per_query": ms}
            out[lang] = lang_out
    return out


# -- MinHash LSH (datasketch), same-language copies only ------------------------------------
_ASCII_WORD = re.compile(r"[^A-Za-z_0-9]+")


def tokens_ascii(text: str) -> set[str]:
    """text-dedup's default split (non-ASCII characters are separators): an Arabic-script
    document has no tokens at all, so every one looks like every other (text-dedup #90)."""
    return {t for t in _ASCII_WORD.split(text.lower()) if t}


def tokens_whitespace(text: str) -> set[str]:
    return set(text.split())


def tokens_sensible(text: str) -> set[str]:
    """Normalised words (aligner.normalize folds letter variants, drops diacritics and
    punctuation) as 3-word shingles."""
    from aligner.normalize import normalize

    words = re.findall(r"\w+", normalize(text))
    return {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def minhash_dedup(
    archive: Path, limit: int, tokenizer: Any, threshold: float = 0.5, num_perm: int = 128
) -> dict[str, float]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    cluster_of: dict[str, str] = {}
    started = time.monotonic()
    with open(archive, encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if n >= limit:
                break
            record = json.loads(line)
            if kind_of(record["id"]) == "translation":
                continue  # MinHash compares words: it cannot see across languages
            m = MinHash(num_perm=num_perm)
            m.update_batch([t.encode("utf-8") for t in tokenizer(record["text"])])
            hits = lsh.query(m)
            cluster_of[record["id"]] = cluster_of[min(hits)] if hits else record["id"]
            lsh.insert(record["id"], m)
    seconds = time.monotonic() - started
    quality = pair_quality(cluster_of)
    marked = sum(1 for d, c in cluster_of.items() if d != c) / max(len(cluster_of), 1)
    return {"docs_per_s": len(cluster_of) / seconds, "marked_duplicate": marked, **quality}


# -- the benchmark -------------------------------------------------------------------------
def bench_one(
    n: int,
    work: Path,
    rows: list[tuple[str, str]],
    minhash_limit: int,
    extra: list[str],
    with_add: bool = True,
) -> dict[str, Any]:
    archive = work / f"archive-{n}.jsonl"
    started = time.monotonic()
    kinds = write_archive(archive, ArchiveSpec(n), rows)
    result: dict[str, Any] = {"docs": n, "planted": kinds, "generate_s": time.monotonic() - started}
    result["index_add"] = result["index_readd"] = None
    if with_add:
        index = str(work / f"add-{n}")
        add = run_cli(["index", "add", str(archive), "--index", index, "-q", *extra])
        result["index_add"] = {"seconds": add.seconds, "docs_per_s": n / add.seconds,
                               "docs_per_cpu_s": n / add.cpu_seconds,
                               "max_rss_mib": add.tree_rss_mib}  # fmt: skip
        rerun = run_cli(["index", "add", str(archive), "--index", index, "-q", *extra])
        result["index_readd"] = {"seconds": rerun.seconds, "docs_per_s": n / rerun.seconds}
    clusters = work / f"clusters-{n}.tsv"
    dedup_index = work / f"dedup-{n}"
    run = run_cli(["dedup", str(archive), "--index", str(dedup_index), "-o", str(clusters),
                   "--keep", str(work / f"kept-{n}.jsonl"), *extra])  # fmt: skip
    result["dedup"] = {"seconds": run.seconds, "docs_per_s": n / run.seconds,
                       "docs_per_cpu_s": n / run.cpu_seconds,
                       "max_rss_mib": run.tree_rss_mib, "summary": run.output[-400:]}  # fmt: skip
    assigned = read_clusters(clusters)
    result["quality"] = pair_quality({doc: c for doc, (c, _) in assigned.items()})
    roles_ok = [
        (kind_of(d) == "translation") == (role == "translation")
        for d, (_, role) in assigned.items()
        if kind_of(d) != "canonical" and role != "canonical"
    ]
    result["quality"]["role_accuracy"] = sum(roles_ok) / max(len(roles_ok), 1)
    result["recall_at_10"] = recall_at_k(dedup_index)
    result["minhash"] = {
        name: minhash_dedup(archive, min(n, minhash_limit), tokenizer)
        for name, tokenizer in (
            ("ascii (text-dedup default)", tokens_ascii),
            ("whitespace", tokens_whitespace),
            ("normalised 3-shingles", tokens_sensible),
        )
    }
    result["minhash_docs"] = min(n, minhash_limit)
    return result


def _cell(measured: dict[str, Any] | None, key: str) -> str:
    return "not run" if measured is None else f"{measured[key]:.0f}"


def print_table(results: list[dict[str, Any]]) -> None:
    print("\nArchive benchmark (builtin encoder; CLI in a child process; memory = peak RSS of")
    print("the command and its worker process together, sampled every 0.2 s;")
    print("docs/s = wall clock, docs/cpu-s = per second of CPU time, free of other load)")
    head = ("docs", "add docs/s", "add docs/cpu-s", "add MiB", "re-add docs/s", "dedup docs/s",
            "dedup docs/cpu-s", "dedup MiB",
            "precision", "recall", "exact", "near", "transl.", "recall@10")  # fmt: skip
    print(" | ".join(head))
    for r in results:
        q = r["quality"]
        default = f"{HNSW_FACTORY} efSearch {StoreConfig.ef_search}"
        at10 = ", ".join(
            f"{lang} {m['recall']:.3f} ({name})"
            for lang, v in r["recall_at_10"].items()
            for name, m in v.items()
            if isinstance(m, dict) and name.endswith(default)
        )
        cells = (
            f"{r['docs']:,}", _cell(r["index_add"], "docs_per_s"),
            _cell(r["index_add"], "docs_per_cpu_s"), _cell(r["index_add"], "max_rss_mib"),
            _cell(r["index_readd"], "docs_per_s"), f"{r['dedup']['docs_per_s']:.0f}",
            f"{r['dedup']['docs_per_cpu_s']:.0f}", f"{r['dedup']['max_rss_mib']:.0f}",
            f"{q['precision']:.3f}", f"{q['recall']:.3f}", f"{q.get('recall_exact', 0):.3f}",
            f"{q.get('recall_near', 0):.3f}", f"{q.get('recall_translation', 0):.3f}", at10,
        )  # fmt: skip
        print(" | ".join(cells))
    print("\nrecall@10 against exact search (1,000 stored documents as queries)")
    print("docs | lang | index | recall@10 | ms/query (exact: ms/query)")
    for r in results:
        for lang, v in r["recall_at_10"].items():
            for name, m in v.items():
                if isinstance(m, dict):
                    print(f"{v['docs']:,} | {lang} | {name} | {m['recall']:.3f} | "
                          f"{m['ms_per_query']:.3f} ({v['exact_ms_per_query']:.3f})")  # fmt: skip
    print("\nMinHash LSH (datasketch, 128 permutations, threshold 0.5), same-language copies")
    print("docs | tokenizer | docs/s | marked duplicate | precision | recall")
    for r in results:
        for name, m in r["minhash"].items():
            rate, marked = m["docs_per_s"], m["marked_duplicate"]
            print(f"{r['minhash_docs']:,} | {name} | {rate:.0f} | {marked:.3f} | "
                  f"{m['precision']:.3f} | {m['recall']:.3f}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    parser.add_argument("--docs", type=int, action="append", help="archive size (repeatable)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    parser.add_argument("--minhash-limit", type=int, default=20000)
    parser.add_argument("--aligner-args", default="", help="extra CLI options, e.g. --doc-dim 512")
    parser.add_argument(
        "--no-add", action="store_true", help="dedup only (no `index add` and re-add runs)"
    )
    args = parser.parse_args(argv)
    if not all((args.data / name).is_file() for name in FILES):
        print(f"bench.archive: skipped: development data not found in {args.data}")
        return {"skipped": f"no data in {args.data}"}
    rows = load_rows(args.data)
    sizes = args.docs or [10000]
    work = args.work or Path(tempfile.mkdtemp(prefix="aligner-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sizes:
            results.append(
                bench_one(n, work, rows, args.minhash_limit, args.aligner_args.split(),
                          with_add=not args.no_add)
            )  # fmt: skip
            print(json.dumps(results[-1], indent=1, default=str), file=sys.stderr)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(benchmark process itself: peak {own:.0f} MiB)")
    return {"results": results}


if __name__ == "__main__":
    main()


def run(data: Path = DATA, quick: bool = False) -> Any:
    """The hook `python -m bench` calls: the archive benchmark at the sizes in
    BENCH_ARCHIVE_DOCS (comma-separated; default 10000, 2000 with --quick), its printed
    tables as a report section with the issue's targets. The dedup time of 1,000,000
    documents is projected from the largest size run (linearly, which flatters it: the
    rate falls as the archive grows) unless that size was 1,000,000."""
    from bench.common import Section

    title = "Near-duplicates: `aligner dedup` (bench/archive.py)"
    sizes = os.environ.get("BENCH_ARCHIVE_DOCS", "2000" if quick else "10000")
    argv = ["--data", str(data)]
    for size in sizes.split(","):
        argv += ["--docs", size.strip()]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = main(argv)
    section = Section(title)
    if "skipped" in result:
        section.skip("archive benchmark", result["skipped"])
        return section
    section.add(f"Command: `python -m bench.archive {' '.join(argv[2:])}` "
                "(sizes from BENCH_ARCHIVE_DOCS)", "",
                "```", printed.getvalue().strip(), "```", "")  # fmt: skip
    last = result["results"][-1]
    n, rate = last["docs"], last["dedup"]["docs_per_s"]
    hours = 1_000_000 / rate / 3600
    how = "measured" if n >= 1_000_000 else f"projected from {n:,} documents"
    section.target("dedup of 1,000,000 documents (builtin, 2 cores)",
                   f"{hours:.1f} h ({rate:.0f} docs/s at {n:,}; {how})", "< 1 h",
                   hours < 1 and n >= 1_000_000)  # fmt: skip
    peak = max(last["dedup"]["max_rss_mib"], (last["index_add"] or {}).get("max_rss_mib", 0))
    peak /= 1024
    section.target(f"peak memory, dedup / index add, {n:,} documents", f"{peak:.2f} GiB",
                   "< 8 GiB at 1,000,000", peak < 8 if n >= 1_000_000 else None)  # fmt: skip
    q = last["quality"]
    both = q["precision"] >= 0.95 and q["recall"] >= 0.95
    section.target(f"dedup precision / recall on planted copies, {n:,} documents",
                   f"{q['precision']:.3f} / {q['recall']:.3f}", "≥ 0.95 / ≥ 0.95 at 1,000,000",
                   both if n >= 1_000_000 else None)  # fmt: skip
    recalls = [v[f"{HNSW_FACTORY} efSearch {StoreConfig.ef_search}"]["recall"]
               for v in last["recall_at_10"].values()]  # fmt: skip
    if recalls:
        section.target(f"recall@10 of the approximate index ({HNSW_FACTORY}) vs exact",
                       f"{min(recalls):.3f}", "≥ 0.95", min(recalls) >= 0.95)  # fmt: skip
    return section
