"""How much observing one more run would sharpen the forecast at a target: scored from posterior draws.

Every function here works on draws of the likelihood's location (``log L`` for the
default likelihoods) at the candidate runs, ``f_cand [S, M]``, and at the target
inputs, ``f_target [S, T]``, with the noise scale of each draw, ``sigma [S]``.
The value of candidate ``c`` is the expected reduction of the predictive variance
of ``log L`` at the target, summed over the target's points (an A-optimal,
target-focused utility; Chaloner and Verdinelli 1995, "Bayesian experimental
design: a review", Statistical Science 10(3), section 2.2).

Two estimators (``criterion=``):

``"gaussian"`` (linearized)
    Treat ``(f_t, y_c)`` as jointly Gaussian with the draws' covariance. Observing
    ``y_c = f_c + noise`` then removes

    .. math:: \\Delta_c = \\sum_t \\frac{\\mathrm{Cov}(f_t, f_c)^2}{\\mathrm{Var}(f_c) + \\tau^2}

    of the variance at the target, whatever the outcome (the Kalman gain; the
    variance-reduction criterion of Cohn, Ghahramani and Jordan 1996, "Active
    learning with statistical models", JAIR 4). ``tau^2`` is the noise variance of
    one run, averaged over draws. A batch conditions each pick on the earlier ones
    by transforming the draws with the ensemble square-root update (Whitaker and
    Hamill 2002, "Ensemble data assimilation without perturbed observations",
    Monthly Weather Review 130), which keeps their covariance exactly equal to the
    Gaussian posterior covariance, in O(S M) per pick.

``"reweight"`` (nonlinear)
    Simulate ``J`` outcomes per candidate from the posterior predictive (a world
    ``j`` draws its true parameters ``theta_{s_j}`` and one noise value per
    candidate) and reweight the other draws by their likelihood of each outcome
    (importance sampling of the posterior after the run, as in Ryan et al. 2016,
    "A review of modern computational algorithms for Bayesian optimal design",
    International Statistical Review 84(1), section 4). The value is the mean over
    worlds of the drop in the weighted variance at the target. A batch keeps the
    worlds and adds each pick's log-likelihood to their weights, so the next pick
    is scored given the simulated outcomes of the earlier ones. The world's own
    draw is left out of its weights, which would otherwise collapse onto it.

``"shortlist"`` (both)
    Rank every candidate by the Gaussian gain per cost, then score the
    ``SHORTLIST`` best of them by reweighting: the nonlinear criterion's picks
    where they matter, at about the Gaussian one's cost. A batch conditions both
    states on each pick.

Each scores every candidate (or the shortlist) in one vectorized pass (the
reweighting one over worlds x candidates x draws).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from bayescale._src.model.model import Likelihood

CRITERIA = ("gaussian", "reweight", "shortlist")
MAP_BLOCK = 64
SHORTLIST = 16  # candidates rescored by reweighting: a fixed size, so one compiled program per pool


class Scores(NamedTuple):
    """Per-candidate scores (each ``[M]``) and the target's variance they are relative to.

    ``gain`` is the expected reduction of the summed variance of ``log L`` at the target;
    ``candidate_variance`` the predictive variance of ``log L`` at the candidate (what the run
    would teach, before noise); ``covariance`` the root summed squared covariance between the
    target and the candidate (how much of that is about the target; NaN for ``"reweight"``).
    """

    gain: jax.Array
    candidate_variance: jax.Array
    covariance: jax.Array
    target_variance: jax.Array  # scalar: the summed variance at the target before the run


def noise_variance(likelihood: Likelihood, sigma: jax.Array) -> jax.Array:
    """Variance of one observation's noise on the likelihood's scale, averaged over the draws of ``sigma``.

    Student-t with ``nu > 2`` degrees of freedom has variance ``sigma^2 nu / (nu - 2)``;
    with ``nu <= 2`` (infinite variance) the Normal with the same interquartile range stands in.
    """
    if likelihood.kind.endswith("normal"):
        factor = 1.0
    elif likelihood.df > 2:
        factor = likelihood.df / (likelihood.df - 2)
    else:
        quartile = jax.scipy.stats.t.ppf(0.75, likelihood.df) / jax.scipy.stats.norm.ppf(0.75)
        factor = quartile**2
    return jnp.mean(sigma**2) * factor


def _centred(values: jax.Array) -> jax.Array:
    return values - values.mean(axis=0)


def _gaussian(zc: jax.Array, zt: jax.Array, tau2: jax.Array) -> Scores:
    s = zc.shape[0] - 1
    cov = zt.T @ zc / s  # [T, M]
    var_c = jnp.sum(zc**2, axis=0) / s
    cov2 = jnp.sum(cov**2, axis=0)
    return Scores(cov2 / (var_c + tau2), var_c, jnp.sqrt(cov2), jnp.sum(zt**2) / s)


def gaussian_condition(zc: jax.Array, zt: jax.Array, pick: jax.Array, tau2: jax.Array):
    """Centred draws after observing candidate ``pick``: the ensemble square-root update.

    With ``k = Var(f_pick)``, ``z`` the picked column and ``beta = 1 / (k + tau2 + sqrt(tau2 (k + tau2)))``,
    every column ``u`` becomes ``u - beta Cov(u, f_pick) z``: the draws' covariance becomes the
    Gaussian posterior covariance ``K - K_p K_p^T / (k + tau2)`` exactly.
    """
    s = zc.shape[0] - 1
    z = zc[:, pick]
    k = jnp.sum(z**2) / s
    beta = 1.0 / (k + tau2 + jnp.sqrt(tau2 * (k + tau2)))
    shrink = lambda u: u - beta * jnp.outer(z, z @ u / s)  # noqa: E731
    return shrink(zc), shrink(zt)


class Worlds(NamedTuple):
    """Simulated outcomes of the ``"reweight"`` criterion: ``outcome [J, M]`` on the likelihood's scale,
    the draws' log-weights in each world ``log_weight [J, S]`` (the world's own draw at -inf)."""

    outcome: jax.Array
    log_weight: jax.Array


def simulate_worlds(key, f_cand: jax.Array, sigma: jax.Array, likelihood: Likelihood, worlds: int) -> Worlds:
    """``worlds`` joint outcomes of every candidate from the posterior predictive (module docstring)."""
    s = f_cand.shape[0]
    k_draw, k_noise = jax.random.split(key)
    truth = jax.random.choice(k_draw, s, (worlds,), replace=False) if worlds <= s else \
        jax.random.choice(k_draw, s, (worlds,))
    noise = likelihood.dist(0.0, 1.0).sample(k_noise, (worlds, f_cand.shape[1]))
    outcome = f_cand[truth] + sigma[truth][:, None] * noise
    log_weight = jnp.where(jnp.arange(s)[None, :] == truth[:, None], -jnp.inf, 0.0)
    return Worlds(outcome, log_weight)


def _weighted_variance(log_w: jax.Array, f_target: jax.Array) -> jax.Array:
    """Summed variance of ``f_target [S, T]`` under normalized weights ``exp(log_w) [..., S]``."""
    w = jnp.exp(log_w - logsumexp(log_w, axis=-1, keepdims=True))
    mean = w @ f_target
    return jnp.sum(w @ f_target**2 - mean**2, axis=-1)


def _log_kernel(likelihood: Likelihood, outcome, loc, sigma):
    """``log p(outcome | loc, sigma)`` up to a constant: the normalizing terms cancel in the weights."""
    r2 = ((outcome - loc) / sigma) ** 2
    if likelihood.kind.endswith("normal"):
        return -0.5 * r2 - jnp.log(sigma)
    return -0.5 * (likelihood.df + 1) * jnp.log1p(r2 / likelihood.df) - jnp.log(sigma)


class GaussianState(NamedTuple):
    """Centred draws at the candidates ``zc [S, M]`` and the target ``zt [S, T]``, and the noise variance."""

    zc: jax.Array
    zt: jax.Array
    tau2: jax.Array


class ReweightState(NamedTuple):
    """The worlds of simulated outcomes and the draws they reweight."""

    worlds: Worlds
    f_cand: jax.Array
    f_target: jax.Array
    sigma: jax.Array


class ShortlistState(NamedTuple):
    """The Gaussian state, which ranks every candidate, and the reweighting one, which rescores the shortlist."""

    gaussian: GaussianState
    reweight: ReweightState


def start_state(criterion: str, f_cand, f_target, sigma, likelihood: Likelihood, worlds: int, key):
    """The criterion's state before any pick (``f_*`` draws on the likelihood's scale)."""
    f_cand, f_target, sigma = (jnp.asarray(a) for a in (f_cand, f_target, sigma))
    gaussian = GaussianState(_centred(f_cand), _centred(f_target), noise_variance(likelihood, sigma))
    if criterion == "gaussian":
        return gaussian
    reweight = ReweightState(simulate_worlds(key, f_cand, sigma, likelihood, worlds), f_cand, f_target, sigma)
    return reweight if criterion == "reweight" else ShortlistState(gaussian, reweight)


@functools.partial(jax.jit, static_argnums=1)
def score(state, likelihood: Likelihood) -> Scores:
    """Every candidate's expected variance reduction at the target, given the state's earlier picks.

    (A ``ShortlistState`` gives the Gaussian scores of every candidate; :func:`rescore` refines the shortlist.)
    """
    if isinstance(state, ShortlistState):
        state = state.gaussian
    if isinstance(state, GaussianState):
        return _gaussian(state.zc, state.zt, state.tau2)
    return _reweight(state, likelihood, jnp.arange(state.f_cand.shape[1]))


@functools.partial(jax.jit, static_argnums=2)
def rescore(state: ShortlistState, columns: jax.Array, likelihood: Likelihood) -> jax.Array:
    """The reweighted gain of the candidates ``columns`` (the shortlist), given the earlier picks."""
    return _reweight(state.reweight, likelihood, columns).gain


def _reweight(state: ReweightState, likelihood: Likelihood, columns: jax.Array) -> Scores:
    worlds, f_cand, f_target, sigma = state
    outcome, f_cand = worlds.outcome[:, columns], f_cand[:, columns]
    before = _weighted_variance(worlds.log_weight, f_target)  # [J]

    def variance_after(args):  # one candidate: its J outcomes reweight the S draws
        outcome, loc = args  # [J], [S]
        log_lik = _log_kernel(likelihood, outcome[:, None], loc[None, :], sigma[None, :])
        return _weighted_variance(worlds.log_weight + log_lik, f_target)

    # candidates in blocks of MAP_BLOCK: [block, J, S] weights at a time, not [M, J, S]
    after = jax.lax.map(variance_after, (outcome.T, f_cand.T), batch_size=MAP_BLOCK)  # [M, J]
    w = jnp.exp(worlds.log_weight - logsumexp(worlds.log_weight, axis=-1, keepdims=True))  # [J, S]
    mean_c = w @ f_cand
    var_c = jnp.mean(w @ f_cand**2 - mean_c**2, axis=0)
    gain = jnp.mean(before[None, :] - after, axis=1)
    return Scores(gain, var_c, jnp.full_like(gain, jnp.nan), jnp.mean(before))


@functools.partial(jax.jit, static_argnums=2)
def condition(state, pick, likelihood: Likelihood):
    """The state after observing candidate ``pick`` (its outcome still unknown: simulated, or integrated out)."""
    if isinstance(state, ShortlistState):
        return ShortlistState(condition(state.gaussian, pick, likelihood), condition(state.reweight, pick, likelihood))
    if isinstance(state, GaussianState):
        return state._replace(**dict(zip(("zc", "zt"), gaussian_condition(state.zc, state.zt, pick, state.tau2))))
    worlds, f_cand, f_target, sigma = state
    log_lik = _log_kernel(likelihood, worlds.outcome[:, pick][:, None], f_cand[:, pick][None, :], sigma[None, :])
    return state._replace(worlds=worlds._replace(log_weight=worlds.log_weight + log_lik))
