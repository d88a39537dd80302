"""Held-out extrapolation on real curves: accuracy, calibration and proper scores of the forecasts, with and
without the model discrepancy.

    python benchmarks/bench_heldout.py                      # auto (bs.evaluate's default), every split
    python benchmarks/bench_heldout.py --methods laplace    # the Laplace approximation (the learned discrepancy's)
    python benchmarks/bench_heldout.py --methods nuts       # the sampler (slow)
    python benchmarks/bench_heldout.py --splits-only --compare 0.2/1/0   # and the scales rate/spread/floor
    python benchmarks/bench_heldout.py --splits-only --learn 0.5 inf     # and the rate learned from each set's own
                                                                         # curves (self_discrepancy.py), per tau

1. The bundled held-out splits (``bs.datasets.heldout``) with their default law: ``revisiting_lang`` (the 20
   language curves of Alabdulmohsin et al. 2022, fitted on ``Training == 1``, scored on ``Training == 0``;
   ``power_law``), ``chinchilla`` (the 23 largest-compute runs held out), ``datablations`` (the 26 longest
   runs; ``data_constrained``) and ``bnsl_addition``; each with the law alone (``discrepancy=None``) and with
   the default discrepancy (learned by ``benchmarks/learn_discrepancy.py``, on Laplace fits and again on auto
   fits, which leave it unchanged).
2. Per set: RMSLE of the median, coverage, MSCE, log score of log y, CRPS of log y, interval scores (as shares
   of the loss), mean relative 90% width and width / RMSLE; pooled over the held-out points of the first three
   sets: 90% coverage, log score and 90% interval score.
3. ``revisiting_lang`` with ``m4`` and the stack of ``power_law`` and ``m4``.

With ``--learn TAU ...`` each set's fit also learns its own rate from its curves' internal held-out structure
(`self_discrepancy.learn_discrepancy`: the lower ``--share`` of each curve's
span fitted again, its upper part forecast, the rate maximizing that log score plus a log-normal hyperprior of
sd ``TAU`` centred at the default's rate); one internal refit per set serves every ``TAU``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale._src.analysis.evaluate import Evaluation, score
from self_discrepancy import SHARE, learn_discrepancy, rate_log_prior
from common import environment

SPLITS = ("revisiting_lang", "chinchilla", "datablations", "bnsl_addition")
POOLED = ("revisiting_lang", "chinchilla", "datablations")
COLUMNS = ["curves", "rmsle", "coverage_50", "coverage_90", "msce", "log_score", "crps", "interval_50",
           "interval_80", "interval_90", "interval_95", "width_90", "width_rmsle"]
SETTINGS = {"none": None, "default": "default"}


def rescore(ev: Evaluation, heldout: pd.DataFrame, prior, by=None) -> Evaluation:
    """The same fits scored again with another discrepancy setting (no refit)."""
    curves, points, calibration = score(ev.fits, heldout, weights=ev.weights, discrepancy=prior, by=by)
    return Evaluation(curves, points, calibration, ev.fits, ev.weights, ev.seconds)


def choose(learned, tau: float) -> bs.Discrepancy:
    """The learned rate under hyperprior sd ``tau``, from the internal log scores of every candidate."""
    table = learned.scores
    if table.empty:
        return learned.discrepancy
    objective = table["log_score"] + rate_log_prior(table["rate"], bs.Discrepancy().rate, tau)
    return learned.discrepancy._replace(rate=float(table.loc[objective.idxmax(), "rate"]))


def pooled(evaluations: dict[str, Evaluation]) -> dict:
    points = pd.concat([ev.points for ev in evaluations.values()])
    return {"points": len(points), "coverage_90": float((np.abs(points["pit"] - 0.5) <= 0.45).mean()),
            "log_score": float(points["log_score"].mean()), "interval_90": float(points["interval_90"].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["auto"])
    parser.add_argument("--compare", nargs="+", default=[], metavar="RATE/SPREAD/FLOOR",
                        help="other discrepancy scales scored on the same fits, e.g. 0.2/1/0")
    parser.add_argument("--learn", nargs="+", default=[], type=float, metavar="TAU",
                        help="also the rate learned from each set's own curves, with hyperprior sd TAU (inf: none)")
    parser.add_argument("--share", type=float, nargs="+", default=[SHARE],
                        help=f"with --learn: the share(s) of each curve's span fitted again, each an origin whose "
                             f"internal log score is averaged (default {SHARE})")
    parser.add_argument("--splits-only", action="store_true",
                        help="only the bundled splits (not revisiting_lang's m4 and stack)")
    args = parser.parse_args()
    settings = dict(SETTINGS)
    for text in args.compare:
        settings[text] = bs.Discrepancy(*(float(v) for v in text.split("/")))
    for tau in args.learn:
        settings[f"learned tau={tau:g}"] = None  # set per split below
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(environment())
    for method in args.methods:
        print(f"\n===== method={method}")
        rows, scored = [], {s: {} for s in settings}
        for name in SPLITS:
            df = bs.datasets.heldout(name)
            opts = dict(df.attrs["evaluate"])
            start = time.perf_counter()
            ev = bs.evaluate(df, method=method, discrepancy=None, **opts)
            seconds = time.perf_counter() - start
            held = df[df["Training"] == 0]
            own = dict(settings)
            if args.learn:
                start = time.perf_counter()
                learned = learn_discrepancy(next(iter(ev.fits.values())), share=tuple(args.share), rate_sd=np.inf)
                print(f"{name}: {learned.curves} curve(s), {learned.points} internal held-out points, internal "
                      f"log score by rate ({time.perf_counter() - start:.0f} s): " + ", ".join(
                          f"{r:.3g}: {v:.3f}" for r, v in zip(learned.scores["rate"], learned.scores["log_score"])),
                      flush=True)
                for tau in args.learn:
                    own[f"learned tau={tau:g}"] = choose(learned, tau)
                    print(f"  tau={tau:g}: rate {own[f'learned tau={tau:g}'].rate:.3g}")
            for setting, prior in own.items():
                out = rescore(ev, held, prior)
                scored[setting][name] = out
                table = out.summary()
                table.insert(0, "set", f"{name} ({opts['law']})")
                table.insert(1, "discrepancy", setting)
                table["fit_seconds"] = seconds
                rows.append(table)
        print(pd.concat(rows, ignore_index=True)[["set", "discrepancy", *COLUMNS, "fit_seconds"]]
              .round(4).to_string(index=False))
        print("\npooled over the held-out points of", ", ".join(POOLED))
        print(pd.DataFrame({s: pooled({k: scored[s][k] for k in POOLED}) for s in settings}).T.round(4).to_string())
        if args.splits_only:
            continue

        print("\nrevisiting_lang by domain, power_law / m4 / their stack:")
        lang = bs.datasets.heldout("revisiting_lang")
        opts = dict(lang.attrs["evaluate"])
        opts.pop("law")
        rows = []
        for law in ("power_law", "m4", ("power_law", "m4")):
            ev = bs.evaluate(lang, list(law) if isinstance(law, tuple) else law, method=method, discrepancy=None,
                             by="Domain", **opts)
            for setting, prior in settings.items():
                table = rescore(ev, lang[lang["Training"] == 0], prior, by="Domain").summary(by="Domain")
                table.insert(0, "law", "+".join(law) if isinstance(law, tuple) else law)
                table.insert(1, "discrepancy", setting)
                rows.append(table)
        print(pd.concat(rows, ignore_index=True)[["law", "discrepancy", "Domain", *COLUMNS]].round(4)
              .to_string(index=False))


if __name__ == "__main__":
    main()
