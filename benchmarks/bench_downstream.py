"""Forecasts of held-out benchmark scores: pooled sigmoid posteriors against point-fit sigmoids.

Data: ``bs.datasets.load("downstream_scores")`` (Touvron et al. 2023b, Table 3: 8 benchmark columns for 12
open base models). Split: for each family with at least 3 models (Llama 1, Llama 2), the largest model is
held out and the smaller ones are fitted (MPT and Falcon, 2 models each, would keep 1 point: left out). Every
benchmark is fitted with ``bs.laws.sigmoid_compute(floor=chance)``, its chance score from
``df.attrs["chance"]``, and the held-out scores (16: 8 benchmarks x 2 families) are forecast.

Methods:

- ``pooled``: ``bs.fit(..., group="family", pooling="partial", pooled=["slope", "sigma"])`` (NUTS): each
  family its own midpoint (compute efficiency), the slope and noise shared through a population; the band
  of a new model's score (``kind="observation"``), with the default discrepancy term and without it.
- ``independent``: ``bs.fit(..., group="family")`` (``method="auto"``): each family alone.
- ``curve_fit``: the usual recipe, ``scipy.optimize.curve_fit`` of the same sigmoid (floor fixed, ceiling 1)
  per family, its 90% band from parameter draws ``N(popt, pcov)`` plus the residual noise on the logit scale.

Reported: RMSE of the median (percentage points), 90% coverage and mean width of the 90% interval over the
16 held-out scores. Run: ``python benchmarks/bench_downstream.py`` (a few minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from scipy.special import expit, logit

import bayescale as bs
from common import environment, markdown_rows

BENCHMARKS = ("code", "commonsense", "world_knowledge", "reading", "math", "mmlu", "bbh", "agi_eval")


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Families with at least 3 models: the largest (by compute) held out, the others fitted."""
    keep = df.groupby("family")["model"].transform("size") >= 3
    df = df[keep]
    largest = df.groupby("family")["C"].transform("max") == df["C"]
    return df[~largest].reset_index(drop=True), df[largest].reset_index(drop=True)


def sigmoid(log10_c, slope, midpoint, floor):
    return floor + (1.0 - floor) * expit(slope * (log10_c - midpoint))


def point_fit(train: pd.DataFrame, test: pd.DataFrame, y: str, floor: float, seed: int) -> pd.DataFrame:
    """scipy's curve_fit per family, with a band from its covariance and the residual scatter."""
    rng = np.random.default_rng(seed)
    rows = []
    for family, part in train.groupby("family"):
        x, obs = np.log10(part["C"].to_numpy()), part[y].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, pcov = curve_fit(lambda t, k, m: sigmoid(t, k, m, floor), x, obs, p0=(1.0, 23.0), maxfev=20_000)
        resid = logit(np.clip(obs, 1e-6, 1 - 1e-6)) - logit(np.clip(sigmoid(x, *popt, floor), 1e-6, 1 - 1e-6))
        scale = np.sqrt(np.sum(resid**2) / max(len(x) - 2, 1))
        pcov = np.where(np.isfinite(pcov), pcov, 0.0)
        draws = rng.multivariate_normal(popt, pcov, size=4000, check_valid="ignore")
        for _, row in test[test["family"] == family].iterrows():
            t = np.log10(row["C"])
            law = sigmoid(t, draws[:, 0], draws[:, 1], floor)
            values = expit(logit(np.clip(law, 1e-9, 1 - 1e-9)) + scale * rng.standard_normal(law.shape))
            rows.append(dict(family=family, benchmark=y, observed=row[y], median=sigmoid(t, *popt, floor),
                             lower=np.quantile(values, 0.05), upper=np.quantile(values, 0.95)))
    return pd.DataFrame(rows)


def bayes(train, test, y, floor, pooling, seed, chains, draws):
    law = bs.laws.sigmoid_compute(floor=floor)
    kwargs = dict(method="nuts", chains=chains, draws=draws, warmup=draws, pooling="partial",
                  pooled=["slope", "sigma"], target_accept_prob=0.95) if pooling else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        fit = bs.fit(train[["family", "C", y]], law=law, y=y, group="family", seed=seed, **kwargs)
    out = {}
    for name, disc in (("", "default"), ("_nodisc", None)):
        pred = fit.predict(test[["C"]].drop_duplicates(), kind="observation", discrepancy=disc, seed=seed)
        merged = test[["family", "C", y]].merge(pred, on=["family", "C"])
        out[name] = pd.DataFrame(dict(family=merged["family"], benchmark=y, observed=merged[y],
                                      median=merged["median"], lower=merged["lower"], upper=merged["upper"]))
    return out, fit


def score(table: pd.DataFrame) -> dict:
    err = table["median"] - table["observed"]
    inside = (table["lower"] <= table["observed"]) & (table["observed"] <= table["upper"])
    return {"forecasts": len(table), "RMSE (points)": f"{100 * np.sqrt(np.mean(err**2)):.2f}",
            "90% coverage": f"{inside.mean():.2f}", "mean width (points)": f"{100 * (table['upper'] - table['lower']).mean():.1f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    df = bs.datasets.load("downstream_scores")
    chance = df.attrs["chance"]
    train, test = split(df)
    print(environment())
    print(f"fitted: {', '.join(train['model'])}\nheld out: {', '.join(test['model'])}\n")
    results = {"pooled (NUTS), discrepancy": [], "pooled (NUTS), no discrepancy": [],
               "independent (auto), discrepancy": [], "independent (auto), no discrepancy": [],
               "curve_fit (scipy)": []}
    timings = {"pooled": 0.0, "independent": 0.0}
    slopes = []
    for y in BENCHMARKS:
        floor = chance[y]
        start = time.perf_counter()
        pooled, fit = bayes(train, test, y, floor, True, args.seed, args.chains, args.draws)
        timings["pooled"] += time.perf_counter() - start
        slopes.append({"benchmark": y, "floor": floor,
                       "slope (population median)": f"{np.median(fit.hyper['slope_population']):.2f}",
                       "max r_hat": f"{fit.diagnostics()['max_r_hat'].max():.3f}" if "max_r_hat" in
                       fit.diagnostics() else "", "divergences": int(fit.diagnostics()["divergences"].max())
                       if "divergences" in fit.diagnostics() else ""})
        start = time.perf_counter()
        alone, _ = bayes(train, test, y, floor, False, args.seed, args.chains, args.draws)
        timings["independent"] += time.perf_counter() - start
        results["pooled (NUTS), discrepancy"].append(pooled[""])
        results["pooled (NUTS), no discrepancy"].append(pooled["_nodisc"])
        results["independent (auto), discrepancy"].append(alone[""])
        results["independent (auto), no discrepancy"].append(alone["_nodisc"])
        results["curve_fit (scipy)"].append(point_fit(train, test, y, floor, args.seed))
    rows = [{"method": name, **score(pd.concat(parts, ignore_index=True))} for name, parts in results.items()]
    print(markdown_rows(rows))
    print("\nper benchmark, pooled (NUTS) with its discrepancy term, and curve_fit:")
    pooled = pd.concat(results["pooled (NUTS), discrepancy"], ignore_index=True)
    point = pd.concat(results["curve_fit (scipy)"], ignore_index=True)
    table = pooled.merge(point, on=["family", "benchmark", "observed"], suffixes=("", "_scipy"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print((table.set_index(["benchmark", "family"]) * 100).round(1).to_string())
    print("\n" + markdown_rows(slopes))
    print(f"\nfit time: pooled {timings['pooled']:.0f} s, independent {timings['independent']:.0f} s "
          f"(8 benchmarks, compilation included)")


if __name__ == "__main__":
    main()
