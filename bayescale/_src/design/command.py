"""``bayescale design``: rank candidate runs of a CSV for a saved fit (see :func:`bayescale.design.next_runs`)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  bayescale design fit_dir/fit.nc --candidates grid.csv --target N=7e10,D=1.4e12 --budget 1e21
  bayescale design fit_dir/fit.nc --candidates grid.csv --target N=7e10,D=1.4e12 --k 5 --cost gpu_hours --plot design.png
candidates: a CSV of runs one could train (the law's inputs, by name or by the fit's column names);
cost: 6 N D FLOP by default, or --cost COLUMN"""


def add_parser(sub, formatter) -> None:
    """The ``design`` subcommand on the CLI's subparsers."""
    from bayescale._src.design.criterion import CRITERIA

    p = sub.add_parser("design", help="rank candidate runs by how much they sharpen the forecast at a target, per cost",
                       epilog=EPILOG, formatter_class=formatter)
    p.add_argument("fit", help="fit file written by 'bayescale fit' (DIR/fit.nc) or Fit.save")
    p.add_argument("--candidates", required=True, metavar="CSV", help="CSV of candidate runs")
    p.add_argument("--target", action="append", required=True, metavar="NAME=VALUE[,NAME=VALUE]",
                   help="a target point (repeatable: the value is summed over them)")
    p.add_argument("--budget", type=float, help="pick greedily while the picks' total cost fits in it")
    p.add_argument("--k", type=int, help="pick at most this many runs (default: 1 without --budget)")
    p.add_argument("--cost", metavar="COLUMN", help="cost column of the candidates (default: 6 N D FLOP)")
    p.add_argument("--criterion", default="gaussian", choices=CRITERIA, help="(default: %(default)s)")
    p.add_argument("--group", help="the group of a grouped fit to design for")
    p.add_argument("--seed", type=int, default=0, help="seed of the reweight criterion's simulated outcomes")
    p.add_argument("--csv", help="also write the ranked table to this CSV file")
    p.add_argument("--plot", metavar="PNG", help="also plot the candidates and the target's band (laws of N and D)")
    p.set_defaults(func=run)


def target_table(result, items: list[str]):
    """``--target`` options as a table of the law's inputs."""
    import pandas as pd

    from bayescale._src.cli import UserError, _number, _pair

    by_column = {col: name for name, col in result.columns.inputs.items()}
    rows = []
    for item in items:
        row = {}
        for part in item.split(","):
            key, value = _pair(part, "--target")
            name = key if key in result.law.inputs else by_column.get(key)
            if name is None:
                raise UserError(f"--target {key}: law {result.law.name!r} takes inputs {list(result.law.inputs)}")
            row[name] = _number(value, f"--target {key}")
        if sorted(row) != sorted(result.law.inputs):
            raise UserError(f"--target {item}: give every input of law {result.law.name!r}: {list(result.law.inputs)}")
        rows.append(row)
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> None:
    import pandas as pd

    import bayescale as bs
    from bayescale._src.cli import UserError, _emit

    result = bs.load(args.fit)
    if result.grouped:
        if args.group is None:
            raise UserError(f"the fit has groups ({result.columns.group!r}); choose one with --group")
        labels = {str(g): g for g in result.groups}
        if args.group not in labels:
            raise UserError(f"--group {args.group!r}: the fit's groups are {list(labels)}")
        result = result[labels[args.group]]
    candidates = pd.read_csv(args.candidates)
    target = target_table(result, args.target)
    table = bs.design.next_runs(result, candidates, target, cost=args.cost, k=args.k, budget=args.budget,
                                criterion=args.criterion, seed=args.seed)
    print(f"{len(candidates)} candidates; value = expected drop of the variance of log loss at the target per cost\n")
    _emit(table, args.csv)
    if args.plot:
        from bayescale import plot

        plot.design(result, table, target).savefig(args.plot, dpi=120, bbox_inches="tight")
