"""``bs.initialize_distributed``: start one bayescale process of several (one per host, or one per GPU).

bayescale needs nothing of its own to run under ``jax.distributed``: every
process runs the same script on the same table, ``bs.fit`` shards each chunk's
curves over the devices of every process and gathers the result back to every
process (see :mod:`bayescale._src.model.batch`). This helper only fills in what
``jax.distributed.initialize`` does not read from the environment, so one
launch line works on a cluster scheduler and on a plain shell:

- under SLURM (``srun``) or Open MPI (``mpirun``), JAX detects the
  coordinator, the number of processes and this process's id itself;
- otherwise the three variables ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
  process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` give them;
- on CPU, cross-process collectives (the final gather) need an implementation:
  ``gloo`` is set where the installed JAX defaults to none.
"""

from __future__ import annotations

import os
from typing import Any

import jax

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, **options: Any) -> None:
    """Join this process to a multi-process JAX run (call it before any other JAX or bayescale work).

    Parameters
    ----------
    coordinator_address
        ``host:port`` of process 0; default ``$JAX_COORDINATOR_ADDRESS``, else
        detected by JAX (SLURM, Open MPI).
    num_processes, process_id
        Default ``$JAX_NUM_PROCESSES`` and ``$JAX_PROCESS_ID``, else detected by JAX.
    options
        Passed to ``jax.distributed.initialize`` (e.g. ``local_device_ids`` for
        one process per GPU outside SLURM).

    Afterwards ``jax.process_count()`` is the number of processes and
    ``jax.devices()`` lists the devices of all of them. Every process then calls
    ``bs.fit`` (or ``bs.fit_stream``) on the same table; each gets the whole
    result. Write files from one process only (``jax.process_index() == 0``);
    ``bs.fit_stream`` does so itself.
    """
    env = os.environ
    if coordinator_address is None:
        coordinator_address = env.get(ENV_COORDINATOR) or None
    if num_processes is None and env.get(ENV_NUM_PROCESSES):
        num_processes = int(env[ENV_NUM_PROCESSES])
    if process_id is None and env.get(ENV_PROCESS_ID):
        process_id = int(env[ENV_PROCESS_ID])
    if getattr(jax.config, "jax_cpu_collectives_implementation", "gloo") in (None, "", "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, **options)
