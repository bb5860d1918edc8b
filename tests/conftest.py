from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite runs on builtin (fast) whatever a developer's ALIGNER_MODEL says, unless a test
# names e5 (tests/test_e5.py and the verdict tests do).
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
