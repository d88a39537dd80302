"""SBC misses of `auto` against the exact posterior of each simulated set, for laws ``c + span * g(x)``.

    PYTHONPATH=. python benchmarks/bench_sbc_reference.py --laws janoschek mmf --seed 0 [--nuts]

``bs.sbc`` (bench_sbc.py's design and settings) says how often the truth
falls outside the 90% interval; it does not say whether a miss is the
engine's or the posterior's own (a calibrated posterior misses 10% of the
truths). Here every set's posterior is also computed exactly, without MCMC
or adaptation, given the true noise scale (``sigma``, which the data pin down
tightly): the ranks of a posterior conditioned on a true parameter are
uniform too, so the reference's misses are those of a calibrated posterior.

1. Given the true ``c`` and ``sigma``, importance sampling of the other
   parameters from their priors (``--draws`` draws). Exact up to Monte Carlo
   error where the curve is flat within noise (most prior draws: the data
   then only cut the prior); where the sample's effective size falls below
   ``MIN_ESS`` the set counts as unresolved.
2. For the unresolved sets, ``c`` integrated on a grid of 180 values around
   the observed level (finest near it), each with the evidence of the other
   parameters by importance sampling from a defensive mixture: half the
   prior, half ``span`` within a few noise scales of ``level - c``, the
   region where the curve sits at ``c + span`` over the whole range.

The share of the true values outside their prior's central 90% says how far
the coverage of a posterior close to its prior falls by chance on that seed
(``bs.sbc`` draws each prior from its own key by position, so laws with as
many parameters share the standard-normal draws: ``janoschek``'s ``log delta``
and ``mmf``'s ``log x0 / 10`` are one sample).
``--nuts``: the unresolved sets are also fitted by NUTS alone, 4 x (1000 + 1000).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import jax
import numpy as np
from bench_sbc import design
from common import Timer, environment, markdown_rows
from scipy import stats

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
    """Student-t log likelihood of the observed log losses (up to a constant), ``[draws]``."""
    r = ly[None] - np.log(np.maximum(mean, 1e-300))
    return -(df + 1) / 2 * np.sum(np.log1p(r**2 / (df * sigma**2)), axis=1)


def curve(law, params, x):
    """The law at ``x`` for each draw, ``[draws, points]`` (float64)."""
    with jax.enable_x64(True):
        return np.asarray(law.fn({k: v[:, None] for k, v in params.items()}, {"x": x[None]}))


def reference_given_c(law, spec, y, x, truth, g, draws):
    """Step 1: ranks of the truth, and the effective sample size, given the true c and sigma."""
    others = [p for p in law.param_names if p != "c"]
    params = prior_sample(spec, others, draws, 1)
    params["c"] = np.full(draws, truth["c"][g])
    ll = log_lik(np.log(y), curve(law, params, x), truth["sigma"][g], spec.likelihood.df)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    ranks = {q: float(np.sum(w * (params[q] < truth[q][g]))) for q in others}
    return ranks, 1.0 / np.sum(w**2)


def reference_c_grid(law, spec, y, x, truth, g, draws):
    """Step 2: ranks of the truth given the true sigma, with c integrated on a grid."""
    others = [p for p in law.param_names if p not in ("c", "span")]
    base = prior_sample(spec, [*others, "span"], draws, 2)
    z = np.random.default_rng(3).normal(size=draws)
    near = np.random.default_rng(4).uniform(size=draws) < 0.5
    sigma, ly = truth["sigma"][g], np.log(y)
    level = np.exp(np.median(ly))
    cs = np.unique(np.concatenate([level * (1 - np.geomspace(1e-5, 0.999, 120)),
                                   level * (1 + np.geomspace(1e-5, 0.5, 60))]))
    span_prior = spec.prior_dict["span"]  # LogNormal(m, s)
    m, s = float(span_prior.loc), float(span_prior.scale)
    log_z, ranks = np.empty(len(cs)), {q: np.empty(len(cs)) for q in ["span", *others]}
    for i, c in enumerate(cs):
        gap = max(level - c, 1e-3 * level)
        log_span = np.where(near, np.log(gap) + 3 * sigma * z, np.log(base["span"]))
        log_q = np.logaddexp(np.log(0.5) + stats.norm.logpdf(log_span, m, s),
                             np.log(0.5) + stats.norm.logpdf(log_span, np.log(gap), 3 * sigma))
        params = {**{k: base[k] for k in others}, "span": np.exp(log_span), "c": np.full(draws, c)}
        lw = log_lik(ly, curve(law, params, x), sigma, spec.likelihood.df) + stats.norm.logpdf(log_span, m, s) - log_q
        top = lw.max()
        w = np.exp(lw - top)
        log_z[i] = top + np.log(w.mean()) + float(spec.prior_dict["c"].log_prob(c))
        w /= w.sum()
        for q, values in ranks.items():
            values[i] = np.sum(w * (params[q] < truth[q][g]))
    p = np.exp(log_z - log_z.max()) * np.gradient(cs)
    p /= p.sum()
    out = {q: float(np.sum(p * r)) for q, r in ranks.items()}
    out["c"] = float(np.sum(p * (cs < truth["c"][g])))
    return out


def missed(rank):
    return (np.asarray(rank) < 0.05) | (np.asarray(rank) > 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laws", nargs="*", default=list(QUANTITIES))
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=30000, help="prior draws per set of the step-1 reference")
    parser.add_argument("--grid-draws", type=int, default=10000, help="draws per grid value of c in step 2")
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
        for g in unresolved:
            ref[g] = reference_c_grid(law, spec, ys[g], x, truth, g, args.grid_draws)
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
            r = missed([ref[g][q] for g in range(args.datasets)])
            resolved = np.ones(args.datasets, bool)
            resolved[unresolved] = False
            prior = spec.prior_dict[q]  # LogNormal: the standard-normal draw behind each true value
            z = (np.log(truth[q]) - float(prior.loc)) / float(prior.scale)
            row = {"law": name, "seed": args.seed, "quantity": q, "auto, all sets": f"{1 - a.mean():.3f}",
                   "prior draws outside its central 90%": f"{np.mean(np.abs(z) > 1.645):.3f}"}
            for label, sel in (("resolved", resolved), ("unresolved", ~resolved)):
                row[f"{label}: sets"] = int(sel.sum())
                row[f"{label}: reference"] = f"{1 - r[sel].mean():.3f}" if sel.any() else ""
                row[f"{label}: auto"] = f"{1 - a[sel].mean():.3f}" if sel.any() else ""
                row[f"{label}: both / ref only / auto only miss"] = (f"{(a & r)[sel].sum()} / {(r & ~a)[sel].sum()} / "
                                                                     f"{(a & ~r)[sel].sum()}")
            if nuts_rank:
                n = missed([nuts_rank[g][q] for g in unresolved])
                row["unresolved: NUTS"] = f"{1 - n.mean():.3f}"
            row["seconds (sbc)"] = round(t.seconds)
            rows.append(row)
        print(markdown_rows(rows[-len(QUANTITIES[name]):]), flush=True)
    print("\n" + markdown_rows(rows))


if __name__ == "__main__":
    main()
