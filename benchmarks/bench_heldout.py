"""Held-out extrapolation on real curves: accuracy and calibration of the forecasts, with and without the
model discrepancy (issue 14, items 1 and 3).

    python benchmarks/bench_heldout.py                      # Laplace (bs.evaluate's default), every split
    python benchmarks/bench_heldout.py --methods nuts       # the sampler (slow)

1. ``revisiting_lang`` (Alabdulmohsin et al. 2022): the 20 language curves, fitted on ``Training == 1``
   and scored on ``Training == 0``, with ``power_law``, ``m4`` (default likelihoods) and their stacked mixture.
2. The discrepancy prior is CALIBRATED on revisiting_lang only (the rate and spread on a grid that minimize
   the mean over the three domains of the domain MSCE), and checked (a) leave-one-domain-out inside revisiting_lang
   and (b) on held-out splits that were not used: the 23 largest-compute Chinchilla runs and the 26
   longest datablations runs (``bs.datasets.heldout``).
3. Time per curve: the first call (compiles included) and a second, warm call of fit + scoring.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

import bayescale as bs
from bayescale._src.analysis.evaluate import MSCE_LEVELS, Evaluation, _stacking_weights, score
from common import environment

RATES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 16.0, 24.0)
# the spread of log r between curves: 0 is one Gaussian slope per draw, larger is a heavier-tailed scale mixture
SPREADS = (0.0, 0.25, 0.5, 0.75, 1.0)
LAWS = {"power_law": {}, "m4": {}}  # each with its default likelihood (m4: Gaussian on log loss)
SPLITS = ("chinchilla", "datablations", "bnsl_addition")


def rescore(ev: Evaluation, heldout: pd.DataFrame, fits, weights, prior: bs.Discrepancy | None, by=None) -> Evaluation:
    """The same fits scored again with another discrepancy prior (no refit)."""
    curves, points, calibration = score(fits, heldout, weights=weights, discrepancy=prior, by=by)
    return Evaluation(curves, points, calibration, dict(fits), weights, ev.seconds)


def domain_msce(ev: Evaluation) -> float:
    """Mean over domains of the domain's MSCE (each domain counts once)."""
    return float(ev.summary(by="Domain")["msce"].mean())


def calibrate(ev, heldout, fits, weights, domains=None) -> tuple[bs.Discrepancy, dict]:
    """The prior of the grid RATES x SPREADS with the smallest mean domain MSCE, on the curves of ``domains``
    (all by default), and every grid point's score."""
    keep = heldout if domains is None else heldout[heldout["Domain"].isin(domains)]
    grid = [bs.Discrepancy(rate=r, spread=s) for s in SPREADS for r in RATES if r > 0 or s == SPREADS[0]]
    scores = {prior: domain_msce(rescore(ev, keep, fits, weights, prior, by="Domain")) for prior in grid}
    return min(scores, key=scores.get), scores


def label(prior: bs.Discrepancy | None) -> str:
    return "none" if prior is None else f"rate {prior.rate:g} spread {prior.spread:g}"


def settings(calibrated: bs.Discrepancy) -> list[tuple[str, bs.Discrepancy | None]]:
    """The discrepancy settings compared: none, the default, and the prior calibrated here if it differs."""
    default = bs.Discrepancy()
    out = [("none", None), (f"default ({label(default)})", default)]
    return out + ([(f"calibrated ({label(calibrated)})", calibrated)] if calibrated != default else [])


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
        calibrated, grid = calibrate(base, heldout, fits={"power_law": fits["power_law"]}, weights=None)
        table = pd.Series({(p.spread, p.rate): v for p, v in grid.items()}).unstack()
        table.index.name, table.columns.name = "spread", "rate"
        print("calibration on revisiting_lang (power_law), mean domain MSCE by discrepancy prior:")
        print(table.round(4).to_string(), "\n->", label(calibrated))
        rows = []
        for law in LAWS:
            for name, prior in settings(calibrated):
                ev = rescore(base, heldout, {law: fits[law]}, None, prior, by="Domain")
                rows.append(row(f"{law} / {name}", ev, by="Domain"))
        for name, prior in settings(calibrated)[:2]:
            ev = rescore(base, heldout, fits, weights, prior, by="Domain")
            rows.append(row(f"stack / {name}", ev, by="Domain"))
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))

        print("\nleave-one-domain-out (rate calibrated on the other two domains; power_law):")
        rows = []
        for domain in ("BB", "LM", "NMT"):
            others = [d for d in ("BB", "LM", "NMT") if d != domain]
            prior, _ = calibrate(base, heldout, {"power_law": fits["power_law"]}, None, domains=others)
            ev = rescore(base, heldout[heldout["Domain"] == domain], {"power_law": fits["power_law"]}, None, prior,
                         by="Domain")
            rows.append(row(f"{domain} ({label(prior)})", ev, by="Domain"))
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))

        print("\nsplits not used for the calibration:")
        rows = []
        for name in SPLITS:
            df = bs.datasets.heldout(name)
            start = time.perf_counter()
            ev = bs.evaluate(df, method=method, discrepancy=None, **df.attrs["evaluate"])
            seconds = time.perf_counter() - start
            held = df[df["Training"] == 0]
            for setting, prior in settings(calibrated):
                scored = rescore(ev, held, ev.fits, ev.weights, prior)
                table = row(f"{name} ({df.attrs['evaluate']['law']}) / {setting}", scored)
                table["seconds"] = seconds
                rows.append(table)
        print(pd.concat(rows, ignore_index=True).round(4).to_string(index=False))
    print(f"\nMSCE levels: {MSCE_LEVELS[0]:.2f} .. {MSCE_LEVELS[-1]:.2f} ({len(MSCE_LEVELS)} levels)")


if __name__ == "__main__":
    main()
