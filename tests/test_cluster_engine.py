"""`--engine ray`: its options, errors and how Ray is reached; batched verification as
plain functions. The commands on a local Ray: test_cluster_record.py (index add) and
test_cluster_decide.py (dedup)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner.cli import main
from aligner.cluster import engine as ray_engine_module
from aligner.dedup import DedupParams
from aligner.dedup.scoring import gather_scores, score_batch, score_batches, score_serial
from aligner.dedup.verifier import Verifier
from aligner.encoders import load_encoder
from aligner.errors import AlignerError
from aligner.readers import read_documents
from tests.test_index_incremental import CHUNK, FIRST, make_archive


@pytest.fixture(scope="module")
def archive(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray") / "archive.jsonl"
    make_archive(seeds_dir, path, FIRST + 4 * CHUNK)
    return path


# ---------------------------------------------------------------- the stages, without Ray


def test_verifying_in_batches_gives_the_serial_scores(seeds_dir: Path) -> None:
    """What the verifying workers run (`score_batches`, `score_batch`, `gather_scores`) on
    their own verifiers gives `score_serial`'s scores and counts."""
    from aligner.alignment import AlignParams
    from aligner.prepare import prepare_document

    encoder = load_encoder("builtin")
    docs = [prepare_document(d) for d in read_documents([seeds_dir])]
    jobs = [(doc, [(other, other.lang == doc.lang) for other in docs if other is not doc])
            for doc in docs]  # fmt: skip
    params = replace(DedupParams(), screen_duplicate=0.0, screen_translation=0.0)
    serial = Verifier(encoder, {}, AlignParams())
    expected = score_serial(jobs, serial, params)
    assert any(score > 0 for scores in expected for score in scores)
    driver = Verifier(encoder, {}, AlignParams())
    workers = [Verifier(encoder, {}, AlignParams()) for _ in range(2)]
    batches = score_batches(jobs, driver, params, len(workers))
    assert len(batches) > 1
    results = [score_batch(workers[i % 2], batch) for i, batch in enumerate(batches)]
    assert gather_scores(results, driver) == expected
    assert (driver.calls, driver.screened) == (serial.calls, serial.screened)


def test_engine_options_need_engine_ray(archive: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["dedup", str(archive), "-o", str(tmp_path / "c.tsv"), "--ray-address", "auto"]
    )
    assert result.exit_code == 2 and "need --engine ray" in result.output
    result = CliRunner().invoke(
        main, ["dedup", str(archive), "-o", str(tmp_path / "c.tsv"), "--engine", "ray",
               "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--ray-workers" in result.output
    assert not (tmp_path / "c.tsv").exists()


def test_without_ray_installed_the_error_says_how(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(AlignerError, match=r"pip install 'aligner\[ray\]'"):
        ray_engine_module.require_ray()
    out = tmp_path / "c.tsv"
    result = CliRunner().invoke(main, ["dedup", str(archive), "-o", str(out), "--engine", "ray"])
    assert result.exit_code != 0 and "aligner[ray]" in result.output
    assert not out.exists()


def test_an_unreachable_address_fails_at_once_in_one_line(archive: Path, tmp_path: Path) -> None:
    import socket

    pytest.importorskip("ray")
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    out = tmp_path / "c.tsv"
    args = ["dedup", str(archive), "-o", str(out), "--engine", "ray"]
    result = CliRunner().invoke(main, [*args, "--ray-address", f"127.0.0.1:{port}"])
    assert result.exit_code == 1 and f"cannot reach Ray at 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    result = CliRunner().invoke(main, [*args, "--ray-address", "headnode"])
    assert result.exit_code == 1 and "expected host:port" in result.output
