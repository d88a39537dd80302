"""Where ``method="auto"`` spends its time: each piece of its first pass timed alone on one chunk of 16 curves per
length bucket of the 200-curve sweep (``common.sweep_curves``), compiled first, best of ``--reps`` calls.

Pieces: the mode search (``base.start``: 16 Newton starts), the importance proposals (``importance._propose``:
8 AMIS stages of 500 in one ``lax.scan``), the potential alone at the 4,000 proposals (its share of the former),
PSIS on the host (``psis.smooth``), the resampling (``importance._resample``), the constrained values of the
draws (``fitting.constrain``), and ``Fit.summary()`` of the whole sweep (per curve).

    python benchmarks/profile_auto.py [--reps 7]
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import numpy as np
from common import environment, markdown_rows, sweep_curves

import bayescale as bs
from bayescale._src.engines import auto, base, importance, psis
from bayescale._src.fit import fitting
from bayescale._src.model.problem import to_device
from bayescale._src.precision import float64


def best(reps: int, f, *args) -> float:
    """Best wall time of ``reps`` calls (after one), in ms per curve of a 16-curve chunk."""
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * min(times) / 16


@float64
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(environment())
    df = sweep_curves(200)
    cols = {"x": "x", "y": "loss", "group": "curve", "law": "power_law"}
    job = fitting.setup(df, fitting.FitOptions.from_keywords("fit", **cols, seed=0))
    settings, problem = job.settings, job.plan.problem
    first = auto.part(settings, importance)
    rows, seen = [], set()
    for call in job.plan.calls:
        width = call.data.log_y.shape[1]
        if width in seen or call.real < 16:
            continue
        seen.add(width)
        data = to_device(call.data, job.dtype)
        split, mode = base.start(problem, settings, data, call.keys)
        z, log_w, _ = importance._propose(problem, first, data, split[:, 1], mode.others)
        potential = jax.jit(lambda z, d: jax.vmap(lambda zs, one: jax.vmap(lambda x: problem.potential(x, one))(zs))(z, d))
        smoothed, _ = psis.smooth(np.asarray(log_w))
        draws = importance._resample(first.chains, first.draws, split[:, 2], z, smoothed)
        rows.append({
            "bucket (points)": width,
            "curves": sum(c.real for c in job.plan.calls if c.data.log_y.shape[1] == width),
            "mode search": f"{best(args.reps, base.start, problem, settings, data, call.keys):.2f}",
            "proposals (AMIS)": f"{best(args.reps, importance._propose, problem, first, data, split[:, 1], mode.others):.2f}",
            "of which potential": f"{best(args.reps, potential, z, data):.2f}",
            "PSIS (host)": f"{best(args.reps, psis.smooth, np.asarray(log_w)):.2f}",
            "resampling": f"{best(args.reps, importance._resample, first.chains, first.draws, split[:, 2], z, smoothed):.2f}",
            "constrain": f"{best(args.reps, fitting.constrain, problem, data, draws):.2f}",
        })
    fit = bs.fit(df, **cols, seed=0)
    start = time.perf_counter()
    fit.summary()
    print(markdown_rows(rows))
    print(f"Fit.summary() of the sweep: {1e3 * (time.perf_counter() - start) / 200:.2f} ms per curve")


if __name__ == "__main__":
    main()
