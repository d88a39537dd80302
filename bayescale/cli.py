"""Command-line interface: ``bayescale demo`` (more subcommands build on the same pieces)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEMO_BUDGETS = [1e21, 1e22, 1e23, 5.88e23, 1e24, 1e25]


class UserError(Exception):
    """A mistake in the command line or the input files: one line, no traceback."""


def demo(args: argparse.Namespace) -> None:
    import bayescale as bs
    from bayescale import plot

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    df = bs.datasets.load("chinchilla")
    print(f"Chinchilla (Hoffmann et al. 2022; Epoch AI extraction): {len(df)} runs")
    fit = bs.fit(df, law="chinchilla", method="nuts", seed=args.seed, chains=args.chains, draws=args.draws, warmup=args.warmup)
    print(f"\nNUTS, {args.chains} chains x {args.draws} draws ({time.perf_counter() - start:.1f} s)\n")
    summary = fit.summary()
    with _wide_pandas():
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    opt = bs.compute_optimal(fit, DEMO_BUDGETS)
    table = opt[["compute", "N_opt", "N_opt_lower", "N_opt_upper", "D_opt", "tokens_per_param",
                 "tokens_per_param_lower", "tokens_per_param_upper", "loss", "loss_lower", "loss_upper"]]
    print("\nCompute-optimal allocation (posterior median and 90% interval):\n")
    with _wide_pandas():
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    summary.to_csv(out / "summary.csv")
    opt.to_csv(out / "compute_optimal.csv", index=False)
    fig = plot.predictive(fit, extend=1e4)
    fig.savefig(out / "chinchilla_predictive.png", dpi=120, bbox_inches="tight")
    fig = plot.frontier(fit, DEMO_BUDGETS)
    fig.savefig(out / "chinchilla_frontier.png", dpi=120, bbox_inches="tight")
    fig = plot.prior_posterior(fit)
    fig.savefig(out / "chinchilla_prior_posterior.png", dpi=120, bbox_inches="tight")
    for msg in fit.problems:
        print(f"warning: {msg}")
    # many curves in one call: 16 simulated learning curves L = E + A x^-alpha, each with its own
    # exponent and noise, fitted together (Laplace); the grid shows each curve's band past its data
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(args.seed)
    x = np.geomspace(1e6, 1e9, 12)
    curves = pd.concat(
        pd.DataFrame({"tokens": x, "curve": f"run {i:02d}",
                      "loss": (rng.uniform(1.5, 2.5) + rng.uniform(100, 400) * x ** -rng.uniform(0.2, 0.5))
                      * np.exp(0.01 * rng.standard_normal(x.size))})
        for i in range(16)
    )
    start_curves = time.perf_counter()
    many = bs.fit(curves, law="power_law", x="tokens", group="curve", method="laplace", seed=args.seed,
                  draws=args.draws)
    print(f"\n16 simulated curves, one batched Laplace fit ({time.perf_counter() - start_curves:.1f} s)")
    fig = plot.grid(many, max_panels=8, extend=30.0)
    fig.savefig(out / "curves_grid.png", dpi=110, bbox_inches="tight")
    print(f"\nwrote {out}/summary.csv, compute_optimal.csv, chinchilla_predictive.png, chinchilla_frontier.png, "
          "chinchilla_prior_posterior.png, curves_grid.png")
    print(f"total {time.perf_counter() - start:.1f} s")


def _wide_pandas():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 20)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayescale", description="Bayesian fits of neural scaling laws")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="fit Chinchilla's law to the bundled data with NUTS; print and plot")
    p.add_argument("--out", default="bayescale_demo", help="folder for the tables and plots (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.set_defaults(func=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (UserError, ValueError, KeyError, FileNotFoundError) as err:
        print(f"bayescale: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
