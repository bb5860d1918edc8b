"""`--engine ray`: where the archive commands' actors run, and how Ray is started.

`index add` and `dedup` run the same stage functions as on one machine: preparing a chunk
(clean, segment, language, hashes, embed: `ingest.prepare_batch`) in actors that each load
the encoder once (`num_gpus=1` actors on `--device cuda`) and write the distributed record
(`cluster.record`), and deciding its parts (candidates, screens, the one verdict) in
actors with their own verifier (`cluster.decide`).

Ray is an optional extra (`pip install 'aligner[ray]'`). Without an address, a local Ray
is started for the command and shut down after it (its workers with it); with one
(`auto`, `ray://host:10001`), the command joins that cluster and leaves it running. A pool
of actors asks for at most the cluster's CPUs less one, so that nothing else waits for a
CPU that an actor holds (a pool as large as the CPU count was seen to hang).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from aligner.cluster.settings import RaySettings
from aligner.errors import AlignerError

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
    """The size of a Ray cluster's actor pools (one pool runs at a time): `workers` actors
    of `cpus_each` CPUs and `gpus_each` GPUs. Made by `ray_engine`, which starts and stops
    Ray."""

    def __init__(self, settings: RaySettings) -> None:
        ray = require_ray()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = int(ray.cluster_resources().get("GPU", 0))
        budget = max(1, cpus - 1)  # CPUs the actors of a pool may hold
        self.workers = settings.workers or budget
        self.cpus_each = min(1.0, budget / self.workers)
        self.gpus_each = 1.0 if settings.device and settings.device.startswith("cuda") else 0.0
        if self.gpus_each and gpus < self.workers:
            raise AlignerError(
                f"--device {settings.device}: the Ray cluster has {gpus} GPU(s), "
                f"{self.workers} preparing actor(s) need one each (--ray-workers)"
            )


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


def kill_actors(actors: Sequence[Any]) -> None:
    ray = require_ray()
    for actor in actors:
        with contextlib.suppress(Exception):  # already gone with its node
            ray.kill(actor)
