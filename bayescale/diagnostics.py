"""Convergence diagnostics and the warnings a fit raises when it should not be trusted."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np


class FitWarning(UserWarning):
    """A fit finished but its result should not be trusted as is."""


class Thresholds(NamedTuple):
    max_r_hat: float = 1.01
    min_ess: float = 100.0  # per parameter, bulk and tail (Vehtari et al. 2021)
    max_divergences: int = 0


def check(summary, divergences: np.ndarray, labels: list[Any], thresholds: Thresholds = Thresholds()) -> list[str]:
    """Problems of a NUTS fit, one message per curve and kind; also issued as :class:`FitWarning`.

    ``summary`` is the per-parameter table (with ``r_hat``, ``ess_bulk``,
    ``ess_tail``); ``divergences`` counts divergent transitions per curve.
    """
    problems = []
    for i, label in enumerate(labels):
        where = "" if label is None else f"curve {label!r}: "
        n_div = int(divergences[i])
        if n_div > thresholds.max_divergences:
            problems.append(
                f"{where}{n_div} divergent transition(s) after warmup; the posterior may be biased "
                "(raise target_accept_prob or reparameterize)"
            )
        rows = summary if label is None else summary.xs(label, level=0)
        bad_rhat = rows.index[rows["r_hat"] > thresholds.max_r_hat].tolist()
        if bad_rhat:
            problems.append(f"{where}r_hat > {thresholds.max_r_hat} for {bad_rhat}; chains disagree (run longer)")
        low_ess = rows.index[(rows["ess_bulk"] < thresholds.min_ess) | (rows["ess_tail"] < thresholds.min_ess)]
        if len(low_ess):
            problems.append(f"{where}effective sample size < {thresholds.min_ess:g} for {low_ess.tolist()}")
    for msg in problems:
        warnings.warn(msg, FitWarning, stacklevel=3)
    return problems


def check_mode(mode_ok: np.ndarray, labels: list[Any]) -> list[str]:
    """Problems of a mode-based fit (Laplace, MAP): curves whose Hessian at the mode is not positive-definite."""
    bad = [label for label, ok in zip(labels, mode_ok) if not ok]
    if not bad:
        return []
    where = "the curve" if bad == [None] else f"curve(s) {bad}"
    msg = (
        f"the Hessian at the mode of {where} is not positive-definite (a saddle, or a flat direction): "
        "the Laplace approximation is not to be trusted; use method='nuts'"
    )
    warnings.warn(msg, FitWarning, stacklevel=3)
    return [msg]
