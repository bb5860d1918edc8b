"""Benchmarks: damaged document sets made from real parallel data, and their runners."""
