"""Shared helpers for the benchmark scripts: simulated curves, timing, environment line."""

from __future__ import annotations

import os
import platform
import time

import jax
import numpy as np
import pandas as pd

# time the programs users get by default in scripts: no progress-bar callbacks compiled in
os.environ.setdefault("BAYESCALE_PROGRESS", "0")


def environment() -> str:
    import numpyro

    dev = jax.devices()[0]
    return (
        f"jax {jax.__version__}, numpyro {numpyro.__version__}, device {dev.platform}:{dev.device_kind}, "
        f"x64={jax.config.jax_enable_x64}, {platform.processor() or platform.machine()}"
    )


def markdown_rows(rows: list[dict]) -> str:
    """A pipe table of dict rows (columns in order of first appearance; a missing cell is blank)."""
    cols = list(dict.fromkeys(c for r in rows for c in r))
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def power_law_curves(num_curves: int, seed: int = 0, min_points: int = 20, max_points: int = 60) -> pd.DataFrame:
    """``num_curves`` power-law curves E + A x^-alpha of 20-60 points with log-normal noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for c in range(num_curves):
        n = int(rng.integers(min_points, max_points + 1))
        x = np.geomspace(1e6, 1e6 * 10 ** rng.uniform(2.5, 4), n)
        E, A, alpha = rng.uniform(1.5, 2.5), rng.uniform(50, 500), rng.uniform(0.2, 0.45)
        loss = (E + A * x**-alpha) * np.exp(0.01 * rng.standard_normal(n))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "curve": c, "E": E, "A": A, "alpha": alpha}))
    return pd.concat(frames, ignore_index=True)


def sweep_curves(num_curves: int, seed: int = 0, min_points: int = 12, max_points: int = 40) -> pd.DataFrame:
    """A realistic sweep of power-law curves, many nearly flat: 12-40 points over x = 1e6..1e8, E in [1.5, 3],
    A in [20, 200], alpha in [0.2, 0.5], 1% log-normal noise (at alpha 0.5 and A 20 the power term is 1% of E at
    the first point)."""
    rng = np.random.default_rng(seed)
    frames = []
    for c in range(num_curves):
        n = int(rng.integers(min_points, max_points + 1))
        x = np.geomspace(1e6, 1e8, n)
        E, A, alpha = rng.uniform(1.5, 3), rng.uniform(20, 200), rng.uniform(0.2, 0.5)
        loss = (E + A * x**-alpha) * np.exp(0.01 * rng.standard_normal(n))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "curve": c, "E": E, "A": A, "alpha": alpha}))
    return pd.concat(frames, ignore_index=True)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def nearly_flat_curves(num_curves: int, seed: int = 0, points: int = 15) -> pd.DataFrame:
    """The nearly flat design: 15-point curves over 1e6..1e9 with E in [1, 3], log A in [2, 6],
    alpha in [0.15, 0.6] and 2% Gaussian noise, so the power term is often small against E."""
    rng = np.random.default_rng(seed)
    frames = []
    x = np.geomspace(1e6, 1e9, points)
    for c in range(num_curves):
        E, A, alpha = rng.uniform(1, 3), np.exp(rng.uniform(2, 6)), rng.uniform(0.15, 0.6)
        loss = (E + A * x**-alpha) * (1 + 0.02 * rng.standard_normal(points))
        frames.append(pd.DataFrame({"x": x, "loss": loss, "curve": c, "E": E, "A": A, "alpha": alpha}))
    return pd.concat(frames, ignore_index=True)


def chinchilla_sweeps(num_sweeps: int, seed: int = 0, min_budgets: int = 4, max_budgets: int = 6,
                      min_sizes: int = 5, max_sizes: int = 9) -> pd.DataFrame:
    """Chinchilla-type N-D sweeps, one per ``curve``: 4-6 IsoFLOP budgets over 1e18..1e21 FLOP, 5-9 model sizes
    each from 1/8 to 8 times the 20-tokens-per-parameter size (D = C / 6N), truth E + A N^-alpha + B D^-beta with
    E in [1.6, 2.0], A in [200, 700], B in [300, 2500], alpha, beta in [0.25, 0.42], 1% log-normal noise.
    Sweeps whose exponents are close make the ridge of the (alpha, beta) posterior that a few budgets leave."""
    rng = np.random.default_rng(seed)
    frames = []
    for c in range(num_sweeps):
        budgets = np.geomspace(1e18, 1e21, int(rng.integers(min_budgets, max_budgets + 1)))
        sizes = int(rng.integers(min_sizes, max_sizes + 1))
        n = np.concatenate([np.sqrt(b / 120) * np.geomspace(1 / 8, 8, sizes) for b in budgets])
        d = np.repeat(budgets, sizes) / (6 * n)
        truth = {"E": rng.uniform(1.6, 2.0), "A": rng.uniform(200, 700), "B": rng.uniform(300, 2500),
                     "alpha": rng.uniform(0.25, 0.42), "beta": rng.uniform(0.25, 0.42)}
        law = truth["E"] + truth["A"] * n ** -truth["alpha"] + truth["B"] * d ** -truth["beta"]
        loss = law * np.exp(0.01 * rng.standard_normal(n.size))
        frames.append(pd.DataFrame({"N": n, "D": d, "loss": loss, "curve": c, **truth}))
    return pd.concat(frames, ignore_index=True)
