"""Learn the default discrepancy scales (``bs.Discrepancy``) from held-out errors by empirical Bayes.

    python benchmarks/learn_discrepancy.py            # prints the corpus, the grid's scores and the learned default

The discrepancy (bayescale/_src/fit/discrepancy.py) distorts a draw of the law beyond the fitted data: the
reducible part's decline is raised to a power ``exp(eta)``, ``eta = rate exp(spread eps) z``, and the floor
moves by ``zeta = floor z'`` in logit of its share of the law's value at the edge of the data. Its three
scales are hyperparameters that the fitting data cannot inform (no point lies beyond its own range), so they
are chosen by type-II maximum likelihood on held-out data (empirical Bayes): the scales that maximize the
mean held-out log predictive density over a corpus of leave-the-largest-out splits of the bundled curves,

- ``revisiting_lang/<domain>`` (BB, LM, NMT): the bundled split of the 20 language curves of Alabdulmohsin et
  al. (2022), and ``revisiting_lang_half/<domain>``, each curve fitted on the lower half (in log x) of its
  fitting points and scored on all the rest;
- ``chinchilla``: the bundled split (the 23 largest-compute runs held out) and ``chinchilla_1e20``: runs of
  at most 1e20 FLOP fitted, the rest (up to 1.3e22) held out;
- ``datablations``: the bundled split (the 26 longest runs) and ``datablations_70``: the 70% smallest-compute
  runs fitted;
- ``bnsl_addition``: its bundled split (3 points past a break).

Each set counts once in the objective (a set's score is the mean over its curves of their mean log score), so
the 20 language curves do not outweigh the one-curve sets. Leave-one-set-out: for each family of sets (the
splits of one data set), the scales learned on the others and scored on it, the held-out check of the choice.
Fits are made once per split with the law-only bands and rescored for every grid point (the discrepancy
does not change the fit).
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale._src.analysis.evaluate import Evaluation, score
from common import environment

RATES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45)
SPREADS = (0.0, 0.5, 1.0)
FLOORS = (0.0, 0.1, 0.2, 0.4, 0.8)


def corpus() -> dict[str, tuple[pd.DataFrame, dict, str | None]]:
    """``{split name: (table with a Training column, evaluate options, by column or None)}``."""
    out = {}
    lang = bs.datasets.heldout("revisiting_lang")
    opts = dict(lang.attrs["evaluate"])
    out["revisiting_lang"] = (lang, opts, "Domain")
    half = lang.copy()
    logx = np.log10(half["Seen Examples"])
    fitted = half["Training"] == 1
    lo = logx[fitted].groupby(half["curve"]).transform("min")
    hi = logx[fitted].groupby(half["curve"]).transform("max")
    mid = (lo + hi) / 2
    half["Training"] = (fitted & (logx <= mid.reindex(half.index))).astype(int)
    out["revisiting_lang_half"] = (half, opts, "Domain")
    chin = bs.datasets.heldout("chinchilla")
    out["chinchilla"] = (chin, dict(chin.attrs["evaluate"]), None)
    out["chinchilla_1e20"] = (chin.assign(Training=(chin["C"] <= 1e20).astype(int)), dict(chin.attrs["evaluate"]), None)
    dat = bs.datasets.heldout("datablations")
    out["datablations"] = (dat, dict(dat.attrs["evaluate"]), None)
    compute = dat["params_N"] * dat["tokens_D"]
    out["datablations_70"] = (dat.assign(Training=(compute <= compute.quantile(0.7)).astype(int)),
                              dict(dat.attrs["evaluate"]), None)
    bnsl = bs.datasets.heldout("bnsl_addition")
    out["bnsl_addition"] = (bnsl, dict(bnsl.attrs["evaluate"]), None)
    return out


def family(split: str) -> str:
    """The data set a split (or a split's domain set) comes from, for leave-one-set-out."""
    for name in ("revisiting_lang", "chinchilla", "datablations", "bnsl_addition"):
        if split.startswith(name):
            return name
    raise ValueError(split)


def set_scores(ev: Evaluation, name: str, by: str | None) -> pd.DataFrame:
    """One row per set (a split, or a split's domain), with its name."""
    table = ev.summary(by=by)
    table.index = [name] if by is None else [f"{name}/{v}" for v in table[by]]
    return table


def fit_corpus(splits) -> dict[str, tuple[Evaluation, pd.DataFrame, str | None]]:
    out = {}
    for name, (table, opts, by) in splits.items():
        start = time.perf_counter()
        ev = bs.evaluate(table, discrepancy=None, by=by, **opts)
        print(f"  {name}: {len(ev.curves)} curve(s), {len(ev.points)} held-out points, "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        out[name] = (ev, table[table["Training"] == 0], by)
    return out


def rescore(fitted, prior) -> pd.DataFrame:
    """Every set's summary under the discrepancy ``prior`` (``None``: the law alone)."""
    rows = []
    for name, (ev, heldout, by) in fitted.items():
        curves, points, calibration = score(ev.fits, heldout, weights=ev.weights, discrepancy=prior, by=by)
        rows.append(set_scores(Evaluation(curves, points, calibration, ev.fits, ev.weights, ev.seconds), name, by))
    return pd.concat(rows)


def learn(grid_scores: dict, sets: list[str]) -> bs.Discrepancy:
    """The grid point with the best mean log score over ``sets`` (each counting once)."""
    return max(grid_scores, key=lambda p: grid_scores[p].loc[sets, "log_score"].mean())


def main() -> None:
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    print("fitting the corpus (law-only, Laplace):")
    fitted = fit_corpus(corpus())
    grid = [bs.Discrepancy(rate=r, spread=s, floor=f) for r, s, f in itertools.product(RATES, SPREADS, FLOORS)
            if not (r == 0 and s > 0)]
    start = time.perf_counter()
    scores = {p: rescore(fitted, p) for p in grid}
    print(f"scored {len(grid)} grid points in {time.perf_counter() - start:.0f} s")
    sets = list(next(iter(scores.values())).index)
    table = pd.DataFrame({(p.rate, p.spread, p.floor): {
        "log_score": s.loc[sets, "log_score"].mean(), "interval_90": s.loc[sets, "interval_90"].mean(),
        "coverage_90": s.loc[sets, "coverage_90"].mean(), "msce": s.loc[sets, "msce"].mean()}
        for p, s in scores.items()}).T
    table.index.names = ["rate", "spread", "floor"]
    print("\nmean over sets, by scales (best 15 by log score):")
    print(table.sort_values("log_score", ascending=False).head(15).round(4).to_string())
    best = learn(scores, sets)
    print(f"\nlearned on all sets: {best}")
    print(scores[best][["curves", "rmsle", "coverage_50", "coverage_90", "msce", "log_score", "crps",
                        "interval_90", "width_90", "width_rmsle"]].round(4).to_string())
    print("\nleave-one-data-set-out (scales learned on the other data sets, scored on this one):")
    rows = []
    for held in sorted({family(s) for s in sets}):
        train = [s for s in sets if family(s) != held]
        prior = learn(scores, train)
        for s in [s for s in sets if family(s) == held]:
            row = scores[prior].loc[s, ["coverage_90", "msce", "log_score", "interval_90", "width_rmsle"]]
            rows.append({"set": s, "learned": f"{prior.rate:g}/{prior.spread:g}/{prior.floor:g}", **row.to_dict(),
                         "log_score (all-sets scales)": scores[best].loc[s, "log_score"]})
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
