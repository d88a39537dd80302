"""Importance-corrected Laplace: draws of a heavy-tailed proposal at the mode, reweighted to the posterior.

For each unit, with mode :math:`\\hat z` and Laplace covariance
:math:`\\Sigma = H(\\hat z)^{-1}`:

1. Half the proposals come from a multivariate Student-t
   :math:`q_1 = t_\\nu(\\hat z, \\Sigma)`; their truncated importance weights
   (Ionides 2008) give the posterior's mean :math:`\\mu` and covariance
   :math:`S` (one step of adaptive importance sampling, which follows a
   posterior that is skewed or lies on a curved ridge away from the mode).
2. The other half come from :math:`q_2 = t_\\nu(\\mu, S)`.
3. Every draw :math:`z_i` is weighted against the deterministic mixture of
   both proposals (Veach and Guibas 1995; Owen and Zhou 2000),
   :math:`\\log w_i = -U(z_i) - \\log\\big(\\tfrac12 q_1(z_i) + \\tfrac12 q_2(z_i)\\big)`,
   where :math:`U` is the potential; the mixture keeps every weight bounded by
   twice that of either component alone.
4. The weights are Pareto-smoothed (PSIS, ``arviz.psislw``; Vehtari, Simpson,
   Gelman, Yao and Gabry 2024, "Pareto smoothed importance sampling", JMLR).
   The fitted Pareto shape :math:`\\hat k` says whether the estimate can be
   trusted: below 0.7 the weighted draws estimate posterior expectations
   reliably; above, the proposal misses part of the posterior and the unit
   should be sampled by MCMC (the ``auto`` engine does that).
5. ``chains * draws`` equally weighted draws are resampled from the smoothed
   weights (sampling importance resampling, Rubin 1988; systematic, then shuffled), so every downstream
   summary treats them like any other posterior draws.

Per-unit statistics (``Draws.unit_stats``): ``pareto_k`` and ``ess_importance``,
the effective sample size of the smoothed weights, :math:`1 / \\sum_i w_i^2`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayescale._src import batch as batch_mod
from bayescale._src import small_linalg
from bayescale._src.engines import laplace
from bayescale._src.engines.base import Draws, start
from bayescale._src.problem import Problem

MIN_PROPOSALS = 2000  # enough draws in the tail for a stable Pareto fit
RIDGE = 1e-8


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 4
    draws: int = 1000
    proposals: int = 0  # 0: max(chains * draws, MIN_PROPOSALS)
    df: int = 5  # degrees of freedom of the Student-t proposals (an integer: see StudentT)
    stages: int = 2  # adaptation stages: each proposal after the first has the weighted moments of all draws so far


def num_proposals(settings: Settings) -> int:
    """Proposals per unit (an even number).

    The potential at every proposal is most of the cost (measured: 4,000
    proposals of a 60-point curve cost about as much as finding its mode), so
    by default there are as many proposals as draws kept.
    """
    n = settings.proposals or max(settings.chains * settings.draws, MIN_PROPOSALS)
    return n + n % 2


def run(problem: Problem, settings: Settings, batch, keys) -> Draws:
    """Importance-resampled draws of every unit of ``batch``, as ``chains`` chains of ``draws``."""
    split, mode = start(problem, settings, batch, keys)
    return reweigh(problem, settings, batch, split, mode)


def reweigh(problem: Problem, settings: Settings, batch, split, mode) -> Draws:
    """Steps 1-5 of the module docstring from each unit's mode (``split``: the units' keys from ``split_keys``)."""
    z, log_w, ok = _propose(problem, settings, batch, split[:, 1], mode)
    smoothed, pareto_k = smooth(batch_mod.gather(log_w))
    draws = _resample(settings.chains, settings.draws, split[:, 2], z, batch_mod.shard(smoothed, batch_mod.mesh()))
    ess = 1.0 / np.sum(np.exp(2.0 * smoothed), axis=-1)
    return Draws(draws, {}, mode.z, ok, {"pareto_k": pareto_k, "ess_importance": ess})


def smooth(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pareto-smoothed, normalized log weights ``[units, proposals]`` and each unit's Pareto ``k``.

    Units with no finite weight get ``k = inf`` (and uniform weights, never used).
    """
    log_w = np.asarray(log_w, np.float64)
    finite = np.isfinite(log_w)
    any_finite = finite.any(axis=-1)
    top = np.where(any_finite, np.max(np.where(finite, log_w, -np.inf), axis=-1), 0.0)
    # a proposal where the density is zero (or overflows) weighs nothing; keep the array finite for arviz
    log_w = np.where(finite, log_w, top[:, None] - 1e4)
    with np.errstate(all="ignore"):
        smoothed, k = az.psislw(log_w, reff=1.0)
    k = np.where(any_finite, np.asarray(k, np.float64), np.inf)
    smoothed = np.where(any_finite[:, None], smoothed, -np.log(log_w.shape[-1]))
    return smoothed, k


@functools.partial(jax.jit, static_argnums=(0, 1))
def _propose(problem: Problem, settings: Settings, batch, keys, mode):
    cov, ok = laplace.covariance(mode.hessian)
    stages = settings.stages
    per_stage = num_proposals(settings) // stages

    def one(key, data, centre, scale):
        potential = jax.vmap(lambda z: problem.potential(z, data))
        proposals, zs, us = [_student_t(centre, scale, settings.df)], [], []
        for stage, k in enumerate(jax.random.split(key, stages)):
            zs.append(proposals[-1].sample(k, (per_stage,)))
            us.append(potential(zs[-1]))
            z, u = jnp.concatenate(zs), jnp.concatenate(us)
            log_w = -u - _mixture_log_prob(proposals, z)
            if stage + 1 < stages:
                proposals.append(_moments(z, log_w, proposals[-1]))
        return z, jnp.where(jnp.isfinite(log_w), log_w, -jnp.inf)

    z, log_w = jax.vmap(one)(keys, batch, mode.z, cov)
    return z, log_w, ok


def _mixture_log_prob(proposals, z):
    """Log density of the equal mixture of ``proposals`` (the deterministic-mixture weights' denominator)."""
    logs = jnp.stack([q.log_prob(z) for q in proposals])
    return jax.scipy.special.logsumexp(logs, axis=0) - jnp.log(len(proposals))


class StudentT(NamedTuple):
    """Multivariate Student-t with integer degrees of freedom.

    Written out because its chi-square variable is then a sum of ``df``
    squared normals: numpyro's ``MultivariateStudentT`` draws it with a
    rejection-sampled gamma, which took half the time of the whole proposal
    step (measured, 8,000 draws per curve).
    """

    loc: jax.Array
    scale_tril: jax.Array
    df: int

    def sample(self, key, shape):
        k1, k2 = jax.random.split(key)
        dim = self.loc.shape[-1]
        eps = jax.random.normal(k1, (*shape, dim), self.loc.dtype)
        chi2 = jnp.sum(jax.random.normal(k2, (*shape, self.df), self.loc.dtype) ** 2, axis=-1)
        return self.loc + (eps @ self.scale_tril.T) * jnp.sqrt(self.df / chi2)[..., None]

    def log_prob(self, z):
        dim = self.loc.shape[-1]
        white = small_linalg.solve_lower(self.scale_tril, z - self.loc)
        maha = jnp.sum(white**2, axis=-1)
        nu = self.df
        const = (gammaln((nu + dim) / 2) - gammaln(nu / 2) - 0.5 * dim * jnp.log(nu * jnp.pi)
                 - jnp.sum(jnp.log(jnp.diagonal(self.scale_tril))))
        return const - 0.5 * (nu + dim) * jnp.log1p(maha / nu)


def _student_t(loc, cov, df) -> StudentT:
    # small_linalg, not jnp.linalg: jaxlib's batched LAPACK kernels can deadlock here (see small_linalg)
    return StudentT(loc, small_linalg.cholesky(cov), df)


def _moments(z, log_w, previous: StudentT) -> StudentT:
    """The Student-t proposal at the truncated-importance-weighted mean and covariance of the draws;
    ``previous`` where they fail.

    Weights are truncated at ``sqrt(n)`` times their mean (Ionides 2008,
    "Truncated importance sampling", JCGS) so that one lucky draw cannot set
    the covariance; the covariance gets a ridge relative to its trace.
    """
    n = z.shape[0]
    finite = jnp.isfinite(log_w)
    lw = jnp.where(finite, log_w, -jnp.inf)
    w = jnp.exp(lw - jnp.max(jnp.where(finite, lw, -jnp.inf)))
    w = jnp.where(finite, w, 0.0)
    w = jnp.minimum(w, jnp.sqrt(n) * jnp.mean(w))
    w = w / jnp.sum(w)
    mean = w @ z
    dev = z - mean
    est = (dev * w[:, None]).T @ dev
    dim = z.shape[-1]
    est = est + RIDGE * jnp.trace(est) / dim * jnp.eye(dim)
    # small_linalg, not jnp.linalg: jaxlib's batched LAPACK kernels can deadlock here (see small_linalg)
    factor = small_linalg.cholesky(est)
    good = jnp.all(jnp.isfinite(est)) & small_linalg.is_factor(factor) & (1.0 / jnp.sum(w**2) > 2 * dim)
    return StudentT(jnp.where(good, mean, previous.loc), jnp.where(good, factor, previous.scale_tril), previous.df)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _resample(chains: int, draws: int, keys, z, smoothed):
    """Systematic resampling (lower variance than multinomial; Douc and Cappe 2005), then shuffled."""
    n = chains * draws

    def one(key, zs, lw):
        k1, k2 = jax.random.split(key)
        cdf = jnp.cumsum(jax.nn.softmax(lw))
        u = (jnp.arange(n) + jax.random.uniform(k1, dtype=cdf.dtype)) / n
        idx = jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1]), zs.shape[0] - 1)
        # one sort on random 32-bit keys (jax.random.permutation sorts twice to break ties, the only bias of
        # which here would be the order of two equal keys among 4,000: measured 0.9 against 2.1 ms per curve)
        idx = idx[jnp.argsort(jax.random.bits(k2, (n,), jnp.uint32))]
        return zs[idx].reshape(chains, draws, zs.shape[-1])

    return jax.vmap(one)(keys, z, smoothed.astype(z.dtype))
