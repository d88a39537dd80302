"""Importance-corrected Laplace: draws of heavy-tailed proposals at the modes, reweighted to the posterior.

For each unit, with the distinct local modes :math:`\\hat z_j` that the
multi-start optimizer found (:func:`~bayescale._src.engines.base.find_mode`;
one for most curves) and their Laplace covariances :math:`\\Sigma_j = H(\\hat z_j)^{-1}`:

1. The proposals come in ``stages`` equal batches (multi-stage adaptive importance sampling, AMIS:
   Cornuet, Marin, Mira and Robert 2012, "Adaptive multiple importance sampling", Scand. J. Statist.).
   The first batch comes from a mixture of multivariate Student-t's
   :math:`q_1 = \\sum_j \\pi_j\\, t_\\nu(\\hat z_j, \\Sigma_j)`, weighted by each mode's
   Laplace evidence :math:`\\pi_j \\propto e^{-U(\\hat z_j)} |\\Sigma_j|^{1/2}`.
2. After each batch, the truncated importance weights of every draw so far (Ionides 2008), shared among
   the components by responsibility, move each component to the weighted mean and covariance of its
   draws and reweight it by its share (one step of mixture population Monte Carlo, Cappe, Douc,
   Guillin, Marin and Robert 2008, "Adaptive importance sampling in general mixture classes"); the next
   batch comes from that adapted mixture :math:`q_{s+1}`. This follows a posterior that is skewed, lies
   on a curved ridge away from the mode, has a long one-sided tail (the drop of a nearly flat curve,
   bounded above by the data and below by the prior only) or has more than one basin. Many small
   batches adapt further than two large ones at the same cost: on 17 nearly flat curves that two
   batches of 2,000 left with :math:`\\hat k > 0.7`, eight batches of 500 left none (median
   :math:`\\hat k` 0.38 against 0.78; ``benchmarks/bench_auto.py``).
3. Every draw :math:`z_i` is weighted against the deterministic mixture of
   all the proposals (Veach and Guibas 1995; Owen and Zhou 2000),
   :math:`\\log w_i = -U(z_i) - \\log\\big(\\tfrac1S \\sum_s q_s(z_i)\\big)`,
   where :math:`U` is the potential and :math:`S` the number of stages; the mixture keeps every weight
   bounded by :math:`S` times that of any one proposal alone.
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

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayescale._src.model import batch as batch_mod
from bayescale._src.engines import small_linalg
from bayescale._src.engines import laplace
from bayescale._src.engines.psis import smooth
from bayescale._src.engines.base import Draws, start
from bayescale._src.model.problem import Problem

MIN_PROPOSALS = 2000  # enough draws in the tail for a stable Pareto fit
RIDGE = 1e-8


class Settings(NamedTuple):
    num_starts: int = 16
    num_steps: int = 60
    chains: int = 4
    draws: int = 1000
    proposals: int = 0  # 0: max(chains * draws, MIN_PROPOSALS)
    # degrees of freedom of the Student-t proposals (an integer: see StudentTMixture). 3, not 5: on the nearly flat
    # design the posterior's tails in alpha and log A are heavier than a t_5's, so k stayed above 0.7 where a t_3
    # covers them (bench_auto, 64 flat curves: 1 curve to NUTS instead of 4, 16 against 40 ms per curve, every
    # curve within 0.4-1.8 MCSE of long NUTS runs; 500 power curves 13.0 against 15.2 ms, ESS median 3091)
    df: int = 3
    # adaptation stages (AMIS): each proposal after the first has the weighted moments of all draws so far. 8, not
    # 2: on the 200-curve sweep of bench_auto, 17 of 200 curves left two stages of 2,000 proposals with k > 0.7
    # (and 2 of those left the retry's 6 stages of 4,000 for NUTS); 8 stages of 500 left none of the 17
    stages: int = 8


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
    z, log_w, ok = _propose(problem, settings, batch, split[:, 1], mode.others)
    smoothed, pareto_k = smooth(batch_mod.gather(log_w))
    draws = _resample(settings.chains, settings.draws, split[:, 2], z, batch_mod.shard(smoothed, batch_mod.mesh()))
    ess = 1.0 / np.sum(np.exp(2.0 * smoothed), axis=-1)
    return Draws(draws, {}, mode.z, ok, {"pareto_k": pareto_k, "ess_importance": ess})


@functools.partial(jax.jit, static_argnums=(0, 1))
def _propose(problem: Problem, settings: Settings, batch, keys, others):
    # one batched eigendecomposition for every mode of every unit (the best is the first): two LAPACK kernels in
    # one program can deadlock XLA's CPU pool (see small_linalg)
    cov, proper = laplace.covariance(others.hessian)
    stages = settings.stages
    per_stage = num_proposals(settings) // stages

    def one(key, data, others, cov, proper):
        potential = jax.vmap(lambda z: problem.potential(z, data))
        first = _at_modes(others, cov, proper, settings.df)
        return _amis(potential, first, key, stages, per_stage)

    z, log_w = jax.vmap(one)(keys, batch, others, cov, proper)
    return z, log_w, proper[:, 0]


def _amis(potential, first: "StudentTMixture", key, stages: int, per_stage: int):
    """Steps 1-3 of the module docstring for one unit: ``(z [n, dim], log_w [n])``, ``n = stages * per_stage``.

    The stages run in one ``lax.scan`` over fixed-size buffers (the program, and its compile time, does not
    grow with ``stages``: unrolled, 8 stages took 21 s to compile against 7 s for 2). ``mixture[i]`` is
    :math:`\\log \\sum_{s' \\le s} q_{s'}(z_i)` over the proposals so far: at stage ``s`` the earlier draws
    add the new proposal's density, and the new draws get the sum over every proposal so far (kept in
    ``history``). Slots of later draws hold placeholders with weight zero.
    """
    n = stages * per_stage
    dim = first.loc.shape[-1]
    df = first.df
    history = tuple(jnp.broadcast_to(a, (stages, *a.shape)) for a in _arrays(first))
    zs = jnp.zeros((n, dim), first.loc.dtype)
    us = jnp.full((n,), jnp.inf, first.loc.dtype)
    mixture = jnp.full((n,), -jnp.inf, first.loc.dtype)
    order = jnp.arange(n)

    def stage(carry, inputs):
        arrays, history, zs, us, mixture, logs, _ = carry
        s, k = inputs
        q = StudentTMixture(*arrays, df)
        z_new = q.sample(k, (per_stage,))
        zs = jax.lax.dynamic_update_slice(zs, z_new, (s * per_stage, 0))
        us = jax.lax.dynamic_update_slice(us, potential(z_new), (s * per_stage,))
        history = tuple(h.at[s].set(a) for h, a in zip(history, arrays))
        # the new draws under every proposal so far: rows 0..s only (a loop of s + 1 steps, not all `stages`
        # rows masked afterwards, which evaluated (stages - s - 1) / stages of the densities for nothing)
        def under(j, rows):
            return rows.at[j].set(StudentTMixture(*(h[j] for h in history), df).log_prob(z_new))

        at_new = jax.lax.fori_loop(0, s + 1, under, jnp.full((stages, per_stage), -jnp.inf, zs.dtype))
        at_new = jax.scipy.special.logsumexp(jnp.where((jnp.arange(stages) <= s)[:, None], at_new, -jnp.inf), axis=0)
        # every draw so far under the new proposal, block by block over the s + 1 filled blocks (the later slots of
        # `logs` keep finite placeholders, whose draws have weight zero)
        def block(j, logs):
            z_j = jax.lax.dynamic_slice(zs, (j * per_stage, 0), (per_stage, dim))
            return jax.lax.dynamic_update_slice(logs, q.component_log_probs(z_j), (0, j * per_stage))

        logs = jax.lax.fori_loop(0, s + 1, block, logs)  # [components, n]
        earlier = order < s * per_stage
        mixture = jnp.where(earlier, jnp.logaddexp(mixture, jax.scipy.special.logsumexp(logs, axis=0)), mixture)
        mixture = jax.lax.dynamic_update_slice(mixture, at_new, (s * per_stage,))
        log_w = -us - (mixture - jnp.log(s + 1.0))
        log_w = jnp.where((order < (s + 1) * per_stage) & jnp.isfinite(log_w), log_w, -jnp.inf)
        following = _moments(zs, log_w, q, logs, count=(s + 1) * per_stage)
        return (_arrays(following), history, zs, us, mixture, logs, log_w), None

    logs = jnp.zeros((first.loc.shape[0], n), first.loc.dtype)
    init = (_arrays(first), history, zs, us, mixture, logs, jnp.full((n,), -jnp.inf, first.loc.dtype))
    (_, _, zs, _, _, _, log_w), _ = jax.lax.scan(stage, init, (jnp.arange(stages), jax.random.split(key, stages)))
    return zs, log_w


def _arrays(q: "StudentTMixture") -> tuple:
    """The array fields of a mixture (all but its static ``df``), to carry through ``lax.scan``."""
    return q.log_weights, q.loc, q.scale_tril, q.inverse_tril


def _mixture_log_prob(component_logs):
    """Log density of the equal mixture of the proposals whose weighted component log densities are
    ``component_logs`` (one ``[k, n]`` array per proposal): the deterministic-mixture weights' denominator."""
    every = jnp.concatenate(component_logs, axis=0)
    return jax.scipy.special.logsumexp(every, axis=0) - jnp.log(len(component_logs))


class StudentTMixture(NamedTuple):
    """Mixture of multivariate Student-t's with one integer ``df``: weights ``exp(log_weights) [k]`` (``-inf``
    for an unused slot, whose ``loc [k, dim]`` and ``scale_tril [k, dim, dim]`` are then a copy of the first).
    ``inverse_tril``: the inverses of the factors, so that every component whitens the draws in one product.

    Written out because with an integer ``df`` the chi-square variable is a sum of ``df`` squared normals:
    numpyro's ``MultivariateStudentT`` draws it with a rejection-sampled gamma, which took half the time of
    the whole proposal step (measured, 8,000 draws per curve).
    """

    log_weights: jax.Array
    loc: jax.Array
    scale_tril: jax.Array
    inverse_tril: jax.Array
    df: int

    @classmethod
    def of(cls, log_weights, loc, scale_tril, df: int) -> "StudentTMixture":
        dim = loc.shape[-1]
        eye = jnp.eye(dim, dtype=loc.dtype)
        inverse = jax.vmap(lambda tril: small_linalg.solve_lower(tril, eye).T)(scale_tril)
        return cls(log_weights, loc, scale_tril, inverse, df)

    def sample(self, key, shape):
        k_which, k_normal, k_chi2 = jax.random.split(key, 3)
        which = jax.random.categorical(k_which, self.log_weights, shape=shape)
        dim = self.loc.shape[-1]
        eps = jax.random.normal(k_normal, (*shape, dim), self.loc.dtype)
        chi2 = jnp.sum(jax.random.normal(k_chi2, (*shape, self.df), self.loc.dtype) ** 2, axis=-1)
        step = jnp.einsum("...ij,...j->...i", self.scale_tril[which], eps)
        return self.loc[which] + step * jnp.sqrt(self.df / chi2)[..., None]

    def component_log_probs(self, z):
        """``log w_c + log q_c(z)`` of every component ``c``, ``[k, n]`` for draws ``z [n, dim]``."""
        dim, nu = self.loc.shape[-1], self.df
        white = jnp.einsum("kij,knj->kni", self.inverse_tril, z[None] - self.loc[:, None])
        maha = jnp.sum(white**2, axis=-1)
        log_det = jnp.sum(jnp.log(jnp.diagonal(self.scale_tril, axis1=-2, axis2=-1)), axis=-1)
        const = gammaln((nu + dim) / 2) - gammaln(nu / 2) - 0.5 * dim * jnp.log(nu * jnp.pi) - log_det
        return (const + self.log_weights)[:, None] - 0.5 * (nu + dim) * jnp.log1p(maha / nu)

    def log_prob(self, z):
        return jax.scipy.special.logsumexp(self.component_log_probs(z), axis=0)


MODE_NATS = 10.0  # a local mode more than this many nats above the best one gets no component
MODE_FLOOR = 0.1  # the least weight of a mode's component relative to the best's, before normalizing


def _at_modes(modes, cov, proper, df) -> StudentTMixture:
    """The first proposal: a Student-t at each distinct local mode the multi-start found (``modes``, a
    :class:`~bayescale._src.engines.base.Modes`, best first) with its Laplace covariance, weighted by its
    Laplace evidence :math:`e^{-U_j} |\\Sigma_j|^{1/2}` (floored at ``MODE_FLOOR`` of the best's, so that a
    mode whose curvature understates its mass still gets proposals; Cappe, Douc, Guillin, Marin and Robert
    2008, "Adaptive importance sampling in general mixture classes", Statistics and Computing). ``cov`` and
    ``proper``: the modes' Laplace covariances and whether their Hessians are positive-definite
    (:func:`~bayescale._src.engines.laplace.covariance`). The best mode's component always serves; with one
    mode this is the Student-t at the mode."""
    # small_linalg, not jnp.linalg: jaxlib's batched LAPACK kernels can deadlock here (see small_linalg)
    tril = small_linalg.cholesky(cov)
    usable = modes.found & proper & small_linalg.is_factor(tril) & (modes.potential - modes.potential[0] < MODE_NATS)
    usable = usable.at[0].set(True)
    log_evidence = -modes.potential + jnp.sum(jnp.log(jnp.diagonal(tril, axis1=-2, axis2=-1)), axis=-1)
    relative = jnp.where(usable, log_evidence, -jnp.inf)
    relative = relative - jnp.max(relative)
    log_weights = jnp.where(usable, jnp.maximum(relative, jnp.log(MODE_FLOOR)), -jnp.inf)
    log_weights = log_weights - jax.scipy.special.logsumexp(log_weights)
    loc = jnp.where(usable[:, None], modes.z, modes.z[0])
    tril = jnp.where(usable[:, None, None], tril, tril[0])
    return StudentTMixture.of(log_weights, loc, tril, df)


def _moments(z, log_w, previous: StudentTMixture, previous_logs, count=None) -> StudentTMixture:
    """The next proposal: each component moved to the truncated-importance-weighted mean and covariance of the
    draws it is responsible for, and reweighted by their share of the weight (one step of mixture population
    Monte Carlo, Cappe et al. 2008); a component keeps its previous values where that fails.

    Weights are truncated at ``sqrt(n)`` times their mean (Ionides 2008,
    "Truncated importance sampling", JCGS) so that one lucky draw cannot set
    the covariance; the covariance gets a ridge relative to its trace. With one
    component this is the Student-t at the weighted moments of all draws. ``previous_logs``:
    ``previous.component_log_probs(z)``; ``count``: how many of the draws are real (the others have weight
    zero, ``log_w = -inf``; default all).
    """
    n, dim = z.shape
    n = n if count is None else count
    finite = jnp.isfinite(log_w)
    lw = jnp.where(finite, log_w, -jnp.inf)
    w = jnp.exp(lw - jnp.max(jnp.where(finite, lw, -jnp.inf)))
    w = jnp.where(finite, w, 0.0)
    w = jnp.minimum(w, jnp.sum(w) / jnp.sqrt(n))
    w = w / jnp.sum(w)
    responsibility = jax.nn.softmax(previous_logs, axis=0)  # [k, n]
    responsibility = jnp.where(jnp.isfinite(previous.log_weights)[:, None], responsibility, 0.0)
    wk = responsibility * w  # [k, n]
    share = jnp.sum(wk, axis=1)
    mean = (wk @ z) / share[:, None]
    dev = z[None] - mean[:, None]
    est = jnp.einsum("kn,kni,knj->kij", wk, dev, dev) / share[:, None, None]
    trace = jnp.trace(est, axis1=-2, axis2=-1)
    est = est + RIDGE * (trace / dim)[:, None, None] * jnp.eye(dim)
    # small_linalg, not jnp.linalg: jaxlib's batched LAPACK kernels can deadlock here (see small_linalg)
    factor = small_linalg.cholesky(est)
    ess = share**2 / jnp.sum(wk**2, axis=1)
    good = (jnp.all(jnp.isfinite(est), axis=(-2, -1)) & small_linalg.is_factor(factor) & (ess > 2 * dim)
            & jnp.isfinite(previous.log_weights))
    log_share = jnp.where(good, jnp.log(share), previous.log_weights)
    log_share = log_share - jax.scipy.special.logsumexp(log_share)
    return StudentTMixture.of(log_share, jnp.where(good[:, None], mean, previous.loc),
                              jnp.where(good[:, None, None], factor, previous.scale_tril), previous.df)


def _resample(chains: int, draws: int, keys, z, smoothed):
    """Systematic resampling (lower variance than multinomial; Douc and Cappe 2005), then shuffled: draws
    ``[units, chains, draws, dim]`` from ``z [units, n, dim]`` with smoothed log weights ``smoothed [units, n]``.

    The shuffle is a stable sort on random 32-bit keys (``jax.random.permutation`` sorts twice to break ties,
    the only bias of which here would be the order of two equal keys among 4,000: measured 0.9 against 2.1 ms
    per curve), done on the host: numpy's stable sort of unsigned integers is a radix sort, which took 0.2 ms
    per curve where XLA's CPU sort took 1.7 (16 curves of 4,000 keys, ``benchmarks/README.md``), and gives the
    same order as ``jnp.argsort`` on the device, so the same draws.
    """
    n = chains * draws
    picked, bits = batch_mod.gather(_systematic(n, keys, smoothed.astype(z.dtype)))
    order = np.take_along_axis(picked, np.argsort(bits, axis=-1, kind="stable"), axis=-1)
    return _take(chains, draws, z, batch_mod.shard(order, batch_mod.mesh()))


@functools.partial(jax.jit, static_argnums=0)
def _systematic(n: int, keys, smoothed):
    """Each unit's ``n`` systematically resampled indices into its draws, in order, and ``n`` random 32-bit keys
    to shuffle them by."""

    def one(key, lw):
        k1, k2 = jax.random.split(key)
        cdf = jnp.cumsum(jax.nn.softmax(lw))
        u = (jnp.arange(n) + jax.random.uniform(k1, dtype=cdf.dtype)) / n
        idx = jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1]), lw.shape[0] - 1)
        return idx, jax.random.bits(k2, (n,), jnp.uint32)

    return jax.vmap(one)(keys, smoothed)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _take(chains: int, draws: int, z, order):
    """The draws ``z [units, n, dim]`` at ``order [units, chains * draws]``, as ``[units, chains, draws, dim]``."""
    return jax.vmap(lambda zs, idx: zs[idx].reshape(chains, draws, zs.shape[-1]))(z, order)
