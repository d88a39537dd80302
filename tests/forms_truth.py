"""Known parameters and designs for the issue-5 forms, shared by their tests."""

import numpy as np
import pandas as pd

import bayescale as bs

TRUTH = {
    "m3": {"alpha": 0.5, "gamma": 1e-3, "A": 2.0},
    "m4": {"E": 0.05, "reach": 0.9, "alpha": 0.6, "a": 1.2, "A": 256.0},
    "bnsl": {"E": 0.5, "A": 3.0, "c0": 0.1, "c1": 1.0, "d1": 1e4, "f1": 0.3},
    "bnsl2": {"E": 0.5, "A": 3.0, "c0": 0.1, "c1": 0.6, "d1": 1e3, "f1": 0.3, "c2": 0.8, "d2": 1e5, "f2": 0.3},
    "bnsl3": {"E": 0.5, "A": 3.0, "c0": 0.1, "c1": 0.4, "d1": 1e3, "f1": 0.3, "c2": 0.4, "d2": 1e4, "f2": 0.3,
              "c3": 0.4, "d3": 1e5, "f3": 0.3},
    "data_constrained": dict(bs.laws.repetition.PUBLISHED),
    "pow3": {"c": 0.5, "alpha": 0.5, "a": 3.0},
    "pow4": {"c": 0.5, "alpha": 0.7, "x0": 20.0, "a": 5.0},
    "log_power": {"a": 3.0, "alpha": 1.0, "x0": 30.0},
    "janoschek": {"c": 0.5, "span": 2.0, "kappa": 0.05, "delta": 0.7},
    "mmf": {"c": 0.5, "span": 2.0, "delta": 1.2, "x0": 30.0},
    "weibull": {"c": 0.5, "span": 2.0, "delta": 0.8, "x0": 50.0},
    "ilog2": {"c": 0.5, "a": 2.0},
    "vap": {"a": 2.7, "b": 1.5, "c": 0.2},
    "exp4": {"c": 0.5, "a": 0.1, "alpha": 0.6, "span": 2.0},
    "log_law": {"b": 0.1, "x0": 1e13},  # L = 2.3..2.9 over x = 2..1000
}

#: the likelihood each form is simulated and fitted with (M4 models an error rate)
LIKELIHOOD = {"m4": "logit_normal"}


def design(name: str) -> dict[str, np.ndarray]:
    """Inputs of a simulated curve: learning-curve families over epochs, the others over sizes."""
    if name == "data_constrained":
        n, u, epochs = np.meshgrid(np.geomspace(1e8, 9e9, 4), np.geomspace(1e9, 1e11, 4), [1, 2, 4, 10, 40, 100])
        return {"N": n.ravel(), "D": (u * epochs).ravel(), "U": u.ravel()}
    if name in ("m3",):
        return {"x": np.geomspace(10, 1e5, 30)}
    if name == "m4":
        return {"x": np.geomspace(1e2, 1e6, 30)}
    if name.startswith("bnsl"):
        return {"x": np.geomspace(1e2, 1e6, 40)}
    return {"x": np.geomspace(2, 1000, 30)}


def simulate(name: str, seed: int, sigma: float = 0.01, truth=None, x=None) -> pd.DataFrame:
    """One noisy curve of a law: log-normal noise of scale ``sigma`` (logit-normal for bounded likelihoods)."""
    law = bs.laws.get(name)
    truth = truth or TRUTH[name]
    x = design(name) if x is None else x
    rng = np.random.default_rng(seed)
    mean = np.asarray(law(truth, x))
    noise = sigma * rng.standard_normal(mean.shape)
    if LIKELIHOOD.get(name, "").startswith("logit"):
        y = 1 / (1 + np.exp(-(np.log(mean / (1 - mean)) + noise)))
    else:
        y = mean * np.exp(noise)
    return pd.DataFrame({**x, "loss": y})
