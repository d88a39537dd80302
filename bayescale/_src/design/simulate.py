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
