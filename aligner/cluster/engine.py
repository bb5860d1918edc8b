"""`--engine ray`: the archive's parallel stages as Ray actors, the rest as on one machine.

`index add` and `dedup` run the same stage functions on either engine: preparing a chunk
(clean, segment, language, hashes, embed: `ingest.prepare_batch`) in actors that each load
the encoder once (`num_gpus=1` actors on `--device cuda`), and verifying candidate pairs
(`dedup.scoring.score_batch`, the one verdict) in actors with their own verifier. The
decisions stay on the driver, in input order, over the same store, so the clusters are
those of the local engine, document for document.

Ray is an optional extra (`pip install 'aligner[ray]'`). Without an address, a local Ray
is started for the command and shut down after it (its workers with it); with one
(`auto`, `ray://host:10001`), the command joins that cluster and leaves it running. The
actors of both pools together ask for at most the cluster's CPUs less one, so that
nothing else waits for a CPU that an actor holds (a pool as large as the CPU count was
seen to hang).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aligner.alignment import AlignParams
from aligner.cluster.settings import RaySettings
from aligner.dedup.params import DedupParams
from aligner.dedup.scoring import Jobs, gather_scores, score_batch, score_batches, score_serial
from aligner.dedup.verifier import Verifier
from aligner.docvec import DocSpace
from aligner.encoders.base import Encoder
from aligner.errors import AlignerError
from aligner.ingest import PendingBatch, PreparedBatch, prepare_batch
from aligner.runtime import init_worker
from aligner.types import Document

# A local Ray's object store: Ray's default is 30% of the memory. 512 MiB was too little
# for dedup's chunks and verification batches in flight (100,000 documents: 10.9 GiB
# spilled to disk and read back).
LOCAL_OBJECT_STORE_BYTES = 2 * 1024**3


# a verifying actor's cache of sentence features (the driver's verifier keeps 1 GiB)
ACTOR_FEATURE_CACHE_BYTES = 128 * 1024**2


def local_object_store_bytes() -> int:
    """LOCAL_OBJECT_STORE_BYTES, or 30% of a smaller machine's memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return LOCAL_OBJECT_STORE_BYTES
    return min(LOCAL_OBJECT_STORE_BYTES, int(0.3 * memory))


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise AlignerError("--engine ray needs Ray: pip install 'aligner[ray]'") from exc
    return ray


class RayEngine:
    """The `ingest.Engine` of a Ray cluster: `prepare_workers` and `scorer` give actor
    pools. Made by `ray_engine`, which starts and stops Ray."""

    name = "ray"

    def __init__(self, settings: RaySettings) -> None:
        ray = require_ray()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = int(ray.cluster_resources().get("GPU", 0))
        budget = max(1, cpus - 1)  # CPUs the actors of both pools may hold
        self.workers = settings.workers or budget
        # both pools at once (dedup): each actor asks for its share of the budget
        self.cpus_each = min(1.0, budget / (2 * self.workers))
        self.gpus_each = 1.0 if settings.device and settings.device.startswith("cuda") else 0.0
        if self.gpus_each and gpus < self.workers:
            raise AlignerError(
                f"--device {settings.device}: the Ray cluster has {gpus} GPU(s), "
                f"{self.workers} preparing actor(s) need one each (--ray-workers)"
            )

    def prepare_workers(self, encoder: Encoder) -> RayPrepareWorkers:
        return RayPrepareWorkers(encoder, self.workers, self.cpus_each, self.gpus_each)

    def scorer(self, encoder: Encoder, params: AlignParams) -> RayScorer:
        return RayScorer(encoder, params, self.workers, self.cpus_each)


@contextlib.contextmanager
def ray_engine(settings: RaySettings) -> Iterator[RayEngine]:
    """A `RayEngine` for the length of a command: joins `settings.address`, or starts a
    local Ray (shut down after, with its workers); a Ray already started in this process
    (a test session, a notebook) is used as it is and left running."""
    ray = require_ray()
    if settings.address:
        check_reachable(settings.address)
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if settings.address:
            options["address"] = settings.address
        else:
            options["num_cpus"] = settings.local_cpus or os.cpu_count() or 1
            options["object_store_memory"] = local_object_store_bytes()
        # its notice that the cluster uses token authentication (as it should) is not news
        logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = settings.address or "a local Ray"
            raise AlignerError(f"cannot start or reach {where}: {exc}") from exc
        started = True
    try:
        yield RayEngine(settings)
    finally:
        if started:
            ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, in one line, where `address` (host:port, or ray://host:port) does not
    answer: Ray itself retries an unreachable head for minutes. "auto" is left to Ray."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise AlignerError(f"--ray-address {address}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise AlignerError(
            f"cannot reach Ray at {address} ({exc.strerror or exc}); start one there with "
            "`ray start --head`, or leave out --ray-address for a local Ray"
        ) from exc


class _Preparer:
    """An actor that prepares chunks with its own copy of the encoder (loaded once)."""

    def __init__(self, encoder: Encoder) -> None:
        init_worker()
        self.encoder = encoder

    def prepare(self, docs: list[Document], space: DocSpace, keep_features: bool) -> PreparedBatch:
        return prepare_batch(docs, space, self.encoder, keep_features)


@dataclass
class _PendingRayBatch:
    ref: Any  # ray.ObjectRef[PreparedBatch]

    def result(self) -> PreparedBatch:
        batch = require_ray().get(self.ref)
        # Arrays from the object store are views that pin the whole chunk's object there
        # while any of them lives (the recent window keeps vectors and sketches for
        # thousands of documents): copied out, the object is freed with the reference.
        # Pinned, 20,000 documents spilled 1.4 GiB to disk through a 2 GiB store.
        if batch.vectors is not None:
            batch.vectors = batch.vectors.copy()
        if isinstance(batch.features, list):
            batch.features = [f.copy() for f in batch.features]
        batch.sketches = [None if s is None else s.copy() for s in batch.sketches]
        self.ref = None
        return batch

    def discard(self) -> None:  # the object store frees it with the reference
        self.ref = None


class RayPrepareWorkers:
    """`ingest.PrepareWorkers` as Ray actors, the chunks dealt out in turn; as many
    chunks are prepared ahead as there are actors."""

    def __init__(self, encoder: Encoder, size: int, cpus: float, gpus: float) -> None:
        ray = require_ray()
        actor = ray.remote(num_cpus=cpus, num_gpus=gpus)(_Preparer)
        self.size = size
        self._actors = [actor.remote(encoder) for _ in range(size)]
        self._turn = 0

    def submit(self, docs: list[Document], space: DocSpace, keep_features: bool) -> PendingBatch:
        actor = self._actors[self._turn % len(self._actors)]
        self._turn += 1
        return _PendingRayBatch(actor.prepare.remote(docs, space, keep_features))

    def close(self) -> None:
        _kill(self._actors)
        self._actors = []


class _Verifier:
    """An actor that verifies batches of candidate pairs with its own verifier."""

    def __init__(self, encoder: Encoder, params: AlignParams) -> None:
        init_worker()
        # the batches bring their documents' features: a small cache is enough
        self.verifier = Verifier(encoder, {}, params, cache_bytes=ACTOR_FEATURE_CACHE_BYTES)

    def score(self, batch: Any) -> tuple[list[list[float]], int, int]:
        return score_batch(self.verifier, batch)


class RayScorer:
    """dedup's `Scorer` over Ray actors, with the same screens and scores as
    `score_serial`; chunks with fewer than `serial_below` jobs are scored on the driver."""

    serial_below = 64

    def __init__(self, encoder: Encoder, params: AlignParams, size: int, cpus: float) -> None:
        ray = require_ray()
        actor = ray.remote(num_cpus=cpus)(_Verifier)
        self._actors = [actor.remote(encoder, params) for _ in range(size)]

    def __call__(self, jobs: Jobs, verifier: Verifier, params: DedupParams) -> list[list[float]]:
        if len(jobs) < self.serial_below or not self._actors:
            return score_serial(jobs, verifier, params)
        ray = require_ray()
        # the features the prepare actors computed travel along (through the object
        # store): an actor that encoded the candidates again did twice the work
        batches = score_batches(jobs, verifier, params, len(self._actors), features=True)
        refs = [
            self._actors[i % len(self._actors)].score.remote(batch)
            for i, batch in enumerate(batches)
        ]
        return gather_scores(ray.get(refs), verifier)

    def close(self) -> None:
        _kill(self._actors)
        self._actors = []


def _kill(actors: Sequence[Any]) -> None:
    ray = require_ray()
    for actor in actors:
        with contextlib.suppress(Exception):  # already gone with its node
            ray.kill(actor)
