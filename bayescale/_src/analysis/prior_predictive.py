"""Prior predictive draws and bands: what a law and its priors say before any data.

Parameters are drawn from their priors in natural units (independently, as the
model's prior is a product of the per-parameter priors, except those a joint
population prior ties together, drawn jointly), pushed through the law
at the given inputs and, for ``kind="observation"``, through the likelihood's
noise with ``sigma`` drawn from its prior. Plotting these bands next to the
runs one has is the quickest check that a prior is neither absurd nor, for a
few-run forecast, unintentionally decisive (Gabry et al. 2019, "Visualization
in Bayesian workflow", JRSS A).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale import laws
from bayescale.priors import merge as priors_mod
from bayescale._src.model.data import as_inputs
from bayescale._src.model.model import NOISE, prior_draws
from bayescale._src.fit import predictive
from bayescale._src.fit.results import _check_interval
from bayescale._src.precision import float64


@float64
def prior_predictive_draws(
    law: str | laws.Law,
    inputs: Any,
    priors: priors_mod.PriorSpec = None,
    *,
    num_draws: int = 2000,
    kind: str = "mean",
    likelihood: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Prior draws of the law (or of a new observation) at ``inputs``: ``[draws, points]``."""
    law = laws.get(law)
    if kind not in ("mean", "observation"):
        raise ValueError(f"kind must be 'mean' or 'observation', got {kind!r}")
    if int(num_draws) != num_draws or num_draws < 2:
        raise ValueError(f"num_draws must be an integer >= 2, got {num_draws!r}")
    spec = priors_mod.model_spec(law, priors, likelihood)
    x = {k: jnp.asarray(v) for k, v in as_inputs(law, inputs).items()}
    keys = jax.random.split(jax.random.PRNGKey(seed), len(spec.priors) + 1)
    draws = prior_draws(spec, keys, (1, int(num_draws)))
    params = {k: draws[k] for k in law.param_names}
    _, out, _ = predictive.draws(spec, params, draws[NOISE], x, keys[-1], kind == "observation")
    return np.asarray(out)[0]


@float64
def prior_predictive(
    law: str | laws.Law,
    inputs: Any,
    priors: priors_mod.PriorSpec = None,
    *,
    interval: float = 0.9,
    num_draws: int = 2000,
    kind: str = "mean",
    likelihood: str | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Prior predictive bands of ``law`` at ``inputs``.

    Parameters
    ----------
    law
        A law name or :class:`~bayescale.laws.Law`.
    inputs
        Dict or DataFrame of input values keyed by the law's input names.
    priors
        A preset name, a dict of per-parameter distributions, or None for the defaults.
    interval
        Central probability of ``lower``..``upper``.
    kind
        ``"mean"`` (the law's value) or ``"observation"`` (adds the noise).

    Returns
    -------
    DataFrame with the inputs, ``mean``, ``median``, ``lower`` and ``upper``;
    the same columns as :meth:`Fit.predict <bayescale._src.fit.results.Fit.predict>`.
    """
    _check_interval(interval)
    values = prior_predictive_draws(
        law, inputs, priors, num_draws=num_draws, kind=kind, likelihood=likelihood, seed=seed
    )
    x = as_inputs(laws.get(law), inputs)
    df = pd.DataFrame(x)
    df["mean"] = values.mean(axis=0)
    q = np.quantile(values, [0.5, (1 - interval) / 2, (1 + interval) / 2], axis=0)
    df["median"], df["lower"], df["upper"] = q
    return df
