"""Benchmarks (`make bench`). They read real sentences from ../shared/data and skip cleanly
when it is missing."""
