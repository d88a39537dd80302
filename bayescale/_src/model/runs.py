"""Checkpoints of one training run are not independent: correlated residuals along each run.

Rows that share a value of the ``run=`` column are the checkpoints of one
training run (its ``x`` is tokens seen, or steps). Consecutive checkpoints share
the run's seed, data order and learning-rate schedule, so their deviations from
the law move together: treating 100 checkpoints as 100 independent points makes
the posterior of the law far too sure. With ``run=``, the
residual of point ``i`` (in the likelihood's space: log loss, or logit y)

.. math::

    e_i = \\mathrm{obs}_i - \\mathrm{loc}(\\theta; x_i) = u_i + \\varepsilon_i,
    \\qquad \\varepsilon_i \\sim \\mathcal N(0, \\sigma^2)\\ \\text{(independent nugget)},

where, within a run ordered by size, :math:`u` is a stationary
Ornstein-Uhlenbeck (continuous-time AR(1)) process in the log of the size:

.. math::

    \\mathrm{Cov}(u_i, u_j) = s^2 \\exp\\!\\big(-|t_i - t_j| / \\ell\\big),

with :math:`t` the position along the run in decades (``log10 x``; for a law of
several inputs the distance between consecutive checkpoints is the largest
change of ``log10`` of any input, e.g. ``D`` at fixed ``N``), :math:`s` the
marginal sd (``run_sd``) and :math:`\\ell` the correlation length in decades
(``run_length``). Different runs are independent. A long :math:`\\ell` makes
:math:`u` a run-level offset; a short one, wiggles from the learning-rate
schedule. The OU process is Markov, so the exact Gaussian likelihood of a
run's points is a one-dimensional Kalman filter (Rasmussen and Williams 2006,
*Gaussian Processes for Machine Learning*, sec. B.2; Hartikainen and Särkkä
2010, "Kalman filtering and smoothing solutions to temporal Gaussian process
regression models", MLSP): with :math:`\\rho_i = \\exp(-\\Delta t_i/\\ell)`
(0 at a run's first point),

.. math::

    m^-_i = \\rho_i m_{i-1},\\quad P^-_i = \\rho_i^2 P_{i-1} + s^2(1-\\rho_i^2),\\quad
    S_i = P^-_i + \\sigma^2,\\quad \\log p = \\textstyle\\sum_i \\log\\mathcal N(e_i - m^-_i;\\, 0, S_i),

then :math:`m_i = m^-_i + P^-_i (e_i - m^-_i)/S_i` and
:math:`P_i = P^-_i \\sigma^2 / S_i`. One ``lax.scan`` over a curve's points
(sorted by run, then size; masked padding skipped) costs O(points) and vmaps
over curves and chains. The innovations are Gaussian, so the run-aware
likelihood is ``"normal"`` (or ``"logit_normal"``); the robust Student-t
default has no exact filter and is refused with ``run=``.

Priors (weakly informative, zero-avoiding like ``sigma``'s, see
:func:`bayescale._src.model.model.default_noise_prior`):

- ``run_sd ~ LogNormal(log 0.02, 1)``: a run wanders 0.4% to 10% (90%) around the law;
- ``run_length ~ LogNormal(log 0.3, 1)`` decades: 0.06 to 1.5 decades (90%),
  from wiggles over a few checkpoints to an offset over a whole run of 1-2 decades.

Predictions: ``kind="mean"`` is the law, as without runs; ``kind="observation"``
is a checkpoint of a *new* run, whose deviation has the stationary variance:
:math:`\\mathcal N(\\mathrm{loc}, s^2 + \\sigma^2)`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
from numpyro.distributions import constraints

RUN_SD = "run_sd"
RUN_LENGTH = "run_length"
SITES = (RUN_SD, RUN_LENGTH)
GAUSSIAN = ("normal", "logit_normal")

_PRIORS = {RUN_SD: dist.LogNormal(math.log(0.02), 1.0), RUN_LENGTH: dist.LogNormal(math.log(0.3), 1.0)}


class RunBatch(NamedTuple):
    """A :class:`~bayescale._src.model.data.CurveBatch` whose points are sorted by run, then size, with:

    ``gap`` ``[curves, points]``: the distance in decades from the previous
    checkpoint of the same run (0 at a run's first point and on padding);
    ``first`` ``[curves, points]``: True at each run's first point.
    """

    inputs: dict[str, np.ndarray]
    log_y: np.ndarray
    mask: np.ndarray
    log_refs: dict[str, np.ndarray]
    gap: np.ndarray
    first: np.ndarray


# the grid of noise values that lifts a fit of the checkpoints as independent points (residual sd s0) to starts
# of the run-aware mode search: each run's correlation length (decades), and the share of s0^2 in the run's
# process (run_sd = s0 sqrt(share), sigma = s0 sqrt(1 - share)); see start_grid
START_LENGTHS = 10.0 ** np.arange(-2.0, 1.01, 0.5)
START_SHARES = np.array([0.1, 0.5, 0.9, 0.99, 0.999])


def start_grid() -> tuple[np.ndarray, np.ndarray]:
    """``(share, length)``, each ``[35]``: every pair of ``START_SHARES`` and ``START_LENGTHS``.

    The run-aware mode search starts from the mode of the checkpoints seen as
    independent points (its law parameters and residual sd :math:`s_0`),
    with the noise split as :math:`s^2 = \\text{share}\\, s_0^2`,
    :math:`\\sigma^2 = (1 - \\text{share})\\, s_0^2` at each ``length``: from a
    nugget that dominates to runs that wander smoothly over 0.01-10 decades.
    The potential at every pair costs one pass of the filter without
    derivatives; the best pairs start Newton's method
    (:func:`~bayescale._src.engines.base.piloted_mode`).
    """
    share, length = np.meshgrid(START_SHARES, START_LENGTHS, indexing="ij")
    return share.ravel(), length.ravel()


def default_priors() -> dict[str, dist.Distribution]:
    """The priors of ``run_sd`` and ``run_length`` (see the module docstring)."""
    return dict(_PRIORS)


def split_priors(priors: Any) -> tuple[Any, dict[str, dist.Distribution]]:
    """Separate user priors of the run sites from the law's: ``(law priors, run priors with defaults)``."""
    run = default_priors()
    if not isinstance(priors, Mapping):
        return priors, run
    rest = {}
    for name, prior in priors.items():
        if name not in SITES:
            rest[name] = prior
            continue
        if not isinstance(prior, dist.Distribution) or prior.batch_shape or prior.event_shape:
            raise TypeError(f"the prior of {name!r} must be a scalar numpyro Distribution, got {prior!r}")
        if not isinstance(prior.support, type(constraints.positive)):
            raise ValueError(f"the prior of {name!r} must have positive support, got {prior.support}")
        run[name] = prior
    return rest or None, run


def check_likelihood(kind: str, run: str) -> None:
    """``ValueError`` unless the likelihood has Gaussian innovations (the Kalman filter is exact only then)."""
    if kind not in GAUSSIAN:
        raise ValueError(
            f"run={run!r} models correlated residuals along each run with a Kalman filter, which needs Gaussian "
            f"innovations: use likelihood='normal' (the default with run=) or 'logit_normal', not {kind!r}"
        )


# ---------------------------------------------------------------- host side: layout of the runs
def codes(frame: pd.DataFrame, run: str, group: str | None) -> np.ndarray:
    """Integer code of every row's run (the column was checked for presence and missing labels);
    ``ValueError`` naming the column for a run in several groups (a run's checkpoints make one curve)."""
    labels = frame[run]
    if group is not None and group != run:
        spans = frame.groupby(labels, sort=False)[group].nunique()
        if (spans > 1).any():
            bad = spans[spans > 1].index[0]
            bad = bad.item() if isinstance(bad, np.generic) else bad
            raise ValueError(f"run {bad!r} of column {run!r} has rows in {int(spans[bad])} groups of column "
                             f"{group!r}: the checkpoints of one run must belong to one curve")
    return pd.factorize(labels, sort=True)[0].astype(np.int64)


def order(rows: np.ndarray, run_codes: np.ndarray, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """A curve's rows sorted by run, then position along the run (the sum of log inputs)."""
    along = sum(np.log(v[rows]) for v in inputs.values())
    return rows[np.lexsort((along, run_codes[rows]))]


def layout(rows: np.ndarray, run_codes: np.ndarray, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(gap, first)`` of a curve's sorted rows: decades since the run's previous checkpoint, and run starts."""
    log10 = np.stack([np.log10(v[rows]) for v in inputs.values()])
    step = np.abs(np.diff(log10, axis=1)).max(axis=0) if len(rows) > 1 else np.zeros(0)
    first = np.ones(len(rows), bool)
    first[1:] = run_codes[rows[1:]] != run_codes[rows[:-1]]
    gap = np.where(first, 0.0, np.concatenate([[0.0], step]))
    return gap, first


def pad(batch, rows: Sequence[np.ndarray], run_codes: np.ndarray, inputs: Mapping[str, np.ndarray]) -> RunBatch:
    """The batch of sorted ``rows`` with its run layout (padding: gap 0, not a run start; masked anyway)."""
    gap = np.zeros(batch.mask.shape)
    first = np.zeros(batch.mask.shape, bool)
    for i, idx in enumerate(rows):
        gap[i, : len(idx)], first[i, : len(idx)] = layout(idx, run_codes, inputs)
    return RunBatch(*batch, gap, first)


def example(batch) -> RunBatch:
    """A placeholder run batch of the shapes of ``batch`` (for tracing a model)."""
    return RunBatch(*batch, np.zeros(batch.mask.shape), np.ones(batch.mask.shape, bool))


# ---------------------------------------------------------------- the likelihood
def _transition(gap, first, length):
    """``(rho, q)``: the OU autocorrelation over each gap and ``1 - rho^2`` (both exact at a run's start)."""
    scaled = gap / length[..., None]
    rho = jnp.where(first, 0.0, jnp.exp(-scaled))
    q = jnp.where(first, 1.0, -jnp.expm1(-2.0 * scaled))
    return rho, q


def innovations(resid, run_sd, length, noise, gap, first, mask):
    """Log density of each residual given the earlier ones of its run (the Kalman filter's innovations).

    ``resid``, ``gap``, ``first``, ``mask``: ``[..., points]``; ``run_sd``,
    ``length``, ``noise``: ``[...]``. Masked points contribute 0 and leave the
    filter's state unchanged. The sum over points is the exact log-likelihood.

    The scan runs over the points axis of each input as given: the layout
    (``gap``, ``first``, ``mask``), usually one curve's, is not broadcast to the
    residuals' batch shape, and each step's ``rho`` and ``q`` are computed
    inside the step. Under ``vmap`` over many parameter values (importance
    sampling's proposals), inputs broadcast to ``[batch, points]`` and moved
    points-first are read one strided column per step (measured on a 2-core
    CPU, the filter's step over 4096 points x 500 values: 204 ms from
    ``[values, points]`` input against 64 ms from points-major input, and 90 ms
    with the layout's ``rho`` per point rather than per value).
    """
    shape = jnp.broadcast_shapes(resid.shape, jnp.shape(run_sd) + resid.shape[-1:])
    batch = shape[:-1]
    var, nugget = run_sd**2, noise**2
    length = jnp.broadcast_to(length, batch)

    def step(state, point):
        m, p = state
        e, g, start, ok = point
        scaled = g / length
        r = jnp.where(start, 0.0, jnp.exp(-scaled))
        qq = jnp.where(start, 1.0, -jnp.expm1(-2.0 * scaled))
        m_pred, p_pred = r * m, r**2 * p + var * qq
        s = p_pred + nugget
        v = e - m_pred
        ll = -0.5 * (jnp.log(2 * jnp.pi * s) + v**2 / s)
        m_new, p_new = m_pred + p_pred * v / s, p_pred * nugget / s
        return (jnp.where(ok, m_new, m), jnp.where(ok, p_new, p)), jnp.where(ok, ll, 0.0)

    def along(a):
        return jnp.moveaxis(jnp.asarray(a), -1, 0)

    state = (jnp.zeros(batch, resid.dtype), jnp.broadcast_to(var, batch).astype(resid.dtype))
    _, ll = jax.lax.scan(step, state, (along(jnp.broadcast_to(resid, shape)), along(gap), along(first), along(mask)))
    return jnp.moveaxis(ll, 0, -1)


def simulate_residuals(key, shape, run_sd, length, noise, gap, first):
    """Draws of ``u + epsilon`` of shape ``shape`` (``[..., points]``): the OU paths of the runs plus the nugget."""
    k_path, k_noise = jax.random.split(key)
    rho, q = _transition(jnp.broadcast_to(gap, shape), jnp.broadcast_to(first, shape),
                         jnp.broadcast_to(length, shape[:-1]))
    shocks = jax.random.normal(k_path, shape) * jnp.sqrt(q) * jnp.asarray(run_sd)[..., None]

    def step(u, point):
        r, shock = point
        u = r * u + shock
        return u, u

    _, path = jax.lax.scan(step, jnp.zeros(shape[:-1]), (jnp.moveaxis(rho, -1, 0), jnp.moveaxis(shocks, -1, 0)))
    return jnp.moveaxis(path, 0, -1) + jax.random.normal(k_noise, shape) * jnp.asarray(noise)[..., None]


class CorrelatedRuns(dist.Distribution):
    """The observations of one curve (a vector over its points) with OU-correlated residuals along each run.

    ``loc`` ``[..., points]`` is the law's location in the likelihood's space;
    ``run_sd``, ``run_length`` (decades) and ``noise`` (the nugget ``sigma``)
    are scalars per batch member; ``gap``, ``first``, ``mask`` the run layout
    (:class:`RunBatch`). See the module docstring for the math.
    """

    arg_constraints = {"loc": constraints.real_vector, "run_sd": constraints.positive,
                       "run_length": constraints.positive, "noise": constraints.positive}
    support = constraints.real_vector
    reparametrized_params = ["loc", "run_sd", "run_length", "noise"]

    def __init__(self, loc, run_sd, run_length, noise, gap, first, mask, *, validate_args=None):
        self.loc, self.run_sd, self.run_length, self.noise = loc, run_sd, run_length, noise
        self.gap, self.first, self.mask = gap, first, mask
        batch = jnp.broadcast_shapes(jnp.shape(loc)[:-1], jnp.shape(run_sd), jnp.shape(run_length), jnp.shape(noise))
        super().__init__(batch_shape=batch, event_shape=jnp.shape(loc)[-1:], validate_args=validate_args)

    def pointwise(self, value):
        """Per-point conditional log densities ``[..., points]`` (0 at masked points)."""
        return innovations(value - self.loc, self.run_sd, self.run_length, self.noise, self.gap, self.first,
                           self.mask)

    def log_prob(self, value):
        return self.pointwise(value).sum(-1)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape + self.event_shape
        return self.loc + simulate_residuals(key, shape, jnp.broadcast_to(self.run_sd, shape[:-1]),
                                             self.run_length, jnp.broadcast_to(self.noise, shape[:-1]),
                                             self.gap, self.first)


def new_run_scale(sigma, run_sd):
    """Sd of one checkpoint of a new run around the law: the stationary OU variance plus the nugget."""
    return jnp.sqrt(sigma**2 + run_sd**2)


def simulate(law, params: Mapping[str, Any], sizes: Mapping[str, np.ndarray], num_runs: int, *, run_sd: Any,
             run_length: Any, sigma: Any, num_curves: int = 1, seed: int = 0) -> pd.DataFrame:
    """Curves of checkpoints with OU-correlated residuals around a known law (for calibration studies).

    Each of ``num_curves`` curves (column ``curve``) has ``num_runs`` runs
    (column ``run``, labels unique across curves), every run with checkpoints at
    ``sizes`` (``{input: array}``, sorted along the run); ``loss`` is
    ``exp(log L(params; sizes) + u + epsilon)`` with ``u`` the OU process of
    sd ``run_sd`` and length ``run_length`` decades and ``epsilon ~ N(0, sigma^2)``.
    Every parameter (and ``run_sd``, ``run_length``, ``sigma``) is a number, or
    an array of one value per curve (e.g. draws from the priors, for SBC).
    """
    sizes = {k: np.asarray(v, dtype=np.float64) for k, v in sizes.items()}
    n = len(next(iter(sizes.values())))

    def per_curve(value):
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (num_curves,))

    values = {k: per_curve(v)[:, None] for k, v in params.items()}
    log_law = np.log(np.asarray(law.fn(values, {k: v[None, :] for k, v in sizes.items()})))  # [curves, n]
    gap, first = layout(np.arange(n), np.zeros(n, np.int64), sizes)
    shape = (num_runs, num_curves, n)
    resid = simulate_residuals(jax.random.PRNGKey(seed), shape, jnp.broadcast_to(per_curve(run_sd), shape[:-1]),
                               jnp.asarray(per_curve(run_length)), jnp.broadcast_to(per_curve(sigma), shape[:-1]),
                               jnp.asarray(gap), jnp.asarray(first))
    loss = np.exp(log_law[:, None, :] + np.moveaxis(np.asarray(resid), 0, 1))  # [curves, runs, n]
    curve, run = np.meshgrid(np.arange(num_curves), np.arange(num_runs), indexing="ij")
    table = {k: np.tile(v, num_curves * num_runs) for k, v in sizes.items()}
    table["loss"] = loss.ravel()
    table["curve"] = np.repeat(curve.ravel(), n)
    table["run"] = np.repeat((curve * num_runs + run).ravel(), n)
    return pd.DataFrame(table)


def simulate_prior(law, priors: Mapping[str, dist.Distribution], sizes: Mapping[str, np.ndarray], num_runs: int,
                   num_curves: int, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Curves of runs (:func:`simulate`) with every parameter drawn from ``priors`` (the law's, ``sigma``,
    ``run_sd``, ``run_length``), one draw per curve: the data sets of simulation-based calibration.
    Returns the table and the true values ``{name: [num_curves]}``."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(priors) + 1)
    truth = {name: np.asarray(p.sample(k, (num_curves,)), np.float64) for k, (name, p) in zip(keys, priors.items())}
    table = simulate(law, {k: truth[k] for k in law.param_names}, sizes, num_runs, run_sd=truth[RUN_SD],
                     run_length=truth[RUN_LENGTH], sigma=truth["sigma"], num_curves=num_curves,
                     seed=int(jax.random.randint(keys[-1], (), 0, 2**31 - 1)))
    return table, truth
