"""Inference engines behind one registry: the only place that maps a method name to code.

Each engine is a module with a ``Settings`` NamedTuple and a jitted
``run(problem, settings, batch, keys) -> Draws`` (see
:mod:`bayescale._src.engines.base`):

- ``map``: the posterior mode, multi-start damped Newton (:mod:`.map`, :mod:`.newton`).
- ``laplace``: independent draws of the Gaussian at the mode (:mod:`.laplace`).
- ``nuts``: NumPyro NUTS vmapped over units and chains, started at the Laplace
  approximation (:mod:`.nuts`).
- ``smc``: adaptive tempered SMC from the prior (blackjax), vmapped over units (:mod:`.smc`).
- ``chees``: ChEES-HMC (blackjax), many chains per unit sharing one adapted
  step size and trajectory length, so they move in lockstep (:mod:`.chees`).

``bs.fit``, pooled fits, ``bs.sbc``, ``bs.compare`` and the CLI all go through
:func:`get`; properties of an :class:`Engine` (does it give a posterior, does
it run Markov chains) replace switches on the method string elsewhere.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, NamedTuple

from bayescale._src.model.batch import CPU_IMPORTANCE_CHUNK, CPU_NUTS_CHUNK
from bayescale._src.engines import auto, chees, importance, laplace, nuts, smc
from bayescale._src.engines import map as map_engine
from bayescale._src.engines.base import Draws, missing


class Engine(NamedTuple):
    """A method of inference.

    Attributes
    ----------
    name
        The ``method=`` string.
    Settings
        Its settings NamedTuple; :meth:`settings` fills it from ``bs.fit``'s keywords.
    run
        ``run(problem, settings, batch, keys) -> Draws``.
    posterior
        True when the draws represent a posterior (not only its mode): needed
        for intervals, calibration and LOO.
    markov
        True when the draws come from Markov chains, so that divergences,
        r_hat and ESS are defined (and the mode's Hessian is not the verdict).
    description
        One line for ``bayescale fit --help`` and error messages.
    cpu_chunk
        At most this many curves per chunk on CPU (0: the memory rule alone;
        see :func:`bayescale._src.model.batch.auto_chunk_size`). NUTS and ChEES,
        because a vmapped batch waits at every step for its slowest member
        (NUTS trees differ in depth from chain to chain; ChEES trajectories
        differ in length between units); importance sampling, because the
        potential at every proposal of a wide chunk does not stay in cache.
    """

    name: str
    Settings: type
    run: Callable[..., Draws]
    posterior: bool
    markov: bool
    description: str
    cpu_chunk: int = 0

    def settings(self, **options: Any):
        """The engine's settings from keywords; a keyword the engine does not use is a ``ValueError``."""
        unused = sorted(set(options) - set(self.Settings._fields))
        if unused:
            raise ValueError(f"method {self.name!r} has no setting {', '.join(repr(k) for k in unused)}; its settings are "
                             f"{', '.join(self.Settings._fields)}")
        return self.Settings(**options)


_REGISTRY: dict[str, Engine] = {
    "auto": Engine("auto", auto.Settings, auto.run, True, False,
                   "importance-corrected Laplace (PSIS), NUTS for the curves where it fails (pareto_k > 0.7 or the "
                   "law's max_pareto_k)",
                   cpu_chunk=CPU_IMPORTANCE_CHUNK),
    "nuts": Engine("nuts", nuts.Settings, nuts.run, True, True,
                   "NumPyro NUTS, vmapped over curves and chains (calibrated, slowest)", cpu_chunk=CPU_NUTS_CHUNK),
    "chees": Engine("chees", chees.Settings, chees.run, True, True,
                    "ChEES-HMC (blackjax): many short chains per curve in lockstep, one adapted trajectory length",
                    cpu_chunk=CPU_NUTS_CHUNK),
    "smc": Engine("smc", smc.Settings, smc.run, True, False,
                  "tempered sequential Monte Carlo from the prior (blackjax), vmapped over curves: every basin "
                  "the prior reaches (slower than auto)", cpu_chunk=CPU_IMPORTANCE_CHUNK),
    "importance": Engine("importance", importance.Settings, importance.run, True, False,
                         "Laplace reweighted by Pareto-smoothed importance sampling, no fallback (see pareto_k)",
                         cpu_chunk=CPU_IMPORTANCE_CHUNK),
    "laplace": Engine("laplace", laplace.Settings, laplace.run, True, False,
                      "Gaussian at the mode in the unconstrained space (fast; narrow for multi-term laws; "
                      "see pareto_k)"),
    "map": Engine("map", map_engine.Settings, map_engine.run, False, False, "the posterior mode alone (fastest)"),
}


def names() -> list[str]:
    """Registered method names, the default first (``nuts`` is the default with ``pooling="partial"``)."""
    return list(_REGISTRY)


def get(method: Any) -> Engine:
    """The engine of ``method``; a clear error (with a did-you-mean hint) for anything else."""
    if isinstance(method, Engine):
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(names())}; got {method!r}")
    if method not in _REGISTRY:
        close = difflib.get_close_matches(method, names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown method {method!r}{hint}; choose one of {', '.join(names())}")
    return _REGISTRY[method]


__all__ = ["Draws", "Engine", "get", "missing", "names"]
