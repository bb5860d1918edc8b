"""Adding each chunk to the FAISS indexes in a background thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faiss

from aligner.store import ArchiveStore


class IndexThread:
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
