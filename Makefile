# aligner — one command each: install, demo, test.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# torch is pinned and installed first, so that sentence-transformers does not pull another
# one. On PyPI, torch==2.13.0 for Linux x86-64 is the CUDA build (it brings about 18 nvidia
# packages, several GB); for the CPU build give its wheel index:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# the command line; e.g. ALIGNER="python -m aligner.cli" to run this checkout without installing
ALIGNER ?= aligner
# headless browser for the review page's screenshot (Debian: apt-get install chromium)
CHROMIUM ?= chromium

.PHONY: install install-core demo report test lint format bench clean

install:
	$(PIP) install "$(TORCH)"$(if $(TORCH_INDEX), --index-url "$(TORCH_INDEX)")
	$(PIP) install -e ".[st,dev,bench,e5,ray]"
	@# the ONNX export that plain `--model e5` runs on (about 30 s; kept when already there)
	$(PYTHON) -m aligner.cli model export e5 --if-missing

install-core:  ## without sentence-transformers/torch: builtin encoder only
	$(PIP) install -e ".[dev]"

demo:
	$(ALIGNER) match fixtures/seeds/ -o parallel.tsv --pairs pairs.tsv --index indexes/seeds \
		--html report.html
	@echo "--- pairs.tsv"; cat pairs.tsv
	@echo "--- parallel.tsv (first columns)"; cut -f1-7 parallel.tsv
	@echo "--- review page: report.html"

report:  ## the seeds' review page, and its screenshot for the docs
	$(ALIGNER) report fixtures/seeds/ -o report.html
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$(mktemp -d) --screenshot=docs/report.png --window-size=1400,1800 \
		file://$(CURDIR)/report.html

test:
	$(PYTHON) -m pytest

lint:
	ruff check aligner tests bench
	ruff format --check aligner tests bench

format:
	ruff format aligner tests bench
	ruff check --fix aligner tests bench

bench:
	$(PYTHON) -m bench

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache parallel.tsv pairs.tsv report.html
