"""arviz's summary diagnostics of many series at once: HDI, MCSE of the mean, bulk and tail ESS, rank r_hat.

``Fit.summary()`` of a grouped fit asks arviz for these per curve and parameter, and arviz computes them
one series at a time (Python calls per series: its ranks, autocovariances by FFT and Geyer's initial
monotone sequence); for a chunk of ``bs.fit_stream`` that took longer than fitting the chunk. Here every
series of ``[series, chains, draws]`` goes through the same formulas at once (Vehtari, Gelman, Simpson,
Carpenter and Buerkner 2021, "Rank-normalization, folding, and localization: an improved R-hat",
Bayesian Analysis; Geyer 1992 for the truncation of the autocorrelations). The HDI is arviz's own
computation, batched: the same numbers. The others agree with arviz's to rounding (sums taken in
another order; ``tests/test_results.py``). A series with a non-finite value goes to arviz itself.
"""

from __future__ import annotations

import numpy as np
from arviz.stats.diagnostics import _ess_bulk, _ess_tail, _mcse_mean, _rhat_rank
from arviz.stats.stats_utils import autocov
from scipy import special

BLOCK = 256  # series at once


def hdi(x: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """arviz's highest-density interval (the narrowest interval holding ``floor(prob * n)`` + 1 sorted draws) of
    each series ``x [series, n]``: ``(lower, upper)``."""
    n = x.shape[-1]
    inc = int(np.floor(prob * n))
    lower, upper = np.empty(len(x), x.dtype), np.empty(len(x), x.dtype)
    for start in range(0, len(x), BLOCK):
        ary = np.sort(x[start : start + BLOCK], axis=-1)
        width = np.subtract(ary[:, inc:], ary[:, : n - inc], dtype=np.float64)
        low = np.argmin(width, axis=-1)
        rows = np.arange(len(ary))
        lower[start : start + len(ary)], upper[start : start + len(ary)] = ary[rows, low], ary[rows, low + inc]
    return lower, upper


def summary_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """``mcse_mean``, ``ess_bulk``, ``ess_tail`` and ``r_hat`` (arviz's defaults) of each series
    ``x [series, chains, draws]`` (at least 2 chains of 4 draws)."""
    x = np.asarray(x, np.float64)
    finite = np.all(np.isfinite(x), axis=(1, 2))
    out = {name: np.full(len(x), np.nan) for name in ("mcse_mean", "ess_bulk", "ess_tail", "r_hat")}
    good = np.flatnonzero(finite)
    # blocks of BLOCK series bound the temporaries (the autocovariances' FFT is 4x the draws): a chunk of 1,000
    # curves in one block raised bs.fit_stream's peak RSS by 0.6-0.8 GB
    for start in range(0, len(good), BLOCK):
        rows = good[start : start + BLOCK]
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant series: 0 / 0, as in arviz
            for name, values in _batched(x[rows]).items():
                out[name][rows] = values
    for i in np.flatnonzero(~finite):  # arviz's own handling of NaN and inf
        out["mcse_mean"][i], out["ess_bulk"][i] = _mcse_mean(x[i]), _ess_bulk(x[i])
        out["ess_tail"][i], out["r_hat"][i] = _ess_tail(x[i]), _rhat_rank(x[i])
    return out


def _batched(good) -> dict[str, np.ndarray]:
    """:func:`summary_stats` of finite series."""
    split = _split(good)
    z = _z_scale(split)
    ordered = np.sort(good.reshape(len(good), -1), axis=-1)
    low, high = (_ess(_split((good <= _quantile(ordered, p)[:, None, None]).astype(np.float64)))
                 for p in (0.05, 0.95))
    sd = np.std(good.reshape(len(good), -1), axis=-1, ddof=1)
    folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=-1)[:, None, None])
    bulk, tail = _rhat(z), _rhat(_z_scale(folded))
    return {"mcse_mean": sd / np.sqrt(_ess(split)), "ess_bulk": _ess(z), "ess_tail": np.minimum(low, high),
            "r_hat": np.where(tail > bulk, tail, bulk)}  # arviz's max(bulk, tail): NaN only where bulk is


def _split(x):
    """Each chain cut in two halves (arviz's ``_split_chains``): ``[series, 2 chains, draws // 2]``."""
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., -half:]], axis=1)


def _z_scale(x):
    """Rank-normalized draws: normal quantiles of the fractional ranks (ties averaged) over each whole series."""
    flat = x.reshape(len(x), -1)
    rank = _average_ranks(flat)
    c = 3 / 8
    return special.ndtri((rank - c) / (flat.shape[-1] - 2 * c + 1)).reshape(x.shape)


def _average_ranks(flat):
    """1-based ranks of each row of ``flat [series, n]``, ties given the mean of their ranks: the values of
    ``scipy.stats.rankdata(flat, method="average", axis=-1)``, by one unstable sort (numpy's vectorized
    quicksort; scipy sorts with a merge sort) and the runs of equal values."""
    series, n = flat.shape
    order = np.argsort(flat, axis=-1)
    ordered = np.take_along_axis(flat, order, axis=-1)
    new = np.ones((series, n + 1), bool)
    new[:, 1:n] = ordered[:, 1:] != ordered[:, :-1]
    at = np.arange(n + 1)
    first = np.maximum.accumulate(np.where(new, at, 0), axis=-1)[:, :n]  # where each value's run of ties starts
    end = np.minimum.accumulate(np.where(new, at, n)[:, ::-1], axis=-1)[:, ::-1][:, 1:]  # ... and where it ends
    ranks = np.empty((series, n))
    np.put_along_axis(ranks, order, 0.5 * (first + end + 1), axis=-1)
    return ranks


def _quantile(flat, p: float):
    """The type-7 quantile of each series' sorted draws ``flat [series, n]`` (arviz's ``quantile``,
    ``scipy.stats.mstats.mquantiles``)."""
    n = flat.shape[-1]
    p = np.array([p])
    aleph = n * p + (1 + p * (1.0 - 1 - 1))
    k = int(np.floor(aleph.clip(1, n - 1))[0])
    gamma = float((aleph - k).clip(0, 1)[0])
    return (1.0 - gamma) * flat[:, k - 1] + gamma * flat[:, k]


def _rhat(x):
    """Split-chain potential scale reduction of each series ``[series, chains, draws]``."""
    n = x.shape[-1]
    between = n * np.var(np.mean(x, axis=-1), axis=-1, ddof=1)
    within = np.mean(np.var(x, axis=-1, ddof=1), axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _ess(x):
    """Effective sample size of each series ``[series, chains, draws]`` (arviz's ``_ess``): the autocorrelations
    averaged over chains, summed in pairs while the pairs stay positive, made monotone (Geyer's initial monotone
    sequence)."""
    s, chains, n = x.shape
    constant = (np.max(x, axis=(1, 2)) - np.min(x, axis=(1, 2))) < np.finfo(float).resolution
    acov = autocov(x, axis=-1)
    mean_var = np.mean(acov[..., 0], axis=-1) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus = var_plus + np.var(np.mean(x, axis=-1), axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - np.mean(acov, axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0
    # pair k = (rho[2k], rho[2k + 1]); arviz's loop looks at pairs 1 .. limit while the previous pair is positive
    limit = len(range(1, n - 3, 2))
    pairs = rho[:, 0 : 2 * limit + 2 : 2][:, : limit + 1] + rho[:, 1 : 2 * limit + 2 : 2][:, : limit + 1]
    stop = ~(pairs[:, :limit] > 0)  # NaN stops too
    iters = np.argmax(np.concatenate([stop, np.ones((s, 1), bool)], axis=-1), axis=-1)  # the first stop, or limit
    rows = np.arange(s)
    monotone = np.minimum.accumulate(pairs, axis=-1)
    kept = np.where(np.arange(pairs.shape[-1]) < iters[:, None], monotone, 0.0)
    last_even, last_pair = rho[rows, 2 * iters], pairs[rows, iters]
    tail = np.where((last_even > 0) | (last_pair >= 0), last_even, 0.0)
    tau = -1.0 + 2.0 * np.sum(kept, axis=-1) + tail
    size = chains * n
    ess = size / np.maximum(tau, 1 / np.log10(size))
    ess = np.where(np.isnan(rho[:, 1]), np.nan, ess)  # the one value arviz keeps whatever its sign
    return np.where(constant, float(size), ess)
