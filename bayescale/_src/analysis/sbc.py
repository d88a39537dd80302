"""Simulation-based calibration: are a law's posterior intervals honest under its own prior?

For each of ``num_datasets`` simulated data sets, parameters
:math:`\\tilde\\theta \\sim p(\\theta)` are drawn from the model's prior (the
same priors, in natural units, that :func:`bayescale.fit` uses), a curve is
simulated at the given sizes with the likelihood's noise,

.. math:: \\log \\tilde y_i \\sim \\mathrm{StudentT}_\\nu\\big(\\log L(\\tilde\\theta; x_i), \\tilde\\sigma\\big),

and every curve is fitted in one batched :func:`bayescale.fit` call. If the
sampler is exact, the rank of :math:`\\tilde\\theta` among :math:`L`
(roughly independent) posterior draws is uniform on :math:`0..L`, and a central
:math:`q` interval contains :math:`\\tilde\\theta` with probability exactly
:math:`q` (Talts, Betancourt, Simpson, Vehtari and Gelman 2018, "Validating
Bayesian inference algorithms with simulation-based calibration",
arXiv:1804.06788). Deviations point at the sampler, the approximation
(Laplace), or a bug in the model.

Besides every parameter (and ``sigma``), the law's value at ten times the
largest observed size is checked: the extrapolation is what users read off.

Every data set is kept, flagged or not: dropping the fits that raised a
:class:`~bayescale._src.fit.diagnostics.FitWarning` would condition on the data and
bias the coverage. ``Calibration.ok`` says which fits passed their diagnostics.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from bayescale import laws
from bayescale.priors import merge as priors_mod
from bayescale._src import engines
from bayescale._src.fit.diagnostics import FitWarning
from bayescale._src.fit.fitting import fit as fit_fn
from bayescale._src.model.data import check_domain
from bayescale._src.model.model import NOISE, log_mean, prior_draws
from bayescale._src.precision import float64, float64_methods

LEVELS = (0.5, 0.8, 0.9, 0.95)
PREDICTION = "prediction"
GROUP = "dataset"


@float64_methods
class Calibration(NamedTuple):
    """The outcome of :func:`sbc`.

    Attributes
    ----------
    ranks
        DataFrame ``[datasets, quantities]``: rank of the true value among the
        ``num_ranks - 1`` thinned posterior draws (0..num_ranks-1), for every
        parameter, ``sigma`` and ``prediction``.
    num_ranks
        Number of possible rank values (thinned draws + 1).
    coverage
        DataFrame indexed by quantity: the fraction of data sets whose central
        50/80/90/95% interval contains the truth (columns ``"50%"`` ...),
        ``rank_p_value`` (chi-square test of uniform ranks over 10 bins) and
        ``datasets``.
    truth
        DataFrame ``[datasets, quantities]`` of the simulated true values.
    diagnostics
        The fit's :meth:`~bayescale.Fit.diagnostics`, one row per data set
        (divergences, r_hat and ESS where chains served it, Pareto k where
        importance sampling did), to stratify coverage by how a fit went.
    ok
        Per data set, True when its fit passed every diagnostic (a property:
        the ``ok`` column of ``diagnostics``).
    served
        Per data set, the engine that made its draws (``method``, except where ``"auto"`` escalated).
    prediction_inputs
        The inputs (ten times the largest observed ones) of ``prediction``.
    data
        The simulated table (columns: the law's inputs, ``loss``, ``dataset``).
    """

    ranks: pd.DataFrame
    num_ranks: int
    coverage: pd.DataFrame
    truth: pd.DataFrame
    diagnostics: pd.DataFrame
    served: np.ndarray
    prediction_inputs: dict[str, float]
    data: pd.DataFrame

    @property
    def ok(self) -> np.ndarray:
        return self.diagnostics["ok"].to_numpy(dtype=bool)


def coverage_band(level: float, num_datasets: int, prob: float = 0.99) -> tuple[float, float]:
    """Range a calibrated coverage estimate falls in with probability ``prob`` (binomial quantiles)."""
    lo, hi = stats.binom.interval(prob, num_datasets, level)
    return lo / num_datasets, hi / num_datasets


def _sizes(law: laws.Law, sizes: Any) -> dict[str, np.ndarray]:
    if isinstance(sizes, Mapping):
        missing = set(law.inputs) - set(sizes)
        if missing:
            raise ValueError(f"sizes must give every input of law {law.name!r}: missing {sorted(missing)}")
        out = {k: np.asarray(sizes[k], dtype=np.float64).ravel() for k in law.inputs}
    elif law.inputs == ("x",):
        out = {"x": np.asarray(sizes, dtype=np.float64).ravel()}
    else:
        raise TypeError(f"law {law.name!r} takes inputs {list(law.inputs)}: give sizes as a dict of arrays")
    lengths = {len(v) for v in out.values()}
    if len(lengths) != 1:
        raise ValueError(f"sizes: every input needs the same number of points, got {lengths}")
    for k, v in out.items():
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f"sizes: input {k!r} must be positive and finite")
        check_domain(law, k, v, f"sizes: input {k!r} of law {law.name!r}")
    if lengths.pop() < 2:
        raise ValueError("sizes: a curve needs at least 2 points")
    return out


@float64
def simulate(
    law: str | laws.Law,
    num_datasets: int,
    sizes: Any,
    priors: priors_mod.PriorSpec = None,
    likelihood: str | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Draw parameters from the model prior and simulate one noisy curve per draw.

    Returns the long table (inputs, ``loss``, ``dataset``) and the true
    parameters ``{name: [num_datasets]}`` (``sigma`` included).
    """
    law = laws.get(law)
    spec = priors_mod.model_spec(law, priors, likelihood)
    x = _sizes(law, sizes)
    # the simulation's stream is split off the seed so it never coincides with the fit's per-curve keys
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 2**31 - 1), len(spec.priors) + 1)
    truth = {name: np.asarray(v, dtype=np.float64) for name, v in prior_draws(spec, keys, (num_datasets,)).items()}
    params = {k: jnp.asarray(truth[k])[:, None] for k in law.param_names}
    lik = spec.likelihood
    # the likelihood's own location and inverse link, so logit likelihoods simulate what they fit
    loc = lik.locate(log_mean(law, params, {k: jnp.asarray(v)[None, :] for k, v in x.items()}))
    eps = lik.dist(jnp.zeros_like(loc), 1.0).sample(keys[-1])
    loss = np.asarray(lik.natural(loc + jnp.asarray(truth[NOISE])[:, None] * eps))
    n = len(next(iter(x.values())))
    table = {k: np.tile(v, num_datasets) for k, v in x.items()}
    table["loss"] = loss.ravel()
    table[GROUP] = np.repeat(np.arange(num_datasets), n)
    return pd.DataFrame(table), truth


@float64
def sbc(
    law: str | laws.Law,
    num_datasets: int,
    sizes: Any,
    priors: priors_mod.PriorSpec = None,
    method: str = "nuts",
    seed: int = 0,
    *,
    likelihood: str | None = None,
    num_ranks: int = 100,
    extrapolate: float = 10.0,
    **fit_kwargs: Any,
) -> Calibration:
    """Simulation-based calibration of ``law`` under its priors.

    Parameters
    ----------
    law
        Law name or :class:`~bayescale.laws.Law`.
    num_datasets
        Number of simulated curves (each fitted independently, in one batched call).
    sizes
        The inputs of every simulated curve: an array of ``x`` for a one-input
        law, or a dict ``{input: array}`` (equal lengths) such as ``{"N": ..., "D": ...}``.
    priors
        Priors of the model, as for :func:`bayescale.fit`; the simulation draws from the same ones.
    method
        An engine that gives a posterior, e.g. ``"nuts"`` or ``"laplace"``
        (``"map"`` has no interval to calibrate).
    seed
        Seed of the simulation and of the fits.
    likelihood
        Noise model used both to simulate and to fit (default: the law's own, as in ``bs.fit``).
    num_ranks
        The posterior draws are thinned to ``num_ranks - 1`` (roughly independent)
        draws for the rank statistics (Talts et al. 2018, section 4.1); coverage uses every draw.
    extrapolate
        The prediction is checked at ``extrapolate`` times the largest observed inputs.
    **fit_kwargs
        Passed to :func:`bayescale.fit` (``chains``, ``draws``, ``warmup``,
        ``target_accept_prob``, ``chunk_size`` ...).

    Returns
    -------
    Calibration
    """
    law = laws.get(law)
    if not engines.get(method).posterior:
        calibrated = [m for m in engines.names() if engines.get(m).posterior]
        raise ValueError(f"sbc calibrates intervals: method must give a posterior, one of {', '.join(calibrated)}; "
                         f"got {method!r}")
    if int(num_datasets) != num_datasets or num_datasets < 2:
        raise ValueError(f"num_datasets must be an integer >= 2, got {num_datasets!r}")
    if int(num_ranks) != num_ranks or num_ranks < 2:
        raise ValueError(f"num_ranks must be an integer >= 2, got {num_ranks!r}")
    data, truth = simulate(law, int(num_datasets), sizes, priors, likelihood, seed)
    with warnings.catch_warnings():
        # one FitWarning per flagged data set would drown the report; Calibration.ok carries them
        warnings.simplefilter("ignore", FitWarning)
        result = fit_fn(data, law=law, group=GROUP, priors=priors, method=method, seed=seed,
                        likelihood=likelihood, **fit_kwargs)
    x_star = {k: extrapolate * float(data[k].max()) for k in law.inputs}
    true_params = {k: jnp.asarray(truth[k]) for k in law.param_names}
    truth[PREDICTION] = np.exp(np.asarray(log_mean(law, true_params, {k: jnp.asarray(v) for k, v in x_star.items()})))
    draws = {name: result.draws(name) for name in [*law.param_names, NOISE]}
    draws[PREDICTION] = result.predictive_draws({k: np.array([v]) for k, v in x_star.items()})[..., 0]
    names = list(draws)
    num_ranks = min(int(num_ranks) - 1, draws[NOISE].shape[1]) + 1
    ranks = {n: _ranks(draws[n], truth[n], num_ranks) for n in names}
    coverage = pd.DataFrame(
        {
            **{f"{100 * q:g}%": [_coverage(draws[n], truth[n], q).mean() for n in names] for q in LEVELS},
            "rank_p_value": [_uniformity(ranks[n], num_ranks) for n in names],
            "datasets": int(num_datasets),
        },
        index=pd.Index(names, name="quantity"),
    )
    return Calibration(
        ranks=pd.DataFrame(ranks),
        num_ranks=num_ranks,
        coverage=coverage,
        truth=pd.DataFrame({n: truth[n] for n in names}),
        diagnostics=result.diagnostics(),
        served=result.served,
        prediction_inputs=x_star,
        data=data,
    )


def _ranks(draws: np.ndarray, truth: np.ndarray, num_ranks: int) -> np.ndarray:
    """Rank of each truth among ``num_ranks - 1`` evenly thinned draws of its data set."""
    total = draws.shape[1]
    keep = np.linspace(0, total - 1, num_ranks - 1).round().astype(int)
    return (draws[:, keep] < truth[:, None]).sum(axis=1)


def _coverage(draws: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return (lo <= truth) & (truth <= hi)


def _uniformity(ranks: np.ndarray, num_ranks: int, bins: int = 10) -> float:
    """p-value of a chi-square test that ranks are uniform on ``0..num_ranks-1``."""
    edges = np.linspace(0, num_ranks, min(bins, num_ranks) + 1)
    counts, _ = np.histogram(ranks, bins=edges)
    expected = len(ranks) * np.diff(np.ceil(edges)) / num_ranks  # integers per bin
    return float(stats.chisquare(counts, expected).pvalue)
