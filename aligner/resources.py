"""Memory needed for embedding, checked before the work starts.

Matching holds one vector per document, and the window embeddings (every run of
1..max_group consecutive sentences, as dense float32 vectors) of the pair being aligned
plus a bounded cache. A document's windows take about 130 KB per sentence with the
4096-dimensional builtin encoder: some 30 GB for a 20 MB document. Running out of memory
gets the process killed without a word; refusing beforehand says what to do.
"""

from __future__ import annotations

from pathlib import Path

from aligner.errors import AlignerError

# Peak over the window vectors themselves: the encoder's output, the recentred copies and
# the temporaries of recentring (measured: 2.6x on a 1 MB document).
PEAK_FACTOR = 3.0


def embedding_bytes(sentences: int, dim: int, max_group: int) -> int:
    """Estimated peak memory for embedding `sentences` sentences in windows of up to
    `max_group` sentences with `dim`-dimensional float32 vectors."""
    return int(sentences * max_group * dim * 4 * PEAK_FACTOR)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable, lowered to the
    address-space limit of `ulimit -v` when one is set), None if unknown."""
    found: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        found = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # not on every platform
        return found
    if soft != resource.RLIM_INFINITY and soft > 0:
        found = soft if found is None else min(found, soft)
    return found


# Window embeddings of recently aligned documents kept for reuse (see EmbeddedCorpus).
CACHE_BYTES = 512 * 2**20


def matching_bytes(sentence_counts: list[int], dim: int, max_group: int) -> int:
    """Estimated peak memory to match documents with these sentence counts: their
    document vectors, the two largest documents' windows, and the window cache."""
    largest_pair = sum(sorted(sentence_counts)[-2:])
    doc_vectors = len(sentence_counts) * dim * 4
    cache = min(CACHE_BYTES, embedding_bytes(sum(sentence_counts), dim, max_group))
    return doc_vectors + embedding_bytes(largest_pair, dim, max_group) + cache


def check_embedding_memory(
    sentence_counts: list[int], dim: int, max_group: int, available: int | None = None
) -> None:
    """Refuse, with what to do instead, work that would not fit in memory."""
    available = available_memory() if available is None else available
    sentences = sum(sorted(sentence_counts)[-2:])
    needed = matching_bytes(sentence_counts, dim, max_group)
    if available is not None and needed > available:
        raise AlignerError(
            f"the largest documents have {sentences:,} sentences; embedding them needs about "
            f"{needed / 2**30:.1f} GB of memory and {available / 2**30:.1f} GB are available. "
            "Split very long documents, use a smaller encoder (e.g. --model builtin:1024) "
            "or a machine with more memory"
        )
