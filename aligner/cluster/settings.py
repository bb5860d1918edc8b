"""What `--engine ray` is asked: where Ray is and how much of it to use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RaySettings:
    """How to reach Ray and how much of it to use. `address` None starts a local Ray
    of `local_cpus` CPUs (all of this machine's by default); `workers` actors per pool
    (default: as many as the CPUs allow, see `aligner.cluster.engine`); `device` "cuda" gives
    each preparing actor a GPU."""

    address: str | None = None
    workers: int | None = None
    local_cpus: int | None = None
    device: str | None = None
