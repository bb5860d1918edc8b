"""How aligner's processes run: threads, worker processes, memory and the garbage collector.

Small helpers shared by every pipeline (match, index add, dedup), each measured where it
is used: one BLAS thread for many small products, one FAISS thread beside a worker, worker
processes that end with their parent, a heap that is kept, a collector that runs less.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from typing import Any

import faiss


class single_threaded_blas(contextlib.ContextDecorator):
    """One BLAS thread, as a context or a decorator. Matching and verification multiply
    many small matrices (one set per candidate pair); a multi-threaded BLAS spends more on
    waking and spinning its threads than on the products: measured 4x slower in wall and
    CPU time on the 2-core machine (match), 3x (dedup's verification)."""

    def __init__(self) -> None:
        self._entered: list[Any] = []  # a decorated function may be entered again

    def __enter__(self) -> single_threaded_blas:
        from threadpoolctl import threadpool_limits

        self._entered.append(threadpool_limits(limits=1, user_api="blas"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._entered.pop().unregister()


def init_worker() -> None:
    """What every worker process does first: end with its parent, keep its heap, and use
    one BLAS thread (a worker shares the cores with the process that started it; with
    OpenBLAS's default of a thread a core, dedup's worker kept a second thread busy, a
    third of it spinning: perf, 3.5% of dedup's CPU samples)."""
    from threadpoolctl import threadpool_limits

    exit_with_parent()
    keep_heap()
    threadpool_limits(1, user_api="blas")


@contextlib.contextmanager
def single_threaded_faiss() -> Iterator[None]:
    """FAISS on one OpenMP thread, for a process that keeps a worker process busy beside
    it (dedup): the threads only contend for the same two cores (measured: 5% of dedup's
    wall time on 5,000 documents against a 150,000-document store)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector, less often. Dedup (and to a lesser degree index
    add) keeps hundreds of thousands of objects alive (cached documents, sentences,
    sketches) and creates many short-lived ones per document; at the default thresholds
    the collector walks the long-lived ones again and again. Nothing here builds
    reference cycles worth collecting early."""
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _libc_function(name: str) -> Any:
    """A function of the C library (glibc on Linux), or None where there is none."""
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def keep_heap() -> None:
    """Keep freed memory in this process's heap instead of returning it to the system.
    Each chunk allocates and frees arrays of tens of MB (sentence features, window
    vectors); glibc maps each anew and the kernel zeroes every page again: at 1,000
    documents a chunk that cost a fifth of dedup's CPU time in the kernel (measured: 11.0
    -> 7.7 s of system time, 5% of wall time, on 5,000 documents). Memory stays bounded by
    the largest chunk's peak. A no-op where glibc's mallopt is not there."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_mmap_threshold, 1 << 30)  # the largest value glibc accepts (HEAP_MAX/2)
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 256 << 20)


def exit_with_parent() -> None:
    """Have the kernel end this worker process when the process that started it dies (Linux
    prctl PR_SET_PDEATHSIG; elsewhere nothing). A pool worker waits on a queue whose
    writing end it holds itself, so it would never notice: an `aligner` killed with
    SIGKILL left its idle workers behind for good."""
    import signal

    prctl = _libc_function("prctl")
    pr_set_pdeathsig = 1
    if prctl is None or prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
        return
    if os.getppid() == 1:  # the parent was gone before the request: adopted by init
        os._exit(1)
