"""Priors and M4 on real curves: literature presets, priors learned from curves, M4 against point fits.

Parts (``--part``):

- ``m4``: the 10 BIG-Bench curves of ``revisiting_lang`` (error-like metrics in
  (0, 1)), fitted on ``Training == 1`` and scored on ``Training == 0``, the
  protocol of Alabdulmohsin, Neyshabur and Zhai 2022 (arXiv:2209.06640).
  ``m4`` and ``power_law`` with their defaults (priors; likelihood: Gaussian on log loss for
  ``m4``, Student-t on log loss for ``power_law``), and ``m4`` with its exponent ``alpha``
  partially pooled across the 10 curves (``pooling="partial"``), under each of ``--methods`` (Laplace, the
  default of ``bs.evaluate``, MAP, and NUTS short: 2 chains x (300 + 300)), against a scipy
  multi-start least-squares point fit of M4 (:mod:`m4_point_fit`) with the paper's
  data-dependent bounds and with M4's own support. RMSLE per curve is
  ``sqrt(mean((log y_hat - log y)^2))`` over its held-out points, ``y_hat`` the posterior
  median of the law (the point fit's value for scipy); the summary gives the mean and median
  over curves. Then why they differ: per curve, the Gaussian log likelihood (noise profiled
  out) of the m4 MAP point and of the scipy fits, and the profile likelihood, with the held-out
  RMSLE along it, of the parameter where the fits part on the curves scipy wins.
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
    python benchmarks/bench_priors.py --part ship      # writes bayescale/priors/data/revisiting_*.json

- ``ship``: learns the population priors that bayescale ships (``bs.priors.used()``), one per
  domain, from every curve of the domain with the settings of ``curves``, and writes them with their
  recipe (``bayescale.priors.population.relearn`` rebuilds each from it; the statistical tier checks that).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from common import Timer, environment
from m4_point_fit import fit_m4, m4_predict, profile, rmsle

import bayescale as bs

X, Y = "Seen Examples", "Loss"


# each law with its defaults (m4: Gaussian on log loss; power_law: Student-t on log loss), and m4 with the
# curves' exponents alpha partially pooled (bs.fit's pooling="partial"): a ridge one curve cannot resolve is
# resolved by the population of the benchmark's curves
M4_ARMS = (("power_law", "power_law", {}), ("m4", "m4", {}), ("m4 pooled", "m4", {"pooling": "partial"}))
# NUTS kept short so the 10 curves fit in a few minutes on 2 cores (the default is 4 x (1000 + 1000))
NUTS_SHORT = dict(chains=2, warmup=300, draws=300)
# the scipy baseline with the paper's bounds (E <= min y, E0 >= max y) and with M4's own support (0 <= E < E0 <= 1)
SCIPY_ARMS = {"M4 scipy, paper's bounds": True, "M4 scipy, M4's support": False}
# the curves where the scipy fit beats m4, and the parameter along which their likelihood is nearly flat
RIDGES = (("mult', '1-shot", "a", (0.3, 0.55, 1.0, 2.0, 3.0, 3.86)),
          ("unit', '1-shot", "E", (0.52, 0.53, 0.5367, 0.539, 0.541, 0.5425, 0.544)),
          ("unit', '2-shot", "E", (0.50, 0.51, 0.5189, 0.521, 0.5245, 0.527)))


def score_fit(fit, held_out: pd.DataFrame) -> pd.Series:
    """Per-curve RMSLE of the posterior median at the held-out inputs."""
    out = {}
    for curve, g in held_out.groupby("curve"):
        band = fit[curve].predict({"x": g[X].to_numpy()})
        out[curve] = rmsle(band["median"].to_numpy(), g[Y].to_numpy())
    return pd.Series(out)


def m4_params(fit, curve: str) -> np.ndarray:
    """A one-draw (MAP) ``m4`` fit's parameters in :mod:`m4_point_fit`'s order ``(E, E0, log A, alpha, a)``."""
    p = {k: float(fit[curve].draws(k).ravel()[0]) for k in ("E", "reach", "A", "alpha", "a")}
    return np.array([p["E"], p["E"] + (1 - p["E"]) * p["reach"], np.log(p["A"]), p["alpha"], p["a"]])


def bayes_arms(bb: pd.DataFrame, methods: list[str]) -> tuple[dict, dict, dict]:
    """Per-curve RMSLE (``bs.evaluate``) of each law under each engine, the seconds, and the m4 MAP fit."""
    table, seconds, m4_map = {}, {}, None
    for method in methods:
        for arm, law, options in M4_ARMS:
            label = f"{arm} {method}" + (" short" if method == "nuts" else "")
            with Timer() as t, warnings.catch_warnings():
                warnings.simplefilter("ignore", bs.FitWarning)
                ev = bs.evaluate(bb, {law: options}, x=X, y=Y, group="curve", method=method, discrepancy=None,
                                 seed=0, **(NUTS_SHORT if method == "nuts" else {}))
            table[label], seconds[label] = ev.curves.set_index("curve")["rmsle"], t.seconds
            if arm == "m4" and method == "map":
                m4_map = ev.fits[law]
    return table, seconds, m4_map


def part_m4(methods: list[str]) -> None:
    """m4 and power_law with their defaults under each engine, the scipy M4 fits, and why they differ."""
    df = bs.datasets.heldout("revisiting_lang")
    bb = df[df["Domain"] == "BB"]
    train, held_out = bb[bb["Training"] == 1], bb[bb["Training"] == 0]
    # the MAP fit is also the point whose likelihood is compared with the scipy fits'
    table, seconds, m4_map = bayes_arms(bb, methods if "map" in methods else [*methods, "map"])
    curves = {c: (g[X].to_numpy(), g[Y].to_numpy()) for c, g in train.groupby("curve")}
    new = {c: (g[X].to_numpy(), g[Y].to_numpy()) for c, g in held_out.groupby("curve")}
    fits = {}
    for label, paper_bounds in SCIPY_ARMS.items():
        with Timer() as t:
            fits[label] = {c: fit_m4(x, y, paper_bounds=paper_bounds) for c, (x, y) in curves.items()}
        table[label] = pd.Series({c: rmsle(m4_predict(p, new[c][0]), new[c][1]) for c, (p, _) in fits[label].items()})
        seconds[label] = t.seconds
    scores = pd.DataFrame(table)
    print(scores.round(4).to_string())
    summary = pd.DataFrame({"mean RMSLE": scores.mean(), "median RMSLE": scores.median(),
                            "m4 laplace at least as good on": scores.ge(scores["m4 laplace"], axis=0).sum(),
                            "seconds": pd.Series(seconds)})
    print(summary.round(4).to_string())
    # how far apart the fits are in likelihood: Gaussian on log loss, noise profiled out, n/2 log(SS/n)
    rows = []
    paper = next(iter(SCIPY_ARMS))
    for c, (x, y) in curves.items():
        ours, theirs = m4_params(m4_map, c), fits[paper][c][0]
        nll = {k: len(y) / 2 * np.log(np.mean((np.log(m4_predict(p, x)) - np.log(y)) ** 2))
               for k, p in (("m4 MAP", ours), *((lab, fits[lab][c][0]) for lab in SCIPY_ARMS))}
        best = min(nll.values())
        rows.append({"curve": c, **{f"delta_nll {k}": v - best for k, v in nll.items()},
                     "m4 MAP a": ours[4], "scipy paper a": theirs[4],
                     "m4 MAP E": ours[0], "scipy paper E": theirs[0], "min y": y.min()})
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    for pattern, name, values in RIDGES:
        c = next(k for k in curves if pattern in k)
        print(f"profile of {name} on {c} (M4's support):")
        print(profile(*curves[c], name, values, *new[c]).round(4).to_string(index=False))


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
        print(domain, f"df {priors.joint.df:g}", bs.priors.used(law, priors).to_string(), priors.correlation().round(2).to_string(), sep="\n")


SHIPPED = {"BB": "revisiting_bb", "LM": "revisiting_lm", "NMT": "revisiting_nmt"}


def part_ship(law: str = "power_law") -> None:
    """Learn and write the shipped population priors (see the module docstring)."""
    from pathlib import Path

    folder = Path(bs.priors.shipped.__file__).parent / "data"
    data = bs.datasets.load("revisiting_lang")
    for domain, name in SHIPPED.items():
        how = {"dataset": "revisiting_lang", "domain_column": "Domain", "domain": domain, "group": "curve",
               "x": X, "y": Y, "law": law, "settings": CURVE_SETTINGS,
               "curves": sorted(data.loc[data["Domain"] == domain, "curve"].unique().tolist()),
               "source": bs.datasets.citation("revisiting_lang")}
        with Timer() as t:
            priors = bs.priors.population.learn(how)
        path = bs.priors.save_population(priors, folder / f"{name}.json", **how)
        print(f"{name}: {len(how['curves'])} curves, {t.seconds:.1f} s -> {path}")
        print(bs.priors.used(law, priors).to_string(), priors.correlation().round(2).to_string(), sep="\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("m4", "presets", "curves", "ship"), required=True)
    ap.add_argument("--methods", nargs="+", default=["laplace", "map", "nuts"],
                    help="engines of --part m4 (default: laplace, bs.evaluate's default, map and a short nuts)")
    ap.add_argument("--domains", nargs="+", default=["BB", "LM", "NMT"], help="revisiting_lang domains of --part curves")
    args = ap.parse_args()
    print(environment())
    if args.part == "curves":
        part_curves(args.domains)
    elif args.part == "ship":
        part_ship()
    elif args.part == "m4":
        part_m4(args.methods)
    else:
        part_presets()


if __name__ == "__main__":
    main()
