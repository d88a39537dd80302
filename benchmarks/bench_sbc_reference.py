"""SBC misses of `auto` against the exact posterior of each simulated set, for laws ``c + span * g(x)``.

    PYTHONPATH=. python benchmarks/bench_sbc_reference.py --laws janoschek mmf --seed 0 [--nuts]

``bs.sbc`` (bench_sbc.py's design and settings) says how often the truth
falls outside the 90% interval; it does not say whether a miss is the
engine's or the posterior's own (a calibrated posterior misses 10% of the
truths). Here each set's posterior is also computed exactly where it can be, without MCMC
or adaptation, given the true noise scale (``sigma``, which the data pin down
tightly) and the true floor ``c``: the ranks of a posterior conditioned on
true parameters are uniform too, so the reference's misses are those of a
calibrated posterior. The other parameters are importance-sampled from their
priors (``--draws`` draws): exact up to Monte Carlo error where the curve is
flat within noise (most prior draws: the data then only cut the prior).
Where the sample's effective size falls below ``MIN_ESS`` (a curve that
decays inside the range, or a truth whose curve sits at ``c + span`` with
``c`` far below it) the set is unresolved; ``--nuts`` fits those sets with
NUTS alone, 4 x (1000 + 1000), to compare with ``auto``. The split is made
with the truth, so neither part alone need cover 90%.

The share of the true values outside their prior's central 90% says how far
the coverage of a posterior close to its prior falls by chance on that seed
(``bs.sbc`` draws each prior from its own key by position, so laws with as
many parameters share the standard-normal draws: ``janoschek``'s ``log delta``
and ``mmf``'s ``log x0 / 10`` are one sample).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import jax
import numpy as np
import scipy.stats
from bench_sbc import design
from common import Timer, environment, markdown_rows

import bayescale as bs
from bayescale._src.analysis import sbc as sbc_mod
from bayescale.priors import merge as priors_mod

MIN_ESS = 300
QUANTITIES = {"janoschek": ("delta", "kappa"), "mmf": ("x0", "delta")}  # the quantity of the README's row first


def prior_sample(spec, names, n, seed):
    """``{name: [n]}`` draws of each parameter from its prior (float64)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), len(names))
    with jax.enable_x64(True):
        return {k: np.asarray(spec.prior_dict[k].sample(key, (n,)), np.float64) for k, key in zip(names, keys)}


def log_lik(ly, mean, sigma, df):
    """Student-t log likelihood of the observed log losses, ``[draws]``."""
    return scipy.stats.t.logpdf(ly[None] - np.log(np.maximum(mean, 1e-300)), df, scale=sigma).sum(axis=1)


def curve(law, params, x):
    """The law at ``x`` for each draw, ``[draws, points]`` (float64)."""
    with jax.enable_x64(True):
        return np.asarray(law.fn({k: v[:, None] for k, v in params.items()}, {"x": x[None]}))


def reference_given_c(law, spec, y, x, truth, g, draws):
    """Ranks of the truth, and the effective sample size, given the true c and sigma."""
    others = [p for p in law.param_names if p != "c"]
    params = prior_sample(spec, others, draws, 1)
    params["c"] = np.full(draws, truth["c"][g])
    ll = log_lik(np.log(y), curve(law, params, x), truth["sigma"][g], spec.likelihood.df)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    ranks = {q: float(np.sum(w * (params[q] < truth[q][g]))) for q in others}
    return ranks, 1.0 / np.sum(w**2)


def missed(rank):
    return (np.asarray(rank) < 0.05) | (np.asarray(rank) > 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laws", nargs="*", default=list(QUANTITIES))
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=30000, help="prior draws per set of the reference")
    parser.add_argument("--nuts", action="store_true", help="also fit the unresolved sets with NUTS alone")
    args = parser.parse_args()
    print(environment())
    rows = []
    for name in args.laws:
        law = bs.laws.get(name)
        spec = priors_mod.model_spec(law, None, None)
        x = design(law)["x"]
        with Timer() as t:
            res = bs.sbc(law, args.datasets, design(law), method="auto", seed=args.seed, draws=1000, chains=4,
                         warmup=1000, num_ranks=1001)
        data, truth = sbc_mod.simulate(law, args.datasets, design(law), seed=args.seed)
        auto_rank = res.ranks.reset_index(drop=True) / (res.num_ranks - 1)
        ys = [data.loss[data.dataset == g].to_numpy() for g in range(args.datasets)]
        ref, ess = {}, np.empty(args.datasets)
        for g in range(args.datasets):
            ref[g], ess[g] = reference_given_c(law, spec, ys[g], x, truth, g, args.draws)
        unresolved = np.flatnonzero(ess < MIN_ESS)
        nuts_rank = {}
        if args.nuts and len(unresolved):
            sub = data[data.dataset.isin(unresolved)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = bs.fit(sub, law=law, group="dataset", method="nuts", seed=args.seed, chains=4, warmup=1000,
                             draws=1000)
            for j, g in enumerate(fit.groups):
                nuts_rank[g] = {q: float(np.mean(np.asarray(fit.draws(q)[j]) < truth[q][g])) for q in law.param_names}
        for q in QUANTITIES[name]:
            a = missed(auto_rank[q])
            resolved = np.ones(args.datasets, bool)
            resolved[unresolved] = False
            r = np.zeros(args.datasets, bool)
            r[resolved] = missed([ref[g][q] for g in np.flatnonzero(resolved)])
            prior = spec.prior_dict[q]  # LogNormal: the standard-normal draw behind each true value
            z = (np.log(truth[q]) - float(prior.loc)) / float(prior.scale)
            row = {"law": name, "seed": args.seed, "quantity": q, "auto, all sets": f"{1 - a.mean():.3f}",
                   "prior draws outside its central 90%": f"{np.mean(np.abs(z) > 1.645):.3f}"}
            sel = resolved
            row["resolved: sets"] = int(sel.sum())
            row["resolved: reference"] = f"{1 - r[sel].mean():.3f}"
            row["resolved: auto"] = f"{1 - a[sel].mean():.3f}"
            row["resolved: both / ref only / auto only miss"] = (f"{(a & r)[sel].sum()} / {(r & ~a)[sel].sum()} / "
                                                                 f"{(a & ~r)[sel].sum()}")
            row["unresolved: sets"] = len(unresolved)
            row["unresolved: auto"] = f"{1 - a[unresolved].mean():.3f}" if len(unresolved) else ""
            if nuts_rank:
                n = missed([nuts_rank[g][q] for g in unresolved])
                row["unresolved: NUTS"] = f"{1 - n.mean():.3f}"
                row["unresolved: both / NUTS only / auto only miss"] = (f"{(n & a[unresolved]).sum()} / "
                                                                        f"{(n & ~a[unresolved]).sum()} / "
                                                                        f"{(~n & a[unresolved]).sum()}")
            row["seconds (sbc)"] = round(t.seconds)
            rows.append(row)
        print(markdown_rows(rows[-len(QUANTITIES[name]):]), flush=True)
    print("\n" + markdown_rows(rows))


if __name__ == "__main__":
    main()
