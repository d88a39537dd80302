"""The two-stage forecast of a benchmark score: compute -> loss posterior -> score posterior.

The Llama 3 report (Dubey et al. 2024, "The Llama 3 Herd of Models",
arXiv:2407.21783, section 3.2.1) forecasts a benchmark's accuracy at a
compute budget in two steps: a scaling law of compute for a loss (there, the
negative log-likelihood of the correct answer), fitted on small models, and a
sigmoid mapping that loss to accuracy, fitted on models of every size. Both
fits are point fits there. Here each stage is a posterior, and the forecast
pushes the first stage's predictive draws through the second's:

.. math::

    L^{(s)} &\\sim p(L \\mid C, \\text{loss runs}) \\\\
    y^{(s)} &= g\\big(L^{(s)}; \\theta^{(s)}\\big), \\qquad
    \\theta^{(s)} \\sim p(\\theta \\mid \\text{scores})

with draw ``s`` of the loss fit paired with draw ``s`` of the score fit
(the loss fit's draws shuffled first, so that pairs are independent draws of
the two posteriors, which are independent given their data). The band of
``y`` then carries the uncertainty of both stages. With ``kind="observation"``
both stages add their noise (a new model's loss scatters around the law, and
its score around the sigmoid); the discrepancy term of each stage (the law's
own error beyond its fitted range, :mod:`bayescale._src.fit.discrepancy`)
is on by default, the second stage's measured in decades of the loss beyond
the losses it was fitted on. For the score laws of :mod:`bayescale.laws.downstream`
the band of the law's value stays between the floor and the ceiling.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayescale._src.fit import discrepancy as discrepancy_mod
from bayescale._src.fit.results import Fit, _check_interval
from bayescale._src.model.data import as_inputs
from bayescale._src.model.model import ModelSpec
from bayescale._src.model.noise import standard_noise
from bayescale._src.precision import float64


@float64
def forecast_score(
    loss_fit: Fit,
    score_fit: Fit,
    new: Any,
    *,
    interval: float = 0.9,
    kind: str = "mean",
    seed: int = 0,
    discrepancy: Any = "default",
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Forecast a benchmark score at new inputs of a loss law, through the posterior of the loss.

    Parameters
    ----------
    loss_fit
        A fit of a loss as a function of compute (e.g. ``law="power_law"``
        with ``x="C"``) or of ``N`` and ``D`` (``law="chinchilla"``).
    score_fit
        A fit of the score as a function of that loss: a law of one input,
        e.g. ``bs.laws.sigmoid_loss(floor=0.25)``, fitted on models' (loss,
        score) pairs. The loss must be the same quantity in both fits.
    new
        Dict or DataFrame of the loss law's inputs, e.g. ``{"C": [1e24, 1e25]}``.
    interval
        Central probability of ``lower``..``upper`` (and of the loss band).
    kind
        ``"mean"``: the laws' values; ``"observation"``: a new model's loss and
        score, each stage's noise included.
    seed
        Seed of the pairing of draws, of the noise and of the discrepancy draws.
    discrepancy
        Each stage's law error beyond its fitted range, as in :meth:`Fit.predict`:
        ``"default"``, a :class:`bayescale.Discrepancy`, or ``None``.
    columns
        Column names of ``new`` for the loss law's inputs, if not the loss fit's.

    Returns
    -------
    DataFrame, one row per point and curve pair: the group column(s) of a
    grouped fit, the inputs, ``loss_median``, ``loss_lower``, ``loss_upper``,
    then the score's ``mean``, ``median``, ``lower``, ``upper``.

    Curves are paired by group label when both fits are grouped (the same
    labels, e.g. one curve per model family in each); an ungrouped fit is
    paired with every curve of the other. All pairs are evaluated in one
    compiled call.
    """
    _check_interval(interval)
    if kind not in ("mean", "observation"):
        raise ValueError(f"kind must be 'mean' or 'observation', got {kind!r}")
    for name, f in (("loss_fit", loss_fit), ("score_fit", score_fit)):
        if not isinstance(f, Fit):
            raise TypeError(f"{name} must be a bayescale Fit, got {type(f).__name__}")
    if len(score_fit.law.inputs) != 1:
        raise ValueError(f"score_fit's law {score_fit.law.name!r} must take one input, the loss; it takes "
                         f"{list(score_fit.law.inputs)}")
    mapping = dict(loss_fit.columns.inputs)
    mapping.update(columns or {})
    x = as_inputs(loss_fit.law, new, mapping)
    first, second = _pairs(loss_fit, score_fit)
    key = jax.random.PRNGKey(seed)
    loss = loss_fit.predictive_draws(x, kind=kind, seed=seed, discrepancy=discrepancy)[first]  # [P, S1, M]
    s1 = loss.shape[1]
    params = {k: score_fit.draws(k)[second] for k in score_fit.law.param_names}  # [P, S2]
    sigma = score_fit.observation_scale()[second]
    s2 = sigma.shape[1]
    size = max(s1, s2)
    order = np.random.default_rng(seed).permutation(s1)
    loss = loss[:, np.resize(order, size)]
    pick = np.resize(np.arange(s2), size)
    params = {k: jnp.asarray(v[:, pick]) for k, v in params.items()}
    sigma = jnp.asarray(sigma[:, pick])
    prior = discrepancy_mod.resolve(discrepancy)
    shift = jnp.zeros(())
    if prior is not None:
        shift = _shift(score_fit, second, prior, params, jnp.asarray(loss), jax.random.fold_in(key, 3))
    values = np.asarray(_second_stage(score_fit.spec, params, sigma, jnp.asarray(loss), jax.random.fold_in(key, 2),
                                      kind == "observation", shift))
    return _table(loss_fit, score_fit, first, second, x, loss, values, interval)


def _pairs(loss_fit: Fit, score_fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the paired curves of the two fits (by label, or an ungrouped fit with every curve)."""
    n1, n2 = len(loss_fit.groups), len(score_fit.groups)
    if not loss_fit.grouped:
        return np.zeros(n2, int), np.arange(n2)
    if not score_fit.grouped:
        return np.arange(n1), np.zeros(n1, int)
    labels = {label: i for i, label in enumerate(score_fit.groups)}
    missing = [label for label in loss_fit.groups if label not in labels]
    if missing or n1 != n2:
        raise ValueError(
            f"both fits are grouped, so their curves are paired by label, but the loss fit's groups "
            f"{list(loss_fit.groups)} are not the score fit's {list(score_fit.groups)}; fit them on the same "
            "groups, or fit one of them ungrouped (shared by every curve of the other)"
        )
    return np.arange(n1), np.asarray([labels[label] for label in loss_fit.groups])


def _shift(score_fit: Fit, second: np.ndarray, prior, params, loss: jax.Array, key) -> jax.Array:
    """The score law's discrepancy (:mod:`bayescale._src.fit.discrepancy`) at each loss draw: the law's shape
    drifts beyond the best score it reached at the fitted losses, so every draw stays between its bounds."""
    law = score_fit.law
    fitted = discrepancy_mod.fitted_inputs(law, score_fit.inputs, [score_fit.rows[j] for j in second])
    fitted_loss = jnp.asarray(fitted[law.inputs[0]])[:, None, :]  # [P, 1, width]: every draw's fitted losses
    new = _score_values(score_fit.spec, params, loss)
    at_fitted = _score_values(score_fit.spec, params,
                              jnp.broadcast_to(fitted_loss, loss.shape[:2] + fitted_loss.shape[2:]))
    reference, start = discrepancy_mod.progress(law, params, at_fitted)
    return discrepancy_mod.value_shifts(prior, score_fit.spec, params, new, reference, start, key)


@functools.partial(jax.jit, static_argnums=0)
def _score_values(spec: ModelSpec, params, loss):
    """The score law at per-draw losses ``loss [P, S, M]`` for draws ``params [P, S]``: ``[P, S, M]``."""
    name = spec.law.inputs[0]
    return jax.vmap(jax.vmap(lambda p, l: spec.law.fn(p, {name: l})))(params, loss)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _second_stage(spec: ModelSpec, params, sigma, loss, key, observation: bool, shift):
    """The score law at loss draws ``loss [P, S, M]`` with parameter draws ``params [P, S]``: ``[P, S, M]``."""
    lik = spec.likelihood
    value = _score_values(spec, params, loss)
    tiny = jnp.finfo(value.dtype).tiny
    loc = lik.locate(jnp.log(jnp.maximum(value, tiny))) + shift
    if not observation:
        return lik.natural(loc)
    return lik.natural(loc + sigma[..., None] * standard_noise(lik, key, loc.shape, loc.dtype))


def _table(loss_fit: Fit, score_fit: Fit, first, second, x, loss, values, interval) -> pd.DataFrame:
    probs = [0.5, (1 - interval) / 2, (1 + interval) / 2]
    lq = np.quantile(loss, probs, axis=1)
    sq = np.quantile(values, probs, axis=1)
    frames = []
    for p, (i, j) in enumerate(zip(first, second)):
        df = pd.DataFrame({loss_fit.columns.inputs[k]: v for k, v in x.items()})
        labels = [(loss_fit.columns.group, loss_fit.groups[i]) if loss_fit.grouped else None,
                  (score_fit.columns.group, score_fit.groups[j]) if score_fit.grouped else None]
        for at, item in enumerate(dict.fromkeys(label for label in labels if label is not None)):
            df.insert(at, *item)
        df["loss_median"], df["loss_lower"], df["loss_upper"] = lq[0, p], lq[1, p], lq[2, p]
        df["mean"] = values[p].mean(axis=0)
        df["median"], df["lower"], df["upper"] = sq[0, p], sq[1, p], sq[2, p]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


__all__ = ["forecast_score"]
