"""``smc``: adaptive tempered sequential Monte Carlo from the prior, vmapped over units (blackjax).

For each unit, ``particles`` draws of the prior :math:`p(z)` (in the problem's
flat coordinates, :attr:`~bayescale._src.model.problem.Problem.prior`) are
moved through the tempered posteriors

.. math:: \\pi_t(z) \\propto p(z)\\, p(y \\mid z)^{\\beta_t}, \\qquad 0 = \\beta_0 < \\beta_1 < \\dots < \\beta_T = 1,

each step reweighting by :math:`p(y \\mid z)^{\\beta_{t+1} - \\beta_t}`, with
:math:`\\beta_{t+1}` chosen so that the effective sample size of the new
weights is ``target_ess`` times the number of particles, then resampling
(systematic) and moving every particle by ``mcmc_steps`` random-walk Metropolis
steps that leave :math:`\\pi_t` invariant (Del Moral, Doucet and Jasra 2006,
"Sequential Monte Carlo samplers", JRSS B; the adaptive schedule of Jasra,
Stephens, Doucet and Tsagaris 2011, Scand. J. Statist.). The random walk's
covariance is :math:`(2.38^2/d)` times the weighted covariance of the particles
after each step (the scale of Roberts, Gelman and Gilks 1997, tuned from the
particles as in Buchholz, Chopin and Jacob 2021, "Adaptive tuning of Hamiltonian
Monte Carlo within sequential Monte Carlo", Bayesian Analysis; blackjax's
``inner_kernel_tuning``).

Why: the sampler starts from the whole prior, so every basin that holds
posterior mass is populated before the likelihood sharpens, whatever the mode
search found; a posterior with two basins, or with a long curved ridge, is
followed by the particles as it forms rather than reached from one mode.
``auto`` and NUTS start at the modes and miss mass that no proposal or chain
visits (``benchmarks/README.md``, ``bench_sbc_smc.py``).

The last step's weighted particles are resampled (systematic, then shuffled)
to ``chains * draws`` equally weighted draws. Per-unit statistics:
``smc_stages`` (the number of tempering steps), ``log_evidence`` (the estimate
of :math:`\\log p(y)` from the weight increments) and ``acceptance_rate`` (the
random walk's mean acceptance in the last step). The mode (for ``Fit``'s mode
summary) is the multi-start search every engine runs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayescale._src.engines import laplace
from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem

RW_SCALE = 2.38  # times d^-1/2: the optimal random-walk scale for a Gaussian target (Roberts, Gelman and Gilks 1997)
ADAPT_GAIN = 4.0  # log-scale change per unit of acceptance above the target, after each tempering step
RIDGE = 1e-9  # added to the particle covariance's diagonal (relative to its largest variance) before its Cholesky


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 4
    draws: int = 1000
    particles: int = 0  # 0: chains * draws
    mcmc_steps: int = 50  # moves per particle per tempering step (20 left quantiles up to 1.35 sd off, 50 0.71)
    target_ess: float = 0.5  # each tempering step keeps this share of effective particles
    max_stages: int = 200  # tempering steps at most (a unit that has not reached beta = 1 then is flagged)
    kernel: str = "rw"  # the moves: "rw" (random-walk Metropolis) or "hmc"


def num_particles(settings: Settings) -> int:
    return settings.particles or settings.chains * settings.draws


def check(problem: Problem, settings: Settings) -> None:
    """A clear error for a problem the sampler cannot start and for settings out of range."""
    if problem.prior is None or problem.log_likelihood is None:
        raise ValueError("method 'smc' starts from draws of the prior: it fits independent curves (pooling='none') "
                         "without run=; use method='nuts' here")
    if num_particles(settings) < 2 or settings.mcmc_steps < 1 or settings.max_stages < 1:
        raise ValueError(f"smc needs particles >= 2, mcmc_steps >= 1 and max_stages >= 1; got {settings}")
    if settings.kernel not in KERNELS:
        raise ValueError(f"smc: kernel must be one of {', '.join(KERNELS)}, got {settings.kernel!r}")
    if not 0.0 < settings.target_ess < 1.0:
        raise ValueError(f"smc: target_ess must lie in (0, 1), got {settings.target_ess}")


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """Tempered SMC draws of every unit, from its prior to its posterior."""
    check(problem, settings)
    split, mode = start(problem, settings, batch, keys)
    z, unit_stats = _sample(problem, settings, batch, split[:, 2])
    _, ok = laplace.covariance(mode.hessian)
    return Draws(z, {}, mode.z, ok, unit_stats)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample(problem: Problem, settings: Settings, batch, keys):
    return jax.vmap(lambda d, k: sample_unit(problem, settings, d, k))(batch, keys)


def rw_step(key, state, logdensity_fn, cov, scale):
    """One random-walk Metropolis step, Gaussian proposals of covariance ``(scale RW_SCALE)^2 / d cov``."""
    import blackjax

    chol = scale * RW_SCALE / jnp.sqrt(cov.shape[-1]) * jnp.linalg.cholesky(cov)
    return blackjax.additive_step_random_walk.build_kernel()(
        key, state, logdensity_fn, blackjax.mcmc.random_walk.normal(chol))


def hmc_step(key, state, logdensity_fn, cov, scale):
    """One HMC step of ``HMC_LEAPFROGS`` leapfrog steps of size ``scale``, inverse mass matrix ``cov``."""
    import blackjax

    return blackjax.hmc.build_kernel()(key, state, logdensity_fn, step_size=scale, inverse_mass_matrix=cov,
                                       num_integration_steps=HMC_LEAPFROGS)


KERNELS = {"rw": (rw_step, "additive_step_random_walk", 0.234, 1.0),
           "hmc": (hmc_step, "hmc", 0.65, 0.5)}  # step, blackjax module of its init, target acceptance, initial scale
HMC_LEAPFROGS = 8


def particle_cov(particles, weights):
    """The particles' weighted covariance, with a small ridge."""
    mean = weights @ particles
    centred = particles - mean
    cov = (weights[:, None] * centred).T @ centred
    dim = particles.shape[-1]
    return cov + RIDGE * jnp.max(jnp.diag(cov)) * jnp.eye(dim, dtype=cov.dtype) + jnp.finfo(cov.dtype).tiny


def sample_unit(problem: Problem, settings: Settings, data, key):
    """The tempered SMC of one unit: ``(z [chains, draws, dim], unit_stats)``."""
    n = num_particles(settings)
    init_key, loop_key, final_key = jax.random.split(key, 3)

    def finite(value):
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    def log_likelihood(z):
        return finite(problem.log_likelihood(z, data))

    def log_prior(z):
        # the potential is the negative log joint; the prior is what the likelihood leaves of it
        return finite(-problem.potential(z, data) - problem.log_likelihood(z, data))

    # imported here, not at the top: importing blackjax runs JAX computations, which start the XLA backend,
    # and importing bayescale must not (as in engines.chees)
    import blackjax
    from blackjax.smc import resampling
    from blackjax.smc.base import extend_params

    step_fn, init_module, target_acceptance, scale0 = KERNELS[settings.kernel]
    init_fn = getattr(blackjax, init_module).init

    def update(_key, state, info):
        del _key
        return extend_params({"cov": particle_cov(state.particles, state.weights),
                              "scale": jnp.ones((), state.weights.dtype)})

    algorithm = blackjax.inner_kernel_tuning(
        smc_algorithm=blackjax.adaptive_tempered_smc,
        logprior_fn=log_prior,
        loglikelihood_fn=log_likelihood,
        mcmc_step_fn=step_fn,
        mcmc_init_fn=init_fn,
        resampling_fn=resampling.systematic,
        mcmc_parameter_update_fn=update,
        initial_parameter_value=None,  # set below, from the prior draws
        num_mcmc_steps=settings.mcmc_steps,
        target_ess=settings.target_ess,
    )
    z0 = problem.prior(init_key, data, n)
    uniform = jnp.full(n, 1.0 / n, z0.dtype)
    state = algorithm.init(z0)
    inner = state.sampler_state._replace(tempering_param=jnp.zeros((), z0.dtype))
    state = state._replace(sampler_state=inner, parameter_override=update(None, inner._replace(weights=uniform), None))
    zero = jnp.zeros((), z0.dtype)

    def going(carry):
        state, stage, *_ = carry
        return (state.sampler_state.tempering_param < 1.0) & (stage < settings.max_stages)

    def step(carry):
        state, stage, log_evidence, _, scale = carry
        state = state._replace(parameter_override={**state.parameter_override, "scale": scale[None]})
        state, info = algorithm.step(jax.random.fold_in(loop_key, stage), state)
        acceptance = jnp.mean(info.update_info.acceptance_rate)
        # the scale follows the acceptance towards TARGET_ACCEPTANCE (a curved or two-basin cloud of particles
        # has a covariance wider than any one basin, where a step of its size is rarely accepted)
        scale = scale * jnp.exp(ADAPT_GAIN * (acceptance - target_acceptance))
        return state, stage + 1, log_evidence + info.log_likelihood_increment, acceptance, scale

    state, stages, log_evidence, acceptance, _ = jax.lax.while_loop(
        going, step, (state, jnp.zeros((), jnp.int32), zero, zero, zero + scale0))
    final = state.sampler_state
    total = settings.chains * settings.draws
    pick_key, shuffle_key = jax.random.split(final_key)
    index = jax.random.permutation(shuffle_key, resampling.systematic(pick_key, final.weights, total))
    z = final.particles[index].reshape(settings.chains, settings.draws, -1)
    reached = final.tempering_param >= 1.0
    stats = {"smc_stages": stages, "log_evidence": jnp.where(reached, log_evidence, jnp.nan),
             "acceptance_rate": acceptance}
    return z, stats
