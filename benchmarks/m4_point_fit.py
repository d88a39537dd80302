"""The baseline a user would otherwise run: a scipy multi-start least-squares point fit of M4.

M4 (Alabdulmohsin, Neyshabur and Zhai 2022, arXiv:2209.06640, eq. M4):
``(L - E) / (E0 - L)^a = A x^-alpha`` with ``0 <= E < L < E0``. For a given
``x`` the excess ``w = L - E`` solves ``w = f (b - w)^a`` with ``b = E0 - E``
and ``f = A x^-alpha``; the left side minus the right is increasing in ``w``
on ``(0, b)``, so bisection finds it. The fit minimizes the squared error of
``log L`` (the quantity RMSLE scores) with ``scipy.optimize.least_squares``
from a grid of 16 starts; the best start by cost wins.

Two sets of bounds (``paper_bounds``):

- ``True``, the paper's recipe: ``E`` between 0 and the *smallest observed*
  loss, ``E0`` between the *largest observed* loss and 1 (the curves are
  error-like metrics in (0, 1)). The bounds depend on the data: with noisy
  points they are extra information, not part of M4 (M4 only says that the
  law's own value stays between ``E`` and ``E0``).
- ``False``, M4's own support, ``0 <= E < E0 <= 1``, the support of
  bayescale's ``m4`` law: the maximum-likelihood fit under a Gaussian on log
  loss, like for like with ``m4``'s default likelihood without its priors.

:func:`profile` fixes one parameter at a grid of values and fits the others:
the profile likelihood, which shows how well the fitted points pin a
parameter down (a flat profile is a ridge the data cannot resolve).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

BISECTION_STEPS = 60
NAMES = ("E", "E0", "log_A", "alpha", "a")
GAP = 1e-6  # keeps E below the smallest point and E0 above the largest under the paper's bounds


def m4_predict(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """M4's loss at ``x`` for ``params = (E, E0, log A, alpha, a)``, by bisection on the excess."""
    E, E0, log_A, alpha, a = params
    # E0 <= E (reachable under M4's own bounds) degenerates continuously to the flat curve L = E
    b = max(E0 - E, 1e-12)
    log_f = log_A - alpha * np.log(x)
    lo, hi = np.zeros_like(log_f), np.full_like(log_f, b)
    for _ in range(BISECTION_STEPS):
        w = 0.5 * (lo + hi)
        # log w - a log(b - w) - log f is increasing in w
        with np.errstate(divide="ignore", invalid="ignore"):
            above = np.log(w) - a * np.log(np.maximum(b - w, 1e-300)) > log_f
        hi, lo = np.where(above, w, hi), np.where(above, lo, w)
    return E + 0.5 * (lo + hi)


def m4_bounds(y: np.ndarray, upper: float = 1.0, paper_bounds: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of ``(E, E0, log A, alpha, a)`` (see the module docstring)."""
    y_min, y_max = float(np.min(y)), float(np.max(y))
    top = max(upper, y_max + 2 * GAP)
    if paper_bounds:
        return np.array([0.0, y_max + GAP, -50.0, 1e-3, 0.0]), np.array([y_min - GAP, top, 50.0, 3.0, 5.0])
    return np.array([0.0, 0.0, -50.0, 1e-3, 0.0]), np.array([top, top, 50.0, 3.0, 5.0])


def fit_m4(x: np.ndarray, y: np.ndarray, upper: float = 1.0, paper_bounds: bool = True,
           fixed: dict[str, float] | None = None) -> tuple[np.ndarray, float]:
    """Best-of-grid least-squares fit of M4 to one curve, on log loss.

    Returns ``(params, cost)``: ``params = (E, E0, log A, alpha, a)`` and
    ``cost`` half the sum of squared log residuals. ``fixed`` holds parameters
    (by name in ``NAMES``) at given values while the others are fitted.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    lower_b, upper_b = m4_bounds(y, upper, paper_bounds)
    fixed = {NAMES.index(k): v for k, v in (fixed or {}).items()}
    free = [i for i in range(len(NAMES)) if i not in fixed]

    def full(q):
        p = np.empty(len(NAMES))
        p[free] = q
        for i, v in fixed.items():
            p[i] = v
        return p

    def residuals(q):
        return np.log(m4_predict(full(q), x)) - np.log(y)

    y_min, y_max = y.min(), y.max()
    best = None
    for E, E0, alpha, a in itertools.product((0.5 * y_min, 0.95 * y_min), (y_max + 1e-3, upper), (0.2, 0.6), (0.0, 1.0)):
        p0 = full(np.array([E, E0, 0.0, alpha, a])[free])
        if p0[0] >= p0[1]:
            continue
        # log A from the middle point, so each start passes near the data
        mid = len(x) // 2
        w = max(y[mid] - p0[0], 1e-6)
        p0[2] = np.log(w) - p0[4] * np.log(max(p0[1] - y[mid], 1e-6)) + p0[3] * np.log(x[mid])
        q0 = np.clip(p0[free], lower_b[free] + 1e-9, upper_b[free] - 1e-9)
        try:
            res = least_squares(residuals, q0, bounds=(lower_b[free], upper_b[free]), method="trf")
        except ValueError:
            continue
        if best is None or res.cost < best.cost:
            best = res
    return full(best.x), float(best.cost)


def rmsle(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(pred) - np.log(truth)) ** 2)))


def profile(x: np.ndarray, y: np.ndarray, name: str, values, x_new: np.ndarray, y_new: np.ndarray,
            paper_bounds: bool = False) -> pd.DataFrame:
    """Profile likelihood of parameter ``name`` of one curve, with the held-out RMSLE of each profile fit.

    For each value the other parameters are fitted (:func:`fit_m4`); ``delta_nll``
    is the Gaussian negative log likelihood with the noise profiled out,
    ``n/2 log(SS/n)``, minus its smallest value over the grid.
    """
    rows = []
    for value in values:
        params, cost = fit_m4(x, y, paper_bounds=paper_bounds, fixed={name: value})
        rows.append({name: value, **{k: v for k, v in zip(NAMES, params) if k != name},
                     "rms_fitted": np.sqrt(2 * cost / len(y)), "nll": len(y) / 2 * np.log(2 * cost / len(y)),
                     "heldout_rmsle": rmsle(m4_predict(params, x_new), y_new)})
    table = pd.DataFrame(rows)
    nll = table.pop("nll")
    table.insert(len(table.columns) - 1, "delta_nll", nll - nll.min())
    return table
