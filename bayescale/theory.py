"""Learning curves whose exponent is known exactly, from statistical learning theory.

Each generator simulates an estimator on samples of growing size and returns
a DataFrame with columns ``x`` (the sample size N) and ``loss`` (its risk,
averaged over ``reps`` independent repetitions), ready for
``bs.fit(df, law="pure_power_law")``. They are test data with a known answer
and teaching material for what a fitted exponent can mean.

- :func:`mean_estimation`: the squared error of the mean of N Gaussian draws,
  :math:`\\mathbb{E}(\\bar X_N - \\mu)^2 = \\sigma^2 / N` exactly: slope -1 on
  log-log axes (-1/2 for the RMSE).
- :func:`binning_regression`: a histogram (regressogram) estimate of a
  Lipschitz function on :math:`[0, 1]^d` with :math:`m \\approx N^{1/(d+2)}` bins
  per axis. Squared bias :math:`\\propto m^{-2}` and variance
  :math:`\\propto m^d / N` balance there, and the risk falls as
  :math:`N^{-2/(d+2)}`, the minimax rate for Lipschitz regression (Györfi,
  Kohler, Krzyżak and Walk 2002, "A Distribution-Free Theory of Nonparametric
  Regression", Thm. 4.3 and ch. 3).
- :func:`intrinsic_dimension`: reads a fitted data exponent back as a
  dimension (Sharma and Kaplan 2020; Bahri et al. 2021).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from bayescale._src.precision import float64

READINGS = ("binning", "crude")
_MAX_BLOCK = 2**22  # Gaussian draws generated at once by mean_estimation


def _check_sizes(sizes: Sequence[float]) -> np.ndarray:
    n = np.asarray(sizes)
    if n.ndim != 1 or n.size < 1:
        raise ValueError("sizes must be a non-empty 1-d sequence of sample sizes")
    numeric = np.issubdtype(n.dtype, np.number)
    if not numeric or not np.all(np.isfinite(n)) or np.any(n < 1) or np.any(n != np.round(n)):
        raise ValueError(f"sizes must be positive integers, got {list(sizes)}")
    return n.astype(np.int64)


def _check_reps(reps: int) -> int:
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    return int(reps)


@float64
def mean_estimation(sizes: Sequence[int], sigma: float = 1.0, reps: int = 200, seed: int = 0) -> pd.DataFrame:
    """Squared error of the sample mean of N Gaussian draws, averaged over ``reps`` repetitions.

    For :math:`X_i \\sim \\mathcal{N}(\\mu, \\sigma^2)` the risk is exactly
    :math:`\\sigma^2 / N`: a pure power law with ``A = sigma**2`` and
    ``alpha = 1``. The average over ``reps`` is :math:`\\sigma^2 \\chi^2_{reps} / (N\\, reps)`,
    so each point has a relative error of about :math:`\\sqrt{2 / reps}`.

    Returns
    -------
    DataFrame with columns ``x`` (N) and ``loss`` (mean squared error).
    """
    n = _check_sizes(sizes)
    reps = _check_reps(reps)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    rng = np.random.default_rng(seed)
    loss = []
    for size in n:
        # real draws, generated in blocks of repetitions so memory stays bounded for large N
        per_block = max(1, _MAX_BLOCK // int(size))
        sq = []
        for start in range(0, reps, per_block):
            k = min(per_block, reps - start)
            sq.append(rng.normal(0.0, sigma, size=(k, int(size))).mean(axis=1) ** 2)
        loss.append(np.concatenate(sq).mean())
    return pd.DataFrame({"x": n.astype(np.float64), "loss": np.asarray(loss)})


def optimal_bins(size: int | np.ndarray, d: int) -> np.ndarray:
    """Bins per axis of the rate-optimal regressogram on :math:`[0,1]^d`.

    :math:`m = \\lfloor N^{1/(d+2)} \\rceil`, at least 1.

    Bin width :math:`h = 1/m \\propto N^{-1/(d+2)}` balances the squared bias
    :math:`\\propto h^2` of a Lipschitz function against the variance
    :math:`\\propto 1/(N h^d)`. Sizes :math:`N = m^{d+2}` make the rounding exact.
    """
    _check_dimension(d)
    n = np.asarray(size, dtype=np.float64)
    # the small nudge makes exact powers m**(d+2) round to m despite floating-point roots
    return np.maximum(1, np.floor(n ** (1.0 / (d + 2)) + 0.5 + 1e-9)).astype(np.int64)


def _check_dimension(d: int) -> None:
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer dimension, got {d!r}")


def _target_moments(m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis bin means and variances of g(t) = sin(2 pi t) / sqrt(d) over the m bins of [0, 1]."""
    edges = np.arange(m + 1) / m
    scale = 1.0 / math.sqrt(d)
    prim = -np.cos(2 * np.pi * edges) / (2 * np.pi)  # antiderivative of sin(2 pi t)
    prim2 = edges / 2 - np.sin(4 * np.pi * edges) / (8 * np.pi)  # antiderivative of sin^2(2 pi t)
    mean = scale * np.diff(prim) * m
    second = scale**2 * np.diff(prim2) * m
    return mean, second - mean**2


def lipschitz_target(u: np.ndarray) -> np.ndarray:
    """The regression function of :func:`binning_regression`: :math:`f(u) = d^{-1/2} \\sum_j \\sin(2 \\pi u_j)`.

    Lipschitz with constant :math:`2\\pi` (in the Euclidean norm), zero mean, and
    additive, so its mean and variance over a bin are known in closed form.
    """
    u = np.atleast_2d(u)
    return np.sin(2 * np.pi * u).sum(axis=-1) / math.sqrt(u.shape[-1])


@float64
def binning_regression(
    sizes: Sequence[int], d: int, reps: int = 20, seed: int = 0, noise: float = 0.5
) -> pd.DataFrame:
    """Risk of the regressogram with the rate-optimal bin width, for a Lipschitz function on :math:`[0,1]^d`.

    Data: :math:`U_i \\sim \\mathrm{Uniform}[0,1]^d`,
    :math:`Y_i = f(U_i) + \\varepsilon_i` with :math:`\\varepsilon_i \\sim \\mathcal{N}(0, \\text{noise}^2)`
    and ``f`` = :func:`lipschitz_target`. The estimate is the mean of the
    :math:`Y_i` in each of the :math:`m^d` cubic bins, ``m`` =
    :func:`optimal_bins` (an empty bin predicts the overall mean). The risk
    :math:`\\int_{[0,1]^d} (\\hat f - f)^2` is computed exactly from the bin
    means and variances of ``f``, with no test-sample noise, and averaged
    over ``reps`` repetitions. It falls as :math:`N^{-2/(d+2)}`; sizes of the
    form :math:`m^{d+2}` avoid the steps that rounding ``m`` puts on the curve.

    Returns
    -------
    DataFrame with columns ``x`` (N) and ``loss`` (the integrated squared error).
    """
    n = _check_sizes(sizes)
    _check_dimension(d)
    reps = _check_reps(reps)
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be non-negative and finite, got {noise!r}")
    rng = np.random.default_rng(seed)
    loss = []
    for size, m in zip(n, optimal_bins(n, d)):
        m = int(m)
        axis_mean, axis_var = _target_moments(m, d)
        grids = np.meshgrid(*([np.arange(m)] * d), indexing="ij")
        f_mean = sum(axis_mean[g] for g in grids).ravel()  # f's mean over each bin (additive f)
        f_var = sum(axis_var[g] for g in grids).ravel()  # and its variance over the bin
        risks = []
        for _ in range(reps):
            u = rng.random((int(size), d))
            y = lipschitz_target(u) + noise * rng.standard_normal(int(size))
            bins = np.ravel_multi_index(tuple(np.minimum((u * m).astype(np.int64), m - 1).T), (m,) * d)
            counts = np.bincount(bins, minlength=m**d)
            sums = np.bincount(bins, weights=y, minlength=m**d)
            estimate = np.where(counts > 0, sums / np.maximum(counts, 1), y.mean())
            risks.append(np.mean((estimate - f_mean) ** 2 + f_var))
        loss.append(np.mean(risks))
    return pd.DataFrame({"x": n.astype(np.float64), "loss": np.asarray(loss)})


@float64
def intrinsic_dimension(fit, param: str = "alpha", reading: str = "binning", interval: float | None = None):
    """The intrinsic dimension implied by a fitted data exponent, draw by draw.

    Two readings of a loss that falls as :math:`N^{-\\alpha}` in the sample size N:

    - ``"binning"``: :math:`d = 2/\\alpha - 2`, inverting the regressogram
      rate :math:`\\alpha = 2/(d+2)` (:func:`binning_regression`). It assumes the
      loss is a squared error, the target is Lipschitz (no smoother) and
      the learner behaves like a local averager at its optimal resolution on a
      d-dimensional data manifold; a smoother target (s derivatives, rate
      :math:`2s/(2s+d)`) gives a larger d for the same alpha. Exponents of 1
      or more (parametric rates) give :math:`d \\le 0`: no dimension fits.
    - ``"crude"``: :math:`d \\approx 1/\\alpha`, the order of magnitude that
      resolution-limited scaling predicts when the model must resolve a
      d-dimensional data manifold (Sharma and Kaplan 2020, "A Neural Scaling
      Law from the Dimension of the Data Manifold", arXiv:2004.10802, who find
      :math:`\\alpha \\approx 4/d` for the cross-entropy in model size; Bahri,
      Dyer, Kaplan, Lee and Sharma 2021, "Explaining Neural Scaling Laws",
      arXiv:2102.06701, who predict :math:`\\alpha \\ge 1/d` up to a
      loss-dependent constant in the resolution-limited regime). Read it as a
      scale, not a measurement: the constant depends on the loss and the model.

    Both map each posterior draw, so the result is the posterior of d under the
    reading's assumptions.

    Parameters
    ----------
    fit
        A :class:`~bayescale._src.fit.results.Fit`.
    param
        The exponent parameter of the data (or sample) size, e.g. ``"alpha"`` or ``"beta"``.
    reading
        ``"binning"`` or ``"crude"``.
    interval
        None: return the draws, ``[curves, draws]``. A probability: return a
        DataFrame (one row per curve) with ``mean``, ``median``, ``lower``, ``upper``.
    """
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; choose one of {', '.join(READINGS)}")
    if param not in fit.law.param_names:
        raise ValueError(f"law {fit.law.name!r} has no parameter {param!r}; it has {list(fit.law.param_names)}")
    alpha = fit.draws(param)
    d = 2.0 / alpha - 2.0 if reading == "binning" else 1.0 / alpha
    if reading == "binning" and np.mean(d <= 0) > 0.05:
        warnings.warn(
            f"{100 * np.mean(d <= 0):.0f}% of the draws of {param!r} are >= 1, faster than any Lipschitz "
            "non-parametric rate: the binning reading gives no positive dimension for them",
            UserWarning,
            stacklevel=2,
        )
    if interval is None:
        return d
    if not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1, got {interval}")
    q = np.quantile(d, [0.5, (1 - interval) / 2, (1 + interval) / 2], axis=1)
    out = pd.DataFrame({"mean": d.mean(axis=1), "median": q[0], "lower": q[1], "upper": q[2]})
    if fit.grouped:
        out.insert(0, fit.columns.group, fit.groups)
    return out
