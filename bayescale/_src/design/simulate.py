"""Simulated IsoFLOP sweeps of a law of N and D, with a known truth: the test bed of a design.

Each sweep draws the true parameters from a priors preset, lays out a pool of
candidate runs on IsoFLOP budgets, a few start runs below them and target runs
far above, and records each run's noisy loss and the law's noiseless value.
Feed it to :func:`bayescale.design.replay` with ``group="seed"`` and
``truth="law_value"``.
"""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
from bayescale._src.precision import float64


def hoffmann_size(compute):
    """The model size at 20 tokens per parameter for ``compute`` FLOP (C = 6 N D; Hoffmann et al. 2022)."""
    return np.sqrt(np.asarray(compute, float) / 120.0)


def optimal_size(truth: dict, compute: float) -> float:
    """The compute-optimal N of a Chinchilla law at ``compute`` FLOP (Hoffmann et al. 2022, eq. 4)."""
    a, b = truth["alpha"], truth["beta"]
    g = (a * truth["A"] / (b * truth["B"])) ** (1 / (a + b))
    return float(g * (compute / 6) ** (b / (a + b)))


@float64
def chinchilla_sweeps(
    seeds,
    preset: str = "hoffmann2022",
    levels=tuple(np.geomspace(6e18, 3e21, 8)),
    sizes_per_level: int = 15,
    start_compute: float = 1e18,
    target_factor: float = 100.0,
    noise: float = 0.01,
) -> pd.DataFrame:
    """Simulated Chinchilla-law sweeps, one per seed.

    Parameters
    ----------
    seeds
        One sweep per seed; its true parameters are drawn from ``preset`` (so a calibrated fit with
        that preset covers the truth at its nominal rate).
    levels, sizes_per_level
        The pool: ``sizes_per_level`` model sizes from 1/8 to 8 times the 20-tokens-per-parameter size
        on each IsoFLOP budget of ``levels`` (FLOP).
    start_compute
        The four start runs, at 1/4, 1/2, 2 and 4 times the 20-tokens size at this budget.
    target_factor
        The targets: the true compute-optimal N, half and twice it, at ``target_factor`` times the
        largest level.
    noise
        Standard deviation of the Gaussian noise on log loss.

    Returns
    -------
    DataFrame with ``seed``, ``role`` (start, pool, target), ``C``, ``N``, ``D``, ``law_value``, ``loss``.
    """
    from bayescale import laws, priors

    law = laws.get("chinchilla")
    frames = []
    for seed in np.atleast_1d(seeds):
        rng = np.random.default_rng(int(seed))
        spec = {k: p for k, p in priors.preset(preset, law).items() if k in law.param_names}
        keys = jax.random.split(jax.random.PRNGKey(int(seed)), len(spec))
        truth = {k: float(p.sample(key)) for key, (k, p) in zip(keys, spec.items())}
        rows = [("start", start_compute, hoffmann_size(start_compute) * f) for f in (0.25, 0.5, 2.0, 4.0)]
        rows += [("pool", c, n) for c in levels for n in hoffmann_size(c) * np.geomspace(1 / 8, 8, sizes_per_level)]
        top = target_factor * max(levels)
        rows += [("target", top, optimal_size(truth, top) * f) for f in (0.5, 1.0, 2.0)]
        df = pd.DataFrame(rows, columns=["role", "C", "N"])
        df["D"] = df["C"] / (6 * df["N"])
        df["law_value"] = np.asarray(law.fn(truth, {"N": df["N"].to_numpy(), "D": df["D"].to_numpy()}))
        df["loss"] = df["law_value"] * np.exp(noise * rng.standard_normal(len(df)))
        df.insert(0, "seed", int(seed))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


#: Log-sd of each true parameter of :func:`data_constrained_sweeps` around the paper's fit.
TRUTH_SPREAD = {"E": 0.05, "alpha": 0.05, "beta": 0.05, "A": 0.2, "B": 0.2, "R_D_star": 0.4, "R_N_star": 0.4}


@float64
def data_constrained_sweeps(
    seeds,
    sizes=tuple(np.geomspace(1e7, 1e9, 5)),
    tokens=tuple(np.geomspace(1e9, 1e12, 7)),
    unique=(1e9, 3e9, 1e10, 3e10, 1e11),
    held_out: int = 2,
    noise: float = 0.01,
) -> pd.DataFrame:
    """Simulated sweeps of a data-constrained law (repeated epochs over ``U`` unique tokens), one per seed.

    The truth is ``data_constrained`` (Muennighoff et al. 2023, "Scaling Data-Constrained Language
    Models", arXiv:2305.16264, eq. 5-6) at the paper's fit (``bs.laws.repetition.PUBLISHED``), each
    parameter multiplied by ``exp(s z)``, ``z ~ N(0, 1)``, with ``s`` in :data:`TRUTH_SPREAD` (0.05 for
    ``E``, 0.05 for the exponents, 0.2 for the amplitudes, 0.4 for ``R_D*`` and ``R_N*``, the spread of
    the ``muennighoff2023`` preset's repetition priors): laws like the paper's, where the preset's own
    draws (amplitudes with log-sd 1.5) give losses far from any language model's. Every run of the grid
    ``sizes x tokens x epochs`` trains ``N`` parameters on ``D`` tokens, ``D / epochs`` of them unique
    (``U``), like the sweep of the paper (``bs.datasets.load("datablations")``). The runs of the
    ``held_out`` largest token counts are the target (the paper's larger runs, held out as in
    ``bs.datasets.heldout("datablations")``); the start is the single-epoch runs of the two smallest
    sizes and token counts; every other run is the pool.

    Parameters
    ----------
    seeds
        One sweep per seed, its own true parameters.
    sizes, tokens, unique
        The grid: model sizes ``N``, tokens seen ``D`` and unique-token budgets ``U`` (the runs with
        ``U < D`` repeat; every ``(N, D)`` also has its fresh run).
    held_out
        How many of the largest token counts are the target.
    noise
        Standard deviation of the Gaussian noise on log loss.

    Returns
    -------
    DataFrame with ``seed``, ``role`` (start, pool, target), ``N``, ``D``, ``U``, ``epochs``, ``C`` (6 N D),
    ``law_value`` and ``loss``.
    """
    from bayescale import laws
    from bayescale.laws.repetition import PUBLISHED

    sizes, tokens, unique = (np.sort(np.asarray(v, float)) for v in (sizes, tokens, unique))
    if not 0 < held_out < len(tokens) - 1:
        raise ValueError(f"held_out must leave at least two token counts to fit, got {held_out} of {len(tokens)}")
    if len(sizes) < 2 or not np.all(unique > 0):
        raise ValueError("the grid needs at least two sizes and positive unique budgets")
    law = laws.get("data_constrained")
    grid = [(nn, dd, min(uu, dd)) for nn in sizes for dd in tokens for uu in (*unique, np.inf)]
    n, d, u = (np.asarray(v) for v in zip(*dict.fromkeys(grid)))  # a budget of U >= D is the fresh run
    role = np.where(d >= tokens[-held_out], "target", "pool")
    role[(n <= sizes[1]) & (d <= tokens[1]) & (u == d)] = "start"
    frames = []
    for seed in np.atleast_1d(seeds):
        rng = np.random.default_rng(int(seed))
        truth = {k: PUBLISHED[k] * float(np.exp(TRUTH_SPREAD[k] * rng.standard_normal())) for k in law.param_names}
        df = pd.DataFrame({"seed": int(seed), "role": role, "N": n, "D": d, "U": u, "epochs": d / u, "C": 6 * n * d})
        df["law_value"] = np.asarray(law.fn(truth, {k: df[k].to_numpy() for k in ("N", "D", "U")}))
        df["loss"] = df["law_value"] * np.exp(noise * rng.standard_normal(len(df)))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
