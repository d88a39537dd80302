"""Tables of 10^3 .. 10^6 curves with ``bs.fit_stream``: time per curve, peak memory (RSS), output size.

Every size runs in a fresh process (so its peak RSS is its own). Curves are power laws of 20-32 points (one
length bucket, 32) and the chunk size divides every size, so every size runs the same compiled program on full
chunks: the time per curve measures how the streaming itself scales. The program is compiled first on a
two-curve table (reported as ``compile s``) and the table is then fitted with it.

    python benchmarks/bench_scale.py --method laplace --sizes 1000 10000 100000            # 1000 draws
    python benchmarks/bench_scale.py --method map --sizes 1000000 --max-curves 50000        # a part of 10^6
    python benchmarks/bench_scale.py --method nuts --chunk-size 20 --sizes 1000             # default NUTS
    python benchmarks/bench_scale.py --in-memory --method laplace --sizes 10000             # bs.fit, for comparison

``--max-curves`` stops after that many curves (``max_chunks``): the time per curve and the peak RSS of a
table of the full size, without fitting all of it. Columns: ``fitted`` curves, ``total s`` (table checks,
padding, hashing, fitting, writing; compilation excluded), ``ms/curve`` (wall) and ``cpu ms/curve`` (user
+ system CPU time of the process, all threads: steadier than wall time on a shared machine), ``peak RSS
GB`` (of the whole process: Python, JAX, the table), ``table GB`` (RSS after the table was built, before
fitting), ``output MB``, ``read s`` (reading the summary table back), ``load`` (the machine's 1-minute
load average at the end: above the number of cores, other processes took CPU time) and, on a GPU,
``device peak GB`` (the accelerator's ``peak_bytes_in_use``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("BAYESCALE_PROGRESS", "0")


def curves(num_curves: int, seed: int = 0, min_points: int = 20, max_points: int = 32) -> pd.DataFrame:
    """Power-law curves E + A x^-alpha (1% log-normal noise), built without a Python loop over curves."""
    rng = np.random.default_rng(seed)
    points = rng.integers(min_points, max_points + 1, num_curves)
    curve = np.repeat(np.arange(num_curves), points)
    starts = np.repeat(np.cumsum(points) - points, points)
    t = (np.arange(len(curve)) - starts) / (points[curve] - 1)
    x = 1e6 * 10 ** (rng.uniform(2.5, 4, num_curves)[curve] * t)
    E, A, alpha = (rng.uniform(lo, hi, num_curves)[curve] for lo, hi in ((1.5, 2.5), (50, 500), (0.2, 0.45)))
    loss = (E + A * x**-alpha) * np.exp(0.01 * rng.standard_normal(len(x)))
    return pd.DataFrame({"x": x, "loss": loss, "curve": curve})


def rss_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args) -> dict:
    import bayescale as bs

    warnings.simplefilter("ignore")
    from bayescale._src import engines

    fields = engines.get(args.method).Settings._fields  # a setting the method does not use is an error
    options = {k: v for k, v in dict(draws=args.draws, chains=args.chains, warmup=args.warmup).items() if k in fields}
    kw = dict(law="power_law", x="x", y="loss", group="curve", method=args.method, **options,
              chunk_size=args.chunk_size, seed=0)
    out = {"method": args.method, "curves": args.size, "keep": args.keep, "chunk": args.chunk_size}
    work = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=args.dir))
    try:
        start = time.perf_counter()
        table = curves(args.size)
        out["table_gb"] = rss_gb()
        if args.in_memory:
            bs.fit(curves(2, seed=1), **kw)  # compile
            start = time.perf_counter()
            fit = bs.fit(table, **kw)
            out["fit_s"] = time.perf_counter() - start
            out["after_fit_peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            fit.summary()
            out["total_s"] = time.perf_counter() - start
            out["fitted"] = args.size
            fit.save(work / "fit.nc")
            out["output_mb"] = (work / "fit.nc").stat().st_size / 2**20
        else:
            t = time.perf_counter()
            bs.fit_stream(curves(2, seed=1), work / "warm", keep=args.keep, **kw)
            out["compile_s"] = time.perf_counter() - t
            max_chunks = None if args.max_curves is None else -(-args.max_curves // args.chunk_size)
            start, cpu = time.perf_counter(), cpu_seconds()
            run = bs.fit_stream(table, work / "run", keep=args.keep, max_chunks=max_chunks, **kw)
            out["total_s"] = time.perf_counter() - start
            out["cpu_s"] = cpu_seconds() - cpu
            out["fitted"] = len(run.chunk_files()) * args.chunk_size
            out["output_mb"] = sum(f.stat().st_size for f in (work / "run").iterdir()) / 2**20
            t = time.perf_counter()
            summary = run.summary()
            out["read_s"] = time.perf_counter() - t
            out["summary_rows"] = len(summary)
        out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        import jax

        stats = jax.local_devices()[0].memory_stats() or {}
        if stats.get("peak_bytes_in_use"):
            out["device_peak_gb"] = stats["peak_bytes_in_use"] / 2**30  # GPU: the accelerator's own peak
        out["ms_per_curve"] = 1e3 * out["total_s"] / out["fitted"]
        if "cpu_s" in out:
            out["cpu_ms_per_curve"] = 1e3 * out["cpu_s"] / out["fitted"]
        out["load_avg"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--method", default="laplace")
    ap.add_argument("--keep", default="summary", choices=["summary", "thinned", "all"])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--max-curves", type=int, default=None)
    ap.add_argument("--in-memory", action="store_true", help="bs.fit (every draw in memory) then summary()")
    ap.add_argument("--dir", default=None, help="where the runs are written (deleted afterwards)")
    ap.add_argument("--json", default=None, help="append one JSON line per size to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    import bayescale  # noqa: F401  (its precision setting, for the environment line)
    from common import environment

    print(environment(), f"| {os.cpu_count()} CPU(s)")
    cols = ["method", "keep", "curves", "fitted", "compile_s", "total_s", "ms_per_curve", "cpu_ms_per_curve",
            "peak_gb", "table_gb", "output_mb", "read_s", "load_avg", "device_peak_gb"]
    print(" ".join(f"{c:>12s}" for c in cols), flush=True)
    passed = [a for a in sys.argv[1:]]
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--child", "--size", str(n), *passed]
        if args.max_curves is not None and args.max_curves >= n:
            cmd += ["--max-curves", str(n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"size {n} failed:\n{proc.stderr[-3000:]}", flush=True)
            continue
        row = json.loads(lines[-1][len("RESULT "):])
        if args.in_memory:
            row["keep"] = "bs.fit"
        print(" ".join(f"{_fmt(row.get(c)):>12s}" for c in cols), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


if __name__ == "__main__":
    main()
