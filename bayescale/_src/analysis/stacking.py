"""``bs.stack``: a mixture of several laws' posterior predictives with stacking weights.

Stacking (Yao, Vehtari, Simpson & Gelman 2018, "Using stacking to average
Bayesian predictive distributions", Bayesian Analysis) picks the weights
``w`` on the simplex that maximize the leave-one-out log score of the mixture,

.. math:: \\max_w \\sum_i \\log \\sum_k w_k\\, p(y_i \\mid y_{-i}, M_k),

with the leave-one-out densities from PSIS-LOO (``arviz.compare(...,
method="stacking")``). Unlike Bayesian model averaging it does not put all
the weight on one law when several describe the data differently but equally
well. The mixture's draws are drawn from each law's posterior predictive in
proportion to its weight.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from bayescale._src.analysis.compare import loo_table, named_fits
from bayescale._src.model.data import as_inputs
from bayescale._src.fit.results import Fit, band_table
from bayescale._src.precision import float64, float64_methods


@float64_methods
class Stack:
    """Stacked posterior predictive of several fits of the same data.

    Attributes
    ----------
    fits
        ``{name: Fit}``.
    weights
        Stacking weights (a Series over the fit names, summing to 1).
    """

    def __init__(self, fits: Mapping[str, Fit], weights: pd.Series):
        self.fits = dict(fits)
        self.weights = weights

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {w:.3f}" for k, w in self.weights.items())
        return f"<Stack {parts}>"

    @property
    def _first(self) -> Fit:
        return next(iter(self.fits.values()))

    def predictive_draws(self, x: Mapping[str, Any], kind: str = "mean", seed: int = 0,
                         discrepancy: Any = None) -> np.ndarray:
        """Draws of the mixture at inputs ``x`` (every law's inputs, by input name): ``[curves, draws, points]``.

        Each fit contributes a number of draws proportional to its weight
        (largest remainder), chosen at random from its own draws;
        ``discrepancy`` as in :meth:`Fit.predictive_draws`.
        """
        per_fit = {k: f.predictive_draws({n: x[n] for n in f.law.inputs}, kind=kind, seed=seed,
                                         discrepancy=discrepancy)
                   for k, f in self.fits.items()}
        return mix_draws([per_fit[k] for k in self.weights.index], self.weights.to_numpy(), seed)

    def predict(self, new: Any, interval: float = 0.9, kind: str = "mean", seed: int = 0,
                columns: Mapping[str, str] | None = None, discrepancy: Any = "default") -> pd.DataFrame:
        """Posterior predictive of the mixture, with the signature and columns of :meth:`Fit.predict`
        (each law's draws with its own discrepancy term, on by default).

        ``new`` holds the inputs of every stacked law (the union), keyed by
        input name or by the fits' column names.
        """
        if not 0 < interval < 1:
            raise ValueError(f"interval must be between 0 and 1, got {interval}")
        if kind not in ("mean", "observation"):
            raise ValueError(f"kind must be 'mean' or 'observation', got {kind!r}")
        x: dict[str, np.ndarray] = {}
        for f in self.fits.values():
            mapping = dict(f.columns.inputs)
            mapping.update(columns or {})
            frame = pd.DataFrame(new) if not isinstance(new, pd.DataFrame) else new
            wanted = [c for k in f.law.inputs for c in {k, mapping.get(k, k)} if c in frame.columns]
            x.update(as_inputs(f.law, frame[wanted], mapping))
        values = self.predictive_draws(x, kind=kind, seed=seed, discrepancy=discrepancy)
        first = self._first
        names = {}
        for f in self.fits.values():
            names.update(f.columns.inputs)
        return band_table(values, x, names, first.groups, first.columns.group if first.grouped else None, interval)


def mix_draws(draws: list[np.ndarray], weights: np.ndarray, seed: int) -> np.ndarray:
    """The stacked mixture of draws ``[curves, draws_k, points]``: from each, a number of draws proportional to
    its weight (largest remainder, :func:`_apportion`), chosen at random without replacement."""
    total = min(d.shape[1] for d in draws)
    rng = np.random.default_rng(seed)
    parts = [d[:, rng.choice(d.shape[1], n, replace=False)] for d, n in zip(draws, _apportion(weights, total)) if n > 0]
    return np.concatenate(parts, axis=1)


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    raw = weights / weights.sum() * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts


@float64
def stack(fits: Mapping[str, Fit] | Sequence[Fit]) -> Stack:
    """Combine fits of the same data (different laws) with PSIS-LOO stacking weights.

    Parameters
    ----------
    fits
        ``{name: Fit}`` or a list of fits (named by law); ``"laplace"`` or
        ``"nuts"`` fits of the same losses, with the same groups.

    Returns
    -------
    :class:`Stack` with ``.weights`` and ``.predict(new, interval=, kind=)``,
    which returns the same table as :meth:`Fit.predict`.
    """
    named = named_fits(fits)
    groups = [f.groups for f in named.values()]
    if any(g != groups[0] for g in groups):
        raise ValueError("stacked fits must have the same groups (curves)")
    table = loo_table(named)
    weights = table["weight"].clip(lower=0.0)
    weights = weights / weights.sum()
    weights.name = "weight"
    return Stack(named, weights.loc[list(named)])
