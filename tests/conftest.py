from __future__ import annotations

import os
from pathlib import Path

import pytest

# The command line's default encoder is e5 where it loads; the suite runs on builtin (fast)
# unless a test names e5 (tests/test_e5.py and the verdict tests do).
os.environ["ALIGNER_MODEL"] = "builtin"

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fixtures" / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "flores200-devtest.fa-ar.tsv").is_file():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA
