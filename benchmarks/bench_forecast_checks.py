"""Checks of the default forecast beyond the data: valid curves along the Chinchilla frontier, and few runs
with a literature preset.

    python benchmarks/bench_forecast_checks.py                  # both checks, the default discrepancy
    python benchmarks/bench_forecast_checks.py --part few_runs
    python benchmarks/bench_forecast_checks.py --part few_runs --information 2   # the default, otherwise changed
    python benchmarks/bench_forecast_checks.py --part heldout --method auto       # datablations splits, 3 settings

1. ``frontier``: ``bs.fit(bs.datasets.load("chinchilla"), law="chinchilla")`` (Laplace), the compute-optimal
   allocation of the posterior median at 9 budgets 1e22..1e26 FLOP, the law's predictive draws there with the
   default discrepancy: the share of draws non-increasing along the frontier, the 90% band (its upper bound
   should not rise with compute, its lower bound should stay positive and near the fitted floor ``E``).
2. ``few_runs``: four runs N = 5e7, 1e8, 2e8, 4e8 with D = 20 N, simulated with 1% log-normal noise from each
   of Hoffmann et al. 2022 (E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28) and Epoch AI's refit (Besiroglu
   et al. 2024: E 1.82, A 482, B 2085, alpha 0.35, beta 0.37), fitted with each preset (``epoch2024``,
   ``hoffmann2022``) and ``bs.fit``'s defaults otherwise; the 90% band of the law's value at 100x the largest
   run's compute (N = 4e9, D = 8e10), with the default discrepancy and with the law alone: does it cover the
   truth, and how wide is it (target: at most 0.35). The target run lies inside the presets' source range
   (``Preset.source``), so the default band is the law's; the ``from the data`` column measures the
   discrepancy from the four runs alone (``bs.Discrepancy(source=False)``).
3. ``heldout``: the check that the simulated cases cannot make (their truth is the law): real runs of another
   corpus, fitted 4 at a time with each preset and forecast beyond them inside the presets' source range
   (:func:`datablations_splits`), scored with the discrepancy measured from the data, from the source range
   (the default), and the law alone.
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
            data_only = bs.Discrepancy(source=False) if discrepancy == "default" else discrepancy._replace(source=False)
            for setting, prior in (("default", discrepancy), ("from the data", data_only), ("law only", None)):
                band = fit.predict(target, discrepancy=prior).iloc[0]
                row[f"{setting} band"] = f"[{band['lower']:.3f}, {band['upper']:.3f}]"
                row[f"{setting} width"] = round(float(band["upper"] - band["lower"]), 3)
                row[f"{setting} covers"] = bool(band["lower"] <= true <= band["upper"])
            rows.append(row)
    return pd.DataFrame(rows)


def datablations_splits() -> pd.DataFrame:
    """Held-out splits of the single-epoch runs of ``bs.datasets.load("datablations")`` (Muennighoff et al. 2023,
    C4; the paper's default set, 29 runs of one epoch, 4.3e15-9.3e21 FLOP), each a curve of 4 fitted runs:

    - ``window``: 4 consecutive runs in compute order, the runs of more than twice their largest compute held
      out (windows with at least 3 held out);
    - ``1e19``: every 4 of the 7 runs near 1e19 FLOP, the 15 runs of 5e19 FLOP or more held out;
    - ``8e19``: every 4 of the 6 runs near 8e19 FLOP, the 9 runs of 5e20 FLOP or more held out.

    Every held-out run lies inside the Chinchilla presets' source range (``Preset.source``: N up to 1.6e10,
    D up to 3.2e11); none is one of the presets' source runs (MassiveText, not C4).
    """
    import itertools

    data = bs.datasets.load("datablations")
    runs = data[data["epochs_D_over_U"] == 1].copy()
    runs["C"] = 6.0 * runs["params_N"] * runs["tokens_D"]
    runs = runs.sort_values("C", ignore_index=True)
    frames = []

    def add(family: str, name: str, fitted: np.ndarray, heldout: np.ndarray) -> None:
        part = runs[fitted | heldout].copy()
        part["Training"] = fitted[fitted | heldout].astype(int)
        part["family"], part["split"] = family, f"{family}:{name}"
        frames.append(part)

    c = runs["C"].to_numpy()
    for start in range(len(runs) - 3):
        fitted = np.zeros(len(runs), bool)
        fitted[start:start + 4] = True
        heldout = c > 2 * c[start + 3]
        if heldout.sum() >= 3:
            add("window", str(start), fitted, heldout)
    for family, lo, hi, above in (("1e19", 5e18, 2e19, 5e19), ("8e19", 5e19, 1e20, 5e20)):
        cluster = np.flatnonzero((c >= lo) & (c <= hi))
        for chosen in itertools.combinations(cluster, 4):
            fitted = np.isin(np.arange(len(runs)), chosen)
            add(family, "-".join(map(str, chosen)), fitted, c >= above)
    return pd.concat(frames, ignore_index=True)


HELDOUT_SCORES = ("curves", "coverage_90", "msce", "log_score", "interval_90", "width_90", "rmsle")


def heldout(method: str = "auto") -> pd.DataFrame:
    """Scores of the datablations splits (:func:`datablations_splits`) fitted with ``law="chinchilla"`` and each
    preset: (a) the default discrepancy measured from the fitted runs, (b) from the furthest of the fitted
    runs and the preset's source runs (``bs.Discrepancy(source=True)``), (c) the law alone."""
    table = datablations_splits()
    settings = {"(a) from the data": bs.Discrepancy(source=False), "(b) from the source range (default)":
                bs.Discrepancy(source=True), "(c) law only": None}
    rows = []
    for preset in PRESETS:
        for name, prior in settings.items():
            ev = bs.evaluate(table, law="chinchilla", y="val_loss", columns={"N": "params_N", "D": "tokens_D"},
                             group="split", by="family", priors=preset, discrepancy=prior, method=method)
            for _, scores in ev.summary(by="family").iterrows():
                rows.append({"preset": preset, "family": scores["family"], "discrepancy": name,
                             **{k: scores[k] for k in HELDOUT_SCORES}})
            total = ev.summary().iloc[0]
            rows.append({"preset": preset, "family": "all", "discrepancy": name,
                         **{k: total[k] for k in HELDOUT_SCORES}})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["frontier", "few_runs", "heldout", "all"], default="all")
    parser.add_argument("--method", default="auto", help="engine of the held-out fits (default: bs.fit's auto)")
    scales = ("rate", "spread", "floor", "growth", "information")
    for name in scales:
        parser.add_argument(f"--{name}", type=float, help=f"the discrepancy's {name} (default: bs.Discrepancy's)")
    args = parser.parse_args()
    changed = {k: getattr(args, k) for k in scales if getattr(args, k) is not None}
    prior = bs.Discrepancy()._replace(**changed) if changed else "default"
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    if args.part in ("frontier", "all"):
        print(frontier(prior).round(4).to_string(index=False))
    if args.part in ("few_runs", "all"):
        print(f"few runs, discrepancy {prior}:")
        print(few_runs(discrepancy=prior).to_string(index=False))
    if args.part in ("heldout", "all"):
        print(f"datablations single-epoch splits, 4 runs fitted ({args.method}):")
        print(heldout(args.method).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
