# aligner — one command each: install, demo, test.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# torch is pinned to the CPU wheel: an unpinned torch (pulled by sentence-transformers)
# would download several GB of CUDA packages.
TORCH ?= torch==2.13.0

.PHONY: install install-core demo test lint format bench clean

install:
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[st,dev,bench]"

install-core:  ## without sentence-transformers/torch: builtin encoder only
	$(PIP) install -e ".[dev]"

demo:
	aligner match fixtures/seeds/ -o parallel.tsv --pairs pairs.tsv --index indexes/seeds
	@echo "--- pairs.tsv"; cat pairs.tsv
	@echo "--- parallel.tsv (first columns)"; cut -f1-7 parallel.tsv

test:
	$(PYTHON) -m pytest -q

lint:
	ruff check aligner tests bench
	ruff format --check aligner tests bench

format:
	ruff format aligner tests bench
	ruff check --fix aligner tests bench

bench:
	$(PYTHON) -m bench

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache parallel.tsv pairs.tsv
