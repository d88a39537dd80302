"""Simulated curves from known parameters, shared by the statistical tests."""

import numpy as np
import pandas as pd

import bayescale as bs

TRUTH = {
    "pure_power_law": {"A": 20.0, "alpha": 0.3},
    "power_law": {"E": 1.7, "A": 400.0, "alpha": 0.3},
    "chinchilla": {"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37},
    "kaplan": {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13},
    "additive": {"alpha_N": 0.3, "alpha_D": 0.3, "N_c": 1e9, "D_c": 1e10},
    "additive_compute": {"alpha_N": 0.3, "alpha_D": 0.3, "N_c": 1e9, "D_c": 1e10, "alpha_C": 0.2, "C_c": 1e18},
    "multiplicative": {"K": 50.0, "alpha": 0.1, "beta": 0.1},
    "multiplicative_compute": {"K": 50.0, "alpha": 0.1, "beta": 0.1, "gamma": 0.05},
}


def design(law: bs.Law, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Input sizes spanning three decades, a 6 x 6 grid for laws of N and D."""
    if law.inputs == ("x",):
        lo = 1e6 if law.name == "pure_power_law" else 1e7
        return {"x": np.geomspace(lo, lo * 1e3, 25)}
    n, d = np.meshgrid(np.geomspace(1e8, 1e10, 6), np.geomspace(1e9, 1e11, 6))
    out = {"N": n.ravel(), "D": d.ravel()}
    if "C" in law.inputs:
        # compute not exactly 6ND (attention, embeddings), else the C term is collinear with N and D
        out["C"] = 6 * out["N"] * out["D"] * np.exp(0.5 * rng.standard_normal(out["N"].size))
    return out


def simulate(law_name: str, replicates: int, seed: int, sigma: float = 0.01, truth=None) -> pd.DataFrame:
    """``replicates`` noisy curves of one law (column ``curve``), log-normal noise of scale ``sigma``."""
    law = bs.laws.get(law_name)
    truth = truth or TRUTH[law_name]
    rng = np.random.default_rng(seed)
    frames = []
    for r in range(replicates):
        x = design(law, rng)
        mean = np.asarray(law(truth, x))
        loss = mean * np.exp(sigma * rng.standard_normal(mean.shape))
        frames.append(pd.DataFrame({**x, "loss": loss, "curve": r}))
    return pd.concat(frames, ignore_index=True)


def coverage(fit, truth, interval=0.9) -> pd.DataFrame:
    """Per curve and parameter: is the truth inside the central interval?"""
    q = [(1 - interval) / 2, (1 + interval) / 2]
    rows = []
    for i, label in enumerate(fit.groups):
        for name, value in truth.items():
            lo, hi = np.quantile(fit.draws(name)[i], q)
            rows.append({"curve": label, "parameter": name, "lower": lo, "upper": hi, "truth": value,
                         "covered": lo <= value <= hi})
    return pd.DataFrame(rows)
