"""The baseline a user would otherwise run: a scipy multi-start least-squares point fit of M4.

M4 (Alabdulmohsin, Neyshabur and Zhai 2022, arXiv:2209.06640, eq. M4):
``(L - E) / (E0 - L)^a = A x^-alpha`` with ``0 <= E < L < E0``. For a given
``x`` the excess ``w = L - E`` solves ``w = f (b - w)^a`` with ``b = E0 - E``
and ``f = A x^-alpha``; the left side minus the right is increasing in ``w``
on ``(0, b)``, so bisection finds it. The fit minimizes the squared error of
``log L`` (the quantity RMSLE scores) with ``scipy.optimize.least_squares``
from a grid of starts, with the paper's bounds: ``E`` between 0 and the
smallest observed loss, ``E0`` between the largest observed loss and 1 (the
curves are error-like metrics in (0, 1)); the best start by cost wins.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import least_squares

BISECTION_STEPS = 60


def m4_predict(params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """M4's loss at ``x`` for ``params = (E, E0, log A, alpha, a)``, by bisection on the excess."""
    E, E0, log_A, alpha, a = params
    b = E0 - E
    log_f = log_A - alpha * np.log(x)
    lo, hi = np.zeros_like(log_f), np.full_like(log_f, b)
    for _ in range(BISECTION_STEPS):
        w = 0.5 * (lo + hi)
        # log w - a log(b - w) - log f is increasing in w
        above = np.log(w) - a * np.log(np.maximum(b - w, 1e-300)) > log_f
        hi, lo = np.where(above, w, hi), np.where(above, lo, w)
    return E + 0.5 * (lo + hi)


def fit_m4(x: np.ndarray, y: np.ndarray, upper: float = 1.0) -> np.ndarray:
    """Best-of-grid least-squares fit of M4 to one curve, on log loss; returns ``(E, E0, log A, alpha, a)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    y_min, y_max = y.min(), y.max()
    eps = 1e-6
    lower_b = [0.0, y_max + eps, -50.0, 1e-3, 0.0]
    upper_b = [y_min - eps, max(upper, y_max + 2 * eps), 50.0, 3.0, 5.0]

    def residuals(p):
        return np.log(m4_predict(p, x)) - np.log(y)

    best = None
    starts = itertools.product((0.5 * y_min, 0.95 * y_min), (y_max + 1e-3, upper), (0.2, 0.6), (0.0, 1.0))
    for E, E0, alpha, a in starts:
        # log A from the middle point, so each start passes near the data
        mid = len(x) // 2
        w = max(y[mid] - E, 1e-6)
        log_A = np.log(w) - a * np.log(max(E0 - y[mid], 1e-6)) + alpha * np.log(x[mid])
        p0 = np.clip([E, E0, log_A, alpha, a], lower_b, upper_b)
        try:
            res = least_squares(residuals, p0, bounds=(lower_b, upper_b), method="trf")
        except ValueError:
            continue
        if best is None or res.cost < best.cost:
            best = res
    return best.x
