"""Priors and M4 on real curves (issue 14, items 4-6).

Parts (``--part``):

- ``m4``: the 10 BIG-Bench curves of ``revisiting_lang`` (error-like metrics in
  (0, 1)), fitted on ``Training == 1`` and scored on ``Training == 0``, the
  protocol of Alabdulmohsin, Neyshabur and Zhai 2022 (arXiv:2209.06640).
  ``m4`` (its default likelihood, Gaussian on log loss; also the logit likelihoods) against ``power_law``
  (Student-t on log loss), with ``bs.evaluate`` under each of ``--methods`` (default Laplace, the
  default of ``bs.evaluate``, and MAP), and against a scipy multi-start least-squares
  point fit of M4 (:mod:`m4_point_fit`). RMSLE per curve is
  ``sqrt(mean((log y_hat - log y)^2))`` over its held-out points, ``y_hat``
  the posterior median (the point fit's value for scipy); the table gives the
  mean over curves.
- ``presets``: the few-run study of item 5: 4 small runs (3 noisy replicates)
  simulated from each published Chinchilla-type fit, fitted with each preset;
  the 90% band of the law at 100x the largest compute, whether it covers the
  truth, and its width against the default priors' band.

- ``curves``: item 4, leave one curve out: ``bs.priors.from_curves`` (empirical
  Bayes: a joint Student-t prior from one batched Laplace fit of the other
  curves of the held-out curve's domain, ``power_law``), then the held-out
  curve's first 5 points fitted (Laplace) with those priors and with the
  defaults, scored (RMSLE of the posterior median) on all its later points;
  a third arm keeps only the learned marginals (independent parameters). Ends with the correlations of the priors learned from each whole domain.

    python benchmarks/bench_priors.py --part m4 [--methods laplace map nuts]
    python benchmarks/bench_priors.py --part presets
    python benchmarks/bench_priors.py --part curves [--domains BB LM NMT]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from common import Timer, environment
from m4_point_fit import fit_m4, m4_predict

import bayescale as bs

X, Y = "Seen Examples", "Loss"


# the defaults (m4: Gaussian on log loss, power_law: Student-t), and m4 with the logit likelihoods tried before
M4_LAWS = (("power_law", {}), ("m4", {}), ("m4", {"likelihood": "logit_student_t"}), ("m4", {"likelihood": "logit_normal"}))


def rmsle(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(pred) - np.log(truth)) ** 2)))


def score_fit(fit, held_out: pd.DataFrame) -> pd.Series:
    """Per-curve RMSLE of the posterior median at the held-out inputs."""
    out = {}
    for curve, g in held_out.groupby("curve"):
        band = fit[curve].predict({"x": g[X].to_numpy()})
        out[curve] = rmsle(band["median"].to_numpy(), g[Y].to_numpy())
    return pd.Series(out)


def part_m4(methods: list[str]) -> None:
    """m4 and power_law with their defaults (priors, likelihood) under each engine, and the scipy M4 fit."""
    df = bs.datasets.heldout("revisiting_lang")
    bb = df[df["Domain"] == "BB"]
    train, held_out = bb[bb["Training"] == 1], bb[bb["Training"] == 0]
    table, seconds = {}, {}
    for method in methods:
        for law, options in M4_LAWS:
            label = f"{law}{' ' + options['likelihood'] if options else ''} ({method})"
            with Timer() as t, warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.FitWarning)
                ev = bs.evaluate(bb, {law: options}, x=X, y=Y, group="curve", method=method, discrepancy=None, seed=0)
            table[label] = ev.curves.set_index("curve")["rmsle"]
            seconds[label] = t.seconds
    with Timer() as t:
        scipy_scores = {}
        for curve, g in train.groupby("curve"):
            params = fit_m4(g[X].to_numpy(), g[Y].to_numpy())
            h = held_out[held_out["curve"] == curve]
            scipy_scores[curve] = rmsle(m4_predict(params, h[X].to_numpy()), h[Y].to_numpy())
    table["M4 (scipy multi-start)"], seconds["M4 (scipy multi-start)"] = pd.Series(scipy_scores), t.seconds
    scores = pd.DataFrame(table)
    print(scores.round(4).to_string())
    summary = pd.DataFrame({"mean RMSLE": scores.mean(), "median RMSLE": scores.median(), "seconds": pd.Series(seconds)})
    print(summary.round(4).to_string())


# published Chinchilla-type fits L = E + A/N^alpha + B/D^beta (the presets' own centres)
PUBLISHED = {
    "Hoffmann et al. 2022 (approach 3)": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    "Besiroglu et al. 2024 (Epoch AI)": {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658},
    "Muennighoff et al. 2023 (C4)": {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353},
}
FEW_RUN_N = np.array([2e7, 2e7, 1e8, 1e8])
FEW_RUN_D = np.array([4e8, 4e9, 4e8, 4e9])
REPLICATES, NOISE = 3, 0.01


def few_runs(truth: dict, seed: int) -> pd.DataFrame:
    """4 small runs (2 sizes x 2 token counts) from ``truth``, ``REPLICATES`` noisy copies as separate curves."""
    law = bs.laws.get("chinchilla")
    rng = np.random.default_rng(seed)
    mean = np.asarray(law(truth, {"N": FEW_RUN_N, "D": FEW_RUN_D}))
    return pd.concat(
        pd.DataFrame({"run": r, "N": FEW_RUN_N, "D": FEW_RUN_D, "loss": mean * np.exp(NOISE * rng.standard_normal(4))})
        for r in range(REPLICATES)
    )


def hundredfold_target() -> dict:
    """The compute-optimal run (20 tokens per parameter) at 100x the largest run's compute."""
    n = np.sqrt(100 * (6 * FEW_RUN_N * FEW_RUN_D).max() / (6 * 20))
    return {"N": np.array([n]), "D": np.array([20 * n])}


def part_presets() -> None:
    target = hundredfold_target()
    law = bs.laws.get("chinchilla")
    settings = dict(group="run", chains=4, draws=500, warmup=500, seed=1)
    rows = []
    for i, (source, truth) in enumerate(PUBLISHED.items()):
        df = few_runs(truth, seed=i)
        true_loss = float(law(truth, target)[0])
        for priors in (None, "hoffmann2022", "epoch2024", "muennighoff2023"):
            with Timer() as t, warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.FitWarning)
                band = bs.fit(df, "chinchilla", priors=priors, **settings).predict(target)
            covered = (band["lower"] <= true_loss) & (true_loss <= band["upper"])
            rows.append({"truth": source, "priors": priors or "default", "covers": f"{covered.sum()}/{len(band)}",
                         "median width": float((band["upper"] - band["lower"]).median()),
                         "miss (worst, in loss)": float(np.maximum(band["lower"] - true_loss, true_loss - band["upper"]).max()),
                         "seconds": t.seconds})
    table = pd.DataFrame(rows)
    default_width = table[table["priors"] == "default"].set_index("truth")["median width"]
    table["width / default"] = table["median width"] / table["truth"].map(default_width)
    print(f"truth loss at N = {target['N'][0]:.3g}, D = {target['D'][0]:.3g} (100x the largest run's compute)")
    print(table.round(3).to_string(index=False))


FIRST_POINTS = 5
CURVE_SETTINGS = dict(method="laplace", seed=0)  # both arms, the corpus fits and the held-out curve's


def learned_priors(corpus: pd.DataFrame, law: str = "power_law") -> bs.priors.PopulationPrior:
    """``bs.priors.from_curves`` on a corpus of revisiting_lang curves (one batched Laplace fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        return bs.priors.from_curves(corpus, law, group="curve", x=X, y=Y, **CURVE_SETTINGS)


def first_points(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each curve's first ``FIRST_POINTS`` points (by x) to fit, the rest to score."""
    df = df.sort_values(["curve", X])
    rank = df.groupby("curve").cumcount()
    return df[rank < FIRST_POINTS], df[rank >= FIRST_POINTS]


def part_curves(domains: list[str], law: str = "power_law") -> None:
    """Leave one curve out, per domain: priors from the other curves vs the defaults, 5 points fitted."""
    df = bs.datasets.load("revisiting_lang")
    df = df[df["Domain"].isin(domains)]
    fit_part, score_part = first_points(df)
    with Timer() as t, warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.FitWarning)
        default = score_fit(bs.fit(fit_part, law, x=X, y=Y, group="curve", **CURVE_SETTINGS), score_part)
    print(f"default priors, all {df['curve'].nunique()} curves in one fit: {t.seconds:.0f} s")
    rows = []
    for domain, corpus in df.groupby("Domain"):
        for curve in sorted(corpus["curve"].unique()):
            x_new = score_part.loc[score_part["curve"] == curve, X].to_numpy()
            truth = score_part.loc[score_part["curve"] == curve, Y].to_numpy()
            row = {"domain": domain, "curve": curve, "held-out points": len(truth), "default": default[curve]}
            with Timer() as t:
                priors = learned_priors(corpus[corpus["curve"] != curve], law)
                # the joint prior, then its marginals alone (dict() drops the joint): what the correlations add
                for arm, spec in (("from_curves", priors), ("marginals only", dict(priors))):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", bs.FitWarning)
                        fit = bs.fit(fit_part[fit_part["curve"] == curve], law, x=X, y=Y, priors=spec, **CURVE_SETTINGS)
                    row[arm] = rmsle(fit.predict({"x": x_new})["median"].to_numpy(), truth)
            rows.append({**row, "seconds": t.seconds})
            print(rows[-1], flush=True)
    arms = ["default", "from_curves", "marginals only"]
    table = pd.DataFrame(rows)
    print(table.round(4).to_string(index=False))
    print(table.groupby("domain")[arms].mean().round(4).to_string())
    print("all curves:", table[arms].mean().round(4).to_dict(),
          "from_curves better than default on", int((table["from_curves"] < table["default"]).sum()), "of", len(table))
    for domain, corpus in df.groupby("Domain"):
        priors = learned_priors(corpus, law)
        print(domain, f"df {priors.joint.df:g}", bs.priors.table(law, priors).to_string(), priors.correlation().round(2).to_string(), sep="\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("m4", "presets", "curves"), required=True)
    ap.add_argument("--methods", nargs="+", default=["laplace", "map"],
                    help="engines of --part m4 (default: laplace, bs.evaluate's default, and map)")
    ap.add_argument("--domains", nargs="+", default=["BB", "LM", "NMT"], help="revisiting_lang domains of --part curves")
    args = ap.parse_args()
    print(environment())
    if args.part == "curves":
        part_curves(args.domains)
    elif args.part == "m4":
        part_m4(args.methods)
    else:
        part_presets()


if __name__ == "__main__":
    main()
