"""Stacking one-input laws on held-out curves: does a stack of a few laws forecast better than one law?

    python benchmarks/bench_stacking.py --cache .jax_cache/stacking.pkl   # about 15 minutes here; a rerun only prints
    python benchmarks/bench_stacking.py --cache .jax_cache/equal.pkl --equal power_law m4 log_power   # equal weights

Every one-input held-out split: ``revisiting_lang`` (the 20 language curves of Alabdulmohsin et al. 2022, the
benchmark's own split), ``revisiting_lang_half`` and ``revisiting_lang_quarter`` (each curve fitted on the lower
half / quarter, in log x, of its fitting points and scored on all the rest; as in ``learn_discrepancy.py``) and
``bnsl_addition`` (one curve, 3 held-out points; its losses are above 1, where ``m4`` does not apply).

1. Each candidate law is fitted once per split (``bs.evaluate``'s defaults: Laplace, the default discrepancy).
2. Every single law and every stack of 2 or 3 laws of a shortlist is scored from those fits with the stacking
   weights of ``bs.stack`` (PSIS-LOO stacking over all curves of the split, as ``bs.evaluate`` computes them):
   coverage, set MSCE, log score, CRPS, 90% interval score, 90% width / RMSLE.
3. A leave-one-domain-out choice over the language curves (BB, LM, NMT; a domain's score is the mean of its
   three splits): for each domain, the family with the best mean log score on the other two is chosen and scored
   on the left-out one. A family with a NaN score on some set is left out of the choice.
4. ``--equal LAW ...``: only these laws, and their pairs with equal weights (not the stacking weights).

A curve whose forecast is not finite at some held-out point is not scored: ``score`` warns naming it and gives it
NaN scores, the set tables count such curves (``unscored``) and leave them out of their means, and the last table
counts such points.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd
from common import environment

import bayescale as bs
from bayescale._src.analysis.evaluate import MSCE_LEVELS, score

CANDIDATES = ("power_law", "m4", "bnsl", "pow3", "pow4", "mmf", "log_power", "m3")
SHORTLIST = ("power_law", "m4", "bnsl", "pow4", "mmf", "log_power")
COLUMNS = ["curves", "unscored", "rmsle", "coverage_50", "coverage_90", "msce", "log_score", "crps", "interval_90",
           "width_90", "width_rmsle"]


def _lower(table: pd.DataFrame, share: float) -> pd.DataFrame:
    """``table`` with ``Training`` kept only on the lowest ``share`` (in log x) of each curve's fitting rows."""
    out = table.copy()
    logx = np.log10(out["Seen Examples"])
    fitted = out["Training"] == 1
    lo = logx[fitted].groupby(out["curve"]).transform("min").reindex(out.index)
    hi = logx[fitted].groupby(out["curve"]).transform("max").reindex(out.index)
    out["Training"] = (fitted & (logx <= lo + share * (hi - lo))).astype(int)
    return out


def splits() -> dict[str, tuple[pd.DataFrame, dict, str | None]]:
    lang = bs.datasets.heldout("revisiting_lang")
    opts = {k: v for k, v in lang.attrs["evaluate"].items() if k != "law"}
    bnsl = bs.datasets.heldout("bnsl_addition")
    return {"revisiting_lang": (lang, opts, "Domain"),
            "revisiting_lang_half": (_lower(lang, 0.5), opts, "Domain"),
            "revisiting_lang_quarter": (_lower(lang, 0.25), opts, "Domain"),
            "bnsl_addition": (bnsl, {k: v for k, v in bnsl.attrs["evaluate"].items() if k != "law"}, None)}


def families(fitted: set[str]) -> list[tuple[str, ...]]:
    singles = [(law,) for law in CANDIDATES if law in fitted]
    short = [law for law in SHORTLIST if law in fitted]
    if EQUAL:
        return [f for f in itertools.combinations(short, 2)]
    return singles + list(itertools.combinations(short, 2)) + list(itertools.combinations(short, 3))


def stacking_weights(loos: dict) -> pd.Series:
    """``bs.stack``'s weights (``arviz.compare(method="stacking")`` on each fit's PSIS-LOO, clipped at 0 and
    normalized) from PSIS-LOO computed once per fit."""
    if len(loos) == 1:
        return pd.Series({next(iter(loos)): 1.0}, name="weight")
    weights = az.compare(loos, ic="loo", method="stacking")["weight"].astype(float).clip(lower=0.0)
    return (weights / weights.sum()).loc[list(loos)].rename("weight")


def set_rows(curves: pd.DataFrame, calibration: pd.DataFrame, points: pd.DataFrame, keys) -> pd.DataFrame:
    """Scores of each set of curves (``keys`` labels the curves), as ``Evaluation.summary``, plus pooled points."""
    proper = ["rmsle", "coverage_50", "coverage_90", "log_score", "crps", "interval_90", "width_90"]
    grouped = curves.groupby(keys, sort=True)
    out = grouped[proper].mean()
    out.insert(0, "curves", grouped.size())
    out.insert(1, "unscored", curves["rmsle"].isna().groupby(keys, sort=True).sum().astype(int))
    levels = np.asarray(MSCE_LEVELS)
    mean_coverage = calibration.set_index(curves.index).groupby(keys, sort=True).mean()
    out["msce"] = ((mean_coverage.to_numpy() - levels) ** 2).mean(axis=1)
    out["width_rmsle"] = out["width_90"] / out["rmsle"]
    out["points"] = grouped["points_heldout"].sum()
    return out


args_verbose = os.environ.get("BENCH_VERBOSE") == "1"
EQUAL = False  # --equal: pairs of the shortlist with equal weights beside the stacking weights


def run(cache: str | None) -> dict:
    if cache and os.path.exists(cache):
        with open(cache, "rb") as f:
            return pickle.load(f)
    results = {"sets": {}, "pooled": {}, "weights": {}, "seconds": {}}
    for name, (table, opts, by) in splits().items():
        held = table[table["Training"] == 0]
        fits, loos = {}, {}
        for law in CANDIDATES:
            start = time.perf_counter()
            try:
                ev = bs.evaluate(table, law, by=by, method="laplace", **opts)  # the engine of its README table
            except ValueError as err:
                print(f"{name} {law}: not fitted ({str(err)[:100]})", flush=True)
                continue
            fits[law] = ev.fits[law]
            loos[law] = az.loo(fits[law].idata, pointwise=True)
            results["seconds"][(name, law)] = time.perf_counter() - start
            print(f"{name} {law}: {results['seconds'][(name, law)]:.1f} s", flush=True)
        start = time.perf_counter()
        for family in families(set(fits)):
            chosen = {law: fits[law] for law in family}
            weights = stacking_weights({law: loos[law] for law in family})
            label = "+".join(family)
            if EQUAL:
                weights = pd.Series(1.0 / len(family), index=list(family), name="weight")
                label += " (equal)"
            curves, points, calibration = score(chosen, held, weights=weights, by=by)
            keys = curves[by].to_numpy() if by else np.zeros(len(curves), int)
            per = set_rows(curves, calibration, points, keys)
            per.index = [f"{name}/{k}" if by else name for k in per.index]
            whole = set_rows(curves, calibration, points, np.zeros(len(curves), int))
            whole.index = [name]
            results["sets"][label, name] = pd.concat([whole, per]) if by else whole
            results["pooled"][label, name] = points[["pit", "log_score", "interval_90", "crps"]]
            results["weights"][label, name] = weights
            if args_verbose:
                print(f"  {label}: {time.perf_counter() - start:.1f} s", flush=True)
        print(f"{name}: {len(families(set(fits)))} families scored in {time.perf_counter() - start:.1f} s", flush=True)
    if cache:
        with open(cache, "wb") as f:
            pickle.dump(results, f)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=None, help="pickle of the scores: read if present, else written")
    parser.add_argument("--equal", nargs="+", metavar="LAW", help="only these laws, their pairs with equal weights")
    args = parser.parse_args()
    global CANDIDATES, SHORTLIST, EQUAL
    if args.equal:
        CANDIDATES = SHORTLIST = tuple(args.equal)
        EQUAL = True
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30, "display.max_rows", 500)
    print(environment())
    results = run(args.cache)
    rows = []
    for (label, name), table in results["sets"].items():
        t = table.copy()
        t.insert(0, "family", label)
        t.insert(1, "set", t.index)
        weights = results["weights"][label, name]
        t["weights"] = "/".join(f"{w:.2f}" for w in weights.to_numpy()) if len(weights) > 1 else ""
        rows.append(t)
    table = pd.concat(rows, ignore_index=True)
    print("\nevery split (whole) and its domains; default discrepancy, stacking weights of bs.stack")
    for name in splits():
        part = table[table["set"] == name].sort_values("log_score", ascending=False)
        print(f"\n--- {name}")
        print(part[["family", *COLUMNS, "weights"]].round(4).to_string(index=False))

    # leave-one-domain-out over the language curves: a domain's score is the mean of its three splits; a family
    # with a NaN score anywhere (a law whose draws are not finite on some curve) is left out of the choice
    sets = table[table["set"].str.startswith("revisiting_lang") & table["set"].str.contains("/")].copy()
    sets["group"] = [s.split("/")[-1] for s in sets["set"]]
    failed = sorted(sets.loc[sets["log_score"].isna(), "family"].unique())
    if failed:
        print(f"\nfamilies with a NaN score on some set, left out of the choice: {', '.join(failed)}")
    mean = sets[~sets["family"].isin(failed)].groupby(["family", "group"])["log_score"].mean().unstack()
    mean["mean"] = mean.mean(axis=1)
    print("\nmean log score per language domain (the mean of its three splits)")
    print(mean.sort_values("mean", ascending=False).round(3).to_string())
    if "power_law" in mean.index:
        loso = []
        for left in ["BB", "LM", "NMT"]:
            others = [g for g in ["BB", "LM", "NMT"] if g != left]
            best = mean[others].mean(axis=1).idxmax()
            loso.append({"left out": left, "chosen on the others": best,
                         "its log score": round(float(mean.loc[best, left]), 3),
                         "power_law's": round(float(mean.loc["power_law", left]), 3),
                         "best on it": mean[left].idxmax(), "best score": round(float(mean[left].max()), 3)})
        print("\nleave-one-domain-out choice among the families")
        print(pd.DataFrame(loso).to_string(index=False))

    print("\npooled over the held-out points of each split (coverage, log score, IS90 of the points)")
    pooled = []
    for (label, name), pts in results["pooled"].items():
        pooled.append({"family": label, "split": name, "points": len(pts),
                       "not finite": int(pts["log_score"].isna().sum()),
                       "coverage_90": float((np.abs(pts["pit"] - 0.5) <= 0.45).mean()),
                       "log_score": float(pts["log_score"].mean()), "interval_90": float(pts["interval_90"].mean())})
    pooled = pd.DataFrame(pooled)
    print(pooled.sort_values(["split", "log_score"], ascending=[True, False]).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
