"""MAP: the posterior mode of every unit, by multi-start damped Newton.

The mode is found in the sampler's unconstrained coordinates (log scale for
positive parameters, Jacobians included), the centre of the Laplace
approximation and the natural place to start NUTS. Loss surfaces of joint laws
such as Chinchilla's have poor local minima, so each unit is optimized from
``num_starts`` dispersed starts (``problem.init``) and the best end point is
kept. The result is one "draw" per unit: the mode.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from bayescale._src.engines import laplace
from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60  # damped Newton steps per start


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """The mode of every unit of ``batch`` as ``Draws`` with one chain of one draw."""
    _, mode = start(problem, settings, batch, keys)
    return _draws(mode)


@jax.jit
def _draws(mode) -> Draws:
    _, ok = laplace.covariance(mode.hessian)
    return Draws(mode.z[:, None, None, :], {}, mode.z, ok)
