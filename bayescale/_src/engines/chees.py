"""ChEES-HMC over a batch of units: many short chains per unit that move in lockstep.

Jittered HMC whose step size and trajectory length are shared by the chains of
one unit and adapted from cross-chain statistics (Hoffman, Radul and Sountsov
2021, "An adaptive MCMC scheme for setting trajectory lengths in Hamiltonian
Monte Carlo", AISTATS): the step size by dual averaging of the harmonic mean of
the chains' acceptance probabilities, the trajectory length by Adam on the
ChEES criterion (the change in the chains' expected squared distance from
their mean). The kernel and the adaptation are blackjax's
(``blackjax.chees_adaptation`` and ``blackjax.dynamic_hmc``).

Every chain of a unit takes the same number of leapfrog steps at every
iteration (a quasi-random Halton jitter of the adapted length, indexed by the
iteration), so a vmapped batch does not wait at every step for the deepest
NUTS tree of some chain: it waits only for the longest trajectory among the
units of the batch, which is steady after warmup.

Like :mod:`.nuts`, chains start from draws of the Laplace approximation at
each unit's mode. The sampler runs in whitened coordinates ``u`` with
``z = mode + L u``, ``L`` the Cholesky factor of the Laplace covariance: an
exact, constant linear change of variables (a dense preconditioner), so the
identity metric in ``u`` is the Laplace covariance's metric in ``z``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from bayescale._src import progress
from bayescale._src.engines import laplace
from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 16  # the adaptation pools statistics across the chains of a unit: use many
    draws: int = 250
    warmup: int = 500
    target_accept_prob: float = 0.651  # of the harmonic mean over chains (Hoffman et al. 2021, after Beskos et al.)
    # Adam on the log trajectory length. TFP's default is 0.025; from a start of one leapfrog step that did not
    # reach a long enough trajectory in 500 warmup steps on the hardest curves of benchmarks/bench_samplers.py
    # (64 power-law curves: 5% quantile of the min bulk ESS 426 at 0.025, 936 at 0.05, 1635 at 0.1; max r_hat
    # 1.29, 1.33, 1.03), at the price of longer trajectories (3.3, 3.9, 5.5 leapfrog steps per draw)
    learning_rate: float = 0.1
    initial_step_size: float = 0.5  # in the whitened coordinates, where the Laplace covariance is the identity
    max_leapfrog_steps: int = 256  # cap on the adapted trajectory length, in steps
    progress: bool = False  # compile in progress-bar updates (bayescale._src.progress)


class Chains(NamedTuple):
    """Draws of the chains of one unit ``[chains, draws, ...]`` and the sampler's statistics at each."""

    z: jax.Array
    diverging: jax.Array
    n_steps: jax.Array
    acceptance_rate: jax.Array
    step_size: jax.Array


def run_unit(problem: Problem, settings: Settings, data, mode, chol, u0, key) -> Chains:
    """ChEES warmup then jittered HMC for all chains of one unit, in whitened coordinates."""

    def logdensity(u):
        return -problem.potential(mode + chol @ u, data)

    warmup, samples = settings.warmup, settings.draws

    def report(state, info, adaptation_state):
        # adaptation_state.step counts warmup iterations from 1 and depends on no batched value
        if settings.progress:
            progress.report_step(adaptation_state.step - 2, warmup)
        # nothing of the warmup is kept

    # imported here, not at the top: importing blackjax runs JAX computations, which start the XLA backend,
    # and a multi-process run must call jax.distributed.initialize after ``import bayescale`` and before that
    import blackjax
    from blackjax.mcmc import dynamic_hmc

    adaptation = blackjax.chees_adaptation(
        logdensity,
        settings.chains,
        target_acceptance_rate=settings.target_accept_prob,
        max_leapfrog_steps=settings.max_leapfrog_steps,
        adaptation_info_fn=report,
    )
    warm_key, draw_key = jax.random.split(key)
    (states, params), _ = adaptation.run(
        warm_key, u0, settings.initial_step_size, optax.adam(settings.learning_rate), warmup,
        max_sampling_steps=samples,
    )
    kernel = dynamic_hmc.build_kernel(
        next_random_arg_fn=params["next_random_arg_fn"],
        integration_steps_fn=params["integration_steps_fn"],
    )
    step_size = params["step_size"]

    def one_chain(k, s):
        return kernel(k, s, logdensity, step_size, params["inverse_mass_matrix"], params["integration_steps_params"])

    def draw(s, xs):
        k, step = xs
        if settings.progress:
            progress.report_step(step, samples, phase_offset=warmup)
        s, info = jax.vmap(one_chain)(jax.random.split(k, settings.chains), s)
        return s, (s.position, info.is_divergent, info.num_integration_steps, info.acceptance_rate)

    _, (u, diverging, n_steps, accept) = jax.lax.scan(
        draw, states, (jax.random.split(draw_key, samples), jnp.arange(samples))
    )
    z = mode + jnp.einsum("dcj,ij->dci", u, chol)
    out = Chains(z, diverging, n_steps, accept, jnp.broadcast_to(step_size, accept.shape))
    return jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), out)  # [draws, chains] -> [chains, draws]


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """ChEES-HMC for every unit, started from the Laplace approximation at each unit's mode."""
    split, mode = start(problem, settings, batch, keys)
    return _sample(problem, settings, batch, split, mode)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(problem: Problem, settings: Settings, batch, split, mode) -> Draws:
    cov, ok = laplace.covariance(mode.hessian)
    chol = jnp.linalg.cholesky(cov)
    dim = mode.z.shape[-1]
    u0 = jax.vmap(lambda k: jax.random.normal(k, (settings.chains, dim), dtype=mode.z.dtype))(split[:, 1])
    out = jax.vmap(lambda d, m, c, u, k: run_unit(problem, settings, d, m, c, u, k))(
        batch, mode.z, chol, u0, split[:, 2]
    )
    stats = {k: v for k, v in out._asdict().items() if k != "z"}
    return Draws(out.z, stats, mode.z, ok)
