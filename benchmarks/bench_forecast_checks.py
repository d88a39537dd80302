"""Checks of the default forecast beyond the data: valid curves along the Chinchilla frontier, and few runs
with a literature preset.

    python benchmarks/bench_forecast_checks.py                  # both checks, the default discrepancy
    python benchmarks/bench_forecast_checks.py --part few_runs
    python benchmarks/bench_forecast_checks.py --part few_runs --information 2   # the default, otherwise changed

1. ``frontier``: ``bs.fit(bs.datasets.load("chinchilla"), law="chinchilla")`` (Laplace), the compute-optimal
   allocation of the posterior median at 9 budgets 1e22..1e26 FLOP, the law's predictive draws there with the
   default discrepancy: the share of draws non-increasing along the frontier, the 90% band (its upper bound
   should not rise with compute, its lower bound should stay positive and near the fitted floor ``E``).
2. ``few_runs``: four runs N = 5e7, 1e8, 2e8, 4e8 with D = 20 N, simulated with 1% log-normal noise from each
   of Hoffmann et al. 2022 (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) and Epoch AI's refit (Besiroglu
   et al. 2024: E 1.82, A 482, B 2085, alpha 0.35, beta 0.37), fitted with each preset (``epoch2024``,
   ``hoffmann2022``) and ``bs.fit``'s defaults otherwise; the 90% band of the law's value at 100x the largest
   run's compute (N = 4e9, D = 8e10), with the default discrepancy and with the law alone: does it cover the
   truth, and how wide is it (target: at most 0.35).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale._src.analysis.allocate import chinchilla_optimum
from common import environment

TRUTHS = {"Hoffmann 2022": dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
          "Epoch 2024": dict(E=1.82, A=482.0, B=2085.0, alpha=0.35, beta=0.37)}
PRESETS = ("epoch2024", "hoffmann2022")


def chinchilla(p, n, d):
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def frontier(discrepancy="default") -> pd.DataFrame:
    fit = bs.fit(bs.datasets.load("chinchilla"), law="chinchilla")
    median = {k: float(np.median(fit.draws(k))) for k in fit.law.param_names}
    budgets = np.logspace(22, 26, 9)
    n, d = (np.asarray(v) for v in chinchilla_optimum(median, budgets / 6.0))
    draws = fit.predictive_draws({"N": n, "D": d}, discrepancy=discrepancy)[0]  # [S, budgets]
    monotone = (np.diff(draws, axis=-1) <= 1e-12 * draws[:, 1:]).all(axis=-1).mean()
    lower, upper = np.quantile(draws, [0.05, 0.95], axis=0)
    e_lo, e_hi = np.quantile(fit.draws("E"), [0.05, 0.95])
    print(f"frontier: {monotone:.1%} of the draws non-increasing; upper bound non-increasing: "
          f"{bool((np.diff(upper) <= 0).all())}; lowest lower bound {lower.min():.3f} (fitted E 90%: "
          f"{e_lo:.3f}-{e_hi:.3f})")
    return pd.DataFrame({"compute": budgets, "N": n, "D": d, "lower": lower, "median": np.median(draws, axis=0),
                         "upper": upper})


def few_runs(seed: int = 0, discrepancy="default") -> pd.DataFrame:
    n = np.array([5e7, 1e8, 2e8, 4e8])
    d = 20 * n
    target = {"N": [4e9], "D": [8e10]}  # 100x the largest run's compute
    rows = []
    for truth_name, truth in TRUTHS.items():
        rng = np.random.default_rng(seed)
        loss = chinchilla(truth, n, d) * np.exp(0.01 * rng.standard_normal(len(n)))
        df = pd.DataFrame({"N": n, "D": d, "loss": loss})
        true = float(chinchilla(truth, 4e9, 8e10))
        for preset in PRESETS:
            fit = bs.fit(df, law="chinchilla", priors=preset)
            row = {"truth": f"{truth_name} ({true:.3f})", "preset": preset}
            for setting, prior in (("default", discrepancy), ("law only", None)):
                band = fit.predict(target, discrepancy=prior).iloc[0]
                row[f"{setting} band"] = f"[{band['lower']:.3f}, {band['upper']:.3f}]"
                row[f"{setting} width"] = round(float(band["upper"] - band["lower"]), 3)
                row[f"{setting} covers"] = bool(band["lower"] <= true <= band["upper"])
            rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["frontier", "few_runs", "all"], default="all")
    for name in ("rate", "spread", "floor", "growth", "information"):
        parser.add_argument(f"--{name}", type=float, help=f"the discrepancy's {name} (default: bs.Discrepancy's)")
    args = parser.parse_args()
    changed = {k: getattr(args, k) for k in bs.Discrepancy._fields if getattr(args, k) is not None}
    prior = bs.Discrepancy()._replace(**changed) if changed else "default"
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    if args.part in ("frontier", "all"):
        print(frontier(prior).round(4).to_string(index=False))
    if args.part in ("few_runs", "all"):
        print(f"few runs, discrepancy {prior}:")
        print(few_runs(discrepancy=prior).to_string(index=False))


if __name__ == "__main__":
    main()
