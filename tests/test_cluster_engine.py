"""`--engine ray`: the archive's stages as Ray actors give the local engine's results.

The stage functions are tested as plain functions first (no Ray); the tests marked `ray`
share one local Ray (the `ray_cluster` fixture) and stay small: on 2 cores Ray only adds
overhead."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from aligner import api
from aligner.cli import main
from aligner.cluster import engine as ray_engine_module
from aligner.cluster.engine import RayScorer, RaySettings, _Preparer, _Verifier
from aligner.dedup import DedupParams
from aligner.dedup.scoring import gather_scores, score_batches, score_serial
from aligner.dedup.verifier import Verifier, doc_key
from aligner.docvec import DocSpace
from aligner.encoders import load_encoder
from aligner.errors import AlignerError
from aligner.ingest import prepare_batch
from aligner.readers import read_documents
from tests.test_index_incremental import CHUNK, DIM, FIRST, make_archive, snapshot


@pytest.fixture(scope="module")
def archive(seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray") / "archive.jsonl"
    make_archive(seeds_dir, path, FIRST + 4 * CHUNK)
    return path


def run_dedup(archive: Path, folder: Path, cluster: RaySettings | None) -> str:
    out = folder.with_suffix(".tsv")
    params = DedupParams(chunk_size=CHUNK)
    options = api.ArchiveOptions(doc_dim=DIM)
    with open(out, "w", encoding="utf-8") as handle:
        api.dedup_archive([archive], handle, folder, "builtin", params, options, None, False,
                          cluster)  # fmt: skip
    return out.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the stages, without Ray


def _prime_nothing(verifier: Verifier, docs: list) -> None:
    """In place of `Verifier.prime`: fails where a document's features would be encoded."""
    keys = [doc_key(d) for d in docs if d.sentences]
    assert len(verifier.features_of(keys)) == len(keys), "a worker encoded sentences"


def test_preparing_actor_is_prepare_batch(seeds_dir: Path) -> None:
    encoder = load_encoder("builtin")
    docs = read_documents([seeds_dir])
    space = DocSpace(dim=encoder.dim)
    expected = prepare_batch(docs, DocSpace(dim=encoder.dim), encoder, True)
    got = _Preparer(encoder).prepare(docs, space, True)
    assert [d.id for d in got.docs] == [d.id for d in expected.docs]
    assert got.body_hashes == expected.body_hashes
    assert (got.vectors == expected.vectors).all()


def test_verifying_in_batches_gives_the_serial_scores(seeds_dir: Path) -> None:
    """What the verifying actors run (`score_batches`, `score_batch`, `gather_scores`) on
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
    workers = [_Verifier(encoder, AlignParams()) for _ in range(2)]
    batches = score_batches(jobs, driver, params, len(workers))
    assert len(batches) > 1 and not any(batch[4] for batch in batches)
    results = [workers[i % 2].score(batch) for i, batch in enumerate(batches)]
    assert gather_scores(results, driver) == expected
    assert (driver.calls, driver.screened) == (serial.calls, serial.screened)
    # with the driver's sentence features sent along (as RayScorer does): the same scores,
    # and the workers encode nothing
    driver.prime(docs)
    batches = score_batches(jobs, driver, params, len(workers), features=True)
    assert all(batch[4] for batch in batches)
    fresh = [_Verifier(encoder, AlignParams()) for _ in range(2)]
    for worker in fresh:
        worker.verifier.prime = functools.partial(_prime_nothing, worker.verifier)
    results = [fresh[i % 2].score(batch) for i, batch in enumerate(batches)]
    assert gather_scores(results, Verifier(encoder, {}, AlignParams())) == expected


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


# ---------------------------------------------------------------- on a local Ray


@pytest.mark.ray
def test_dedup_on_ray_gives_the_local_clusters(
    ray_cluster, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RayScorer, "serial_below", 1)  # every chunk's pairs go to the actors
    local = run_dedup(archive, tmp_path / "local", None)
    on_ray = run_dedup(archive, tmp_path / "ray", RaySettings(workers=1))
    assert "\tduplicate\t" in local
    assert on_ray == local
    assert snapshot(tmp_path / "ray")["docs"] == snapshot(tmp_path / "local")["docs"]
    assert ray_cluster.is_initialized()  # a Ray it did not start is left running
