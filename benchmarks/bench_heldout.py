"""Held-out extrapolation on real curves: accuracy and calibration of the forecasts, with and without the
model discrepancy (issue 14, items 1 and 3).

    python benchmarks/bench_heldout.py                      # Laplace (bs.evaluate's default), every split
    python benchmarks/bench_heldout.py --methods nuts       # the sampler (slow)

1. ``revisiting_lang`` (Alabdulmohsin et al. 2022): the 20 language curves, fitted on ``Training == 1``
   and scored on ``Training == 0``, with ``power_law``, ``m4`` (default likelihoods) and their stacked mixture.
2. The discrepancy rate is CALIBRATED on revisiting_lang only (the rate on a grid that minimizes the mean
   over the three domains of the domain MSCE), and checked (a) leave-one-domain-out inside revisiting_lang
   and (b) on held-out splits that were not used: the 23 largest-compute Chinchilla runs and the 26
   longest datablations runs (``bs.datasets.heldout``).
3. Time per curve: the first call (compiles included) and a second, warm call of fit + scoring.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale._src.evaluate import MSCE_LEVELS, Evaluation, _stacking_weights, score
from common import environment

RATES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0)
LAWS = {"power_law": {}, "m4": {}}  # each with its default likelihood (m4: Gaussian on log loss)
SPLITS = ("chinchilla", "datablations", "bnsl_addition")


def rescore(ev: Evaluation, heldout: pd.DataFrame, fits, weights, rate: float | None, by=None) -> Evaluation:
    """The same fits scored again with another discrepancy (no refit)."""
    prior = None if rate is None else bs.Discrepancy(rate=rate)
    curves, points, calibration = score(fits, heldout, weights=weights, discrepancy=prior, by=by)
    return Evaluation(curves, points, calibration, dict(fits), weights, ev.seconds)


def domain_msce(ev: Evaluation) -> float:
    """Mean over domains of the domain's MSCE (each domain counts once)."""
    return float(ev.summary(by="Domain")["msce"].mean())


def calibrate(ev, heldout, fits, weights, domains=None) -> float:
    """The rate of RATES with the smallest mean domain MSCE, on the curves of ``domains`` (all by default)."""
    keep = heldout if domains is None else heldout[heldout["Domain"].isin(domains)]
    scores = {r: domain_msce(rescore(ev, keep, fits, weights, r, by="Domain")) for r in RATES}
    return min(scores, key=scores.get), scores


def settings(rate: float) -> list[tuple[str, float | None]]:
    """The discrepancy settings compared: none, the default, and the rate calibrated here if it differs."""
    default = bs.Discrepancy().rate
    out = [("none", None), (f"default {default:g}", default)]
    return out + ([(f"calibrated {rate:g}", rate)] if rate != default else [])


def row(label, ev, by=None):
    table = ev.summary(by=by)
    table.insert(0, "setting", label)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["laplace"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    lang = bs.datasets.heldout("revisiting_lang")
    heldout = lang[lang["Training"] == 0]
    common = dict(x="Seen Examples", y="Loss", group="curve", by="Domain")
    for method in args.methods:
        print(f"\n===== method={method}")
        evaluations, times = {}, {}
        for law, options in LAWS.items():
            start = time.perf_counter()
            ev = bs.evaluate(lang, law, method=method, discrepancy=None, **common, **options)
            first = time.perf_counter() - start
            start = time.perf_counter()
            ev = bs.evaluate(lang, law, method=method, discrepancy=None, **common, **options)
            warm = time.perf_counter() - start
            evaluations[law] = ev
            times[law] = (first / len(ev.curves), warm / len(ev.curves))
            print(f"{law}: first call {first:.1f} s ({times[law][0]:.2f} s/curve), warm {warm:.2f} s "
                  f"({1000 * times[law][1]:.0f} ms/curve; fit {ev.seconds['fit']:.2f} s, score {ev.seconds['score']:.2f} s)")
        fits = {law: ev.fits[law] for law, ev in evaluations.items()}
        weights = _stacking_weights(fits)
        print("stacking weights:", weights.round(3).to_dict())
        base = evaluations["power_law"]
        rate, grid = calibrate(base, heldout, fits={"power_law": fits["power_law"]}, weights=None)
        print("calibration on revisiting_lang (power_law), mean domain MSCE by rate:",
              {k: round(v, 4) for k, v in grid.items()}, "-> rate", rate)
        rows = []
        for law in LAWS:
            for label, r in settings(rate):
                ev = rescore(base, heldout, {law: fits[law]}, None, r, by="Domain")
                rows.append(row(f"{law} / {label}", ev, by="Domain"))
        for label, r in (("none", None), (f"default {bs.Discrepancy().rate:g}", bs.Discrepancy().rate)):
            ev = rescore(base, heldout, fits, weights, r, by="Domain")
            rows.append(row(f"stack / {label}", ev, by="Domain"))
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))

        print("\nleave-one-domain-out (rate calibrated on the other two domains; power_law):")
        rows = []
        for domain in ("BB", "LM", "NMT"):
            others = [d for d in ("BB", "LM", "NMT") if d != domain]
            r, _ = calibrate(base, heldout, {"power_law": fits["power_law"]}, None, domains=others)
            ev = rescore(base, heldout[heldout["Domain"] == domain], {"power_law": fits["power_law"]}, None, r,
                         by="Domain")
            rows.append(row(f"{domain} (rate {r:g})", ev, by="Domain"))
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))

        print("\nsplits not used for the calibration:")
        rows = []
        for name in SPLITS:
            df = bs.datasets.heldout(name)
            start = time.perf_counter()
            ev = bs.evaluate(df, method=method, discrepancy=None, **df.attrs["evaluate"])
            seconds = time.perf_counter() - start
            held = df[df["Training"] == 0]
            for label, r in settings(rate):
                scored = rescore(ev, held, ev.fits, ev.weights, r)
                table = row(f"{name} ({df.attrs['evaluate']['law']}) / {label}", scored)
                table["seconds"] = seconds
                rows.append(table)
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))
    print(f"\nMSCE levels: {MSCE_LEVELS[0]:.2f} .. {MSCE_LEVELS[-1]:.2f} ({len(MSCE_LEVELS)} levels)")


if __name__ == "__main__":
    main()
