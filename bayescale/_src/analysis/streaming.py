"""``bs.fit_stream``: fit a table of any number of curves in bounded memory, to a directory, resumably.

``bs.fit`` returns a :class:`~bayescale._src.fit.results.Fit` that holds every
draw of every curve: 100,000 curves x 4 chains x 1,000 draws of 5 sites is
16 GB in float64, and its ``summary()`` goes through arviz's InferenceData,
which adds the pointwise log-likelihood of every draw (another 30 GB for
40-point curves). ``fit_stream`` runs the same plan, one chunk of curves at a
time, and keeps per curve only what users read:

- ``keep="summary"``: the summary table (mean, sd, HDI; MCSE, ESS and r_hat
  for Markov chains), quantiles of every parameter, the diagnostics, the
  mode, and optionally the prediction bands at chosen inputs (``predict=``);
- ``keep="thinned"``: the same, plus every ``thin``-th draw of every site,
  enough for ``to_fit()`` (predictions, plots) of any curve later;
- ``keep="all"``: the same, plus every draw and sampler statistic (a
  ``Fit`` assembled by ``to_fit()`` equals the one ``bs.fit`` returns).

Why a separate entry point rather than ``bs.fit(..., keep=...)``: the result
is a different object (files on disk, read back as tables, not a ``Fit`` with
draws in memory), the run needs a place to write to (the directory *is* the
resumable state), and ``bs.fit``'s return type stays one type. Both share the
argument checks and the plan (:func:`bayescale._src.fit.fitting.setup`), and each
chunk runs through the same :func:`bayescale._src.fit.fitting.execute` as in
``bs.fit``, whatever the engine does inside.

The directory::

    manifest.json      the key (hash of the data, model, engine settings and
                       what is kept), the chunk layout, the group labels, the options
    data.nc            the table's inputs and loss (keep="thinned"/"all": to_fit needs them)
    chunk-000000.nc    one netCDF file per finished chunk, written to a temporary
    chunk-000001.nc    name and renamed when complete (an interrupted write
    ...                leaves no chunk file)

Running ``fit_stream`` again with the same data and settings on the same
directory fits only the chunks without a file; other data or settings are
refused (a new directory is needed). ``max_chunks=`` stops after that many
chunks (a scheduler's time slice). Under ``jax.distributed`` every process
runs every chunk (sharded), process 0 decides which chunks are left and alone
writes files.

Memory: a chunk's draws take at most ``memory`` bytes on the host (default
256 MiB: ~1,800 curves per chunk for Laplace with 1,000 draws; NUTS on CPU
keeps its 16 curves per chunk), so peak memory is the table, its padded copy,
one chunk's work and the kept tables, whatever the number of curves.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np
import pandas as pd
import xarray as xr

from bayescale._src.fit import diagnostics

from bayescale._src.fit import fitting

from bayescale._src.fit import netcdf as io
from bayescale._src import progress as progress_mod
from bayescale._src.model.data import Columns, as_inputs
from bayescale._src.model.joint_prior import joint_from_record, joint_record
from bayescale._src.model.prior_records import encode_prior, prior_key
from bayescale._src.fit.results import Fit, _check_interval
from bayescale._src.precision import float64, float64_methods

KEEP = ("summary", "thinned", "all")
FORMAT = "bayescale.stream"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA = "data.nc"
DEFAULT_MEMORY = 2**28
BANDS = ("mean", "median", "lower", "upper")


@float64
def fit_stream(
    data: Any,
    path: str | os.PathLike,
    law: Any = "power_law",
    *,
    keep: str = "summary",
    thin: int = 10,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    interval: float = 0.9,
    predict: Any = None,
    memory: int = DEFAULT_MEMORY,
    max_chunks: int | None = None,
    progress: bool | None = None,
    **options: Any,
) -> "StreamedFit":
    """Fit every curve of a table chunk by chunk, writing what is kept to the directory ``path``.

    Parameters
    ----------
    data, law
        As in :func:`bs.fit <bayescale.fit>`.
    path
        Directory of the run (created). If it holds an unfinished run of the
        same data and settings, only the missing chunks are fitted.
    keep
        ``"summary"``, ``"thinned"`` or ``"all"`` (see the module docs).
    thin
        With ``keep="thinned"``: keep every ``thin``-th draw of each chain.
    quantiles
        Quantiles of every parameter kept per curve.
    interval
        Probability of the summary's HDI and of the prediction bands.
    predict
        Inputs (dict or DataFrame, as for ``Fit.predict``) at which to keep
        each curve's predictive mean, median and central ``interval`` band.
    memory
        Bytes that one chunk's draws may take on the host; sets the chunk size
        unless ``chunk_size=`` is given.
    max_chunks
        Fit at most this many chunks in this call, then return (the rest on
        the next call with the same arguments).
    progress
        As in ``bs.fit``; the bar counts curves over the whole run.
    options
        Every other keyword of ``bs.fit`` (``x``, ``y``, ``group``, ``method``,
        ``seed``, ``draws``, ``chunk_size``, ...). ``pooling="partial"`` fits
        one joint posterior and has nothing to stream: use ``bs.fit``.

    Returns
    -------
    :class:`StreamedFit`, reading the directory (also ``bs.load(path)``).
    """
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(map(repr, KEEP))}, got {keep!r}")
    if not fitting._is_int(thin) or thin < 1:
        raise ValueError(f"thin must be a positive integer, got {thin!r}")
    if max_chunks is not None and (not fitting._is_int(max_chunks) or max_chunks < 0):
        raise ValueError(f"max_chunks must be a non-negative integer or None, got {max_chunks!r}")
    if not fitting._is_int(memory) or memory < 1:
        raise ValueError(f"memory must be a positive number of bytes, got {memory!r}")
    quantiles = tuple(float(q) for q in np.atleast_1d(quantiles))
    if not all(0 <= q <= 1 for q in quantiles):
        raise ValueError(f"quantiles must be between 0 and 1, got {quantiles}")
    _check_interval(interval)
    if options.get("pooling", "none") != "none":
        raise ValueError("fit_stream fits independent curves; a partially pooled fit is one joint posterior: "
                         "use bs.fit(..., pooling='partial')")
    if options.get("run") is not None:
        raise ValueError("fit_stream does not support run= (correlated checkpoints) yet: use bs.fit(..., run=...)")
    if "progress" in options:
        raise TypeError("progress is fit_stream's own argument")
    fit_options = fitting.FitOptions.from_keywords("fit_stream", law=law, **options)
    job = fitting.setup(data, fit_options, memory=memory if fit_options.chunk_size is None else None)
    rec = job.record
    x_new = as_inputs(rec["spec"].law, predict, rec["columns"].inputs) if predict is not None else None
    options = dict(keep=keep, thin=thin, quantiles=list(quantiles), interval=interval)
    manifest = _manifest(job, options, x_new)

    path = Path(path)
    done = _agree_on_done(path, manifest)
    todo = [i for i in range(len(job.plan.calls)) if not done[i]]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    writer = jax.process_index() == 0
    if writer and keep != "summary" and not (path / DATA).exists():
        _write_atomic(_data_dataset(rec), path / DATA)

    calls = job.plan.calls
    show = progress_mod.resolve(progress, long=len(calls) > 1 or job.engine.markov)
    total = sum(c.real for c in calls)
    position = sum(calls[i].real for i in range(len(calls)) if done[i])
    problems = 0
    with progress_mod.bar(show and writer, total, job.desc, "curve") as bar:
        if bar is not None:
            bar.reach(position)
        for i in todo:
            call = calls[i]
            one = job.plan._replace(calls=[call], collect=lambda outputs: outputs[0])
            outputs = fitting.execute(one, job.engine, job.settings, job.dtype, False, job.desc)
            if writer:
                ds = _chunk_dataset(job, call, outputs, x_new, keep, thin, quantiles, interval)
                problems += int((~ds["diag_ok"].values.astype(bool)).sum())
                _write_atomic(ds, path / _chunk_name(i))
            position += call.real
            if bar is not None:
                bar.reach(position)
    result = StreamedFit(path) if writer else None
    if problems:
        warnings.warn(
            f"{problems} curve(s) fitted in this call have problems (divergences, r_hat, ESS, a Pareto k above 0.7, "
            f"a flat mode or a prior-dominated posterior): see .diagnostics() and .problems of bs.load({str(path)!r})",
            diagnostics.FitWarning, stacklevel=2)
    return result if writer else StreamedFit(path, manifest=manifest)


# ---------------------------------------------------------------- the run's identity
def _manifest(job, options: dict, x_new) -> dict:
    rec = job.record
    spec = rec["spec"]
    law = spec.law
    h = hashlib.sha256()

    def feed(*parts):
        for part in parts:
            if isinstance(part, np.ndarray):
                h.update(str((part.dtype.str, part.shape)).encode())
                h.update(np.ascontiguousarray(part).tobytes())
            else:
                h.update(repr(part).encode())
            h.update(b"\0")

    feed(FORMAT, FORMAT_VERSION, law.name, tuple(law.param_names), tuple(law.inputs))
    feed(tuple((name, _prior_fingerprint(p)) for name, p in spec.priors), tuple(spec.likelihood), spec.joint)
    feed(job.engine.name, tuple(job.settings._fields), tuple(job.settings), str(np.dtype(job.dtype)))
    feed(sorted(rec["settings"].items()), rec["columns"].inputs, rec["columns"].y, rec["columns"].group)
    feed(*(rec["inputs"][k] for k in sorted(rec["inputs"])), rec["y"], [io._label(g) for g in rec["groups"]])
    feed(np.concatenate(rec["rows"]), np.array([len(r) for r in rec["rows"]]))
    feed(sorted(options.items()))
    if x_new is not None:
        feed(*(x_new[k] for k in sorted(x_new)))
    layout = hashlib.sha256()
    for call in job.plan.calls:
        layout.update(np.asarray(call.index, np.int64).tobytes())
        layout.update(repr(call.data.log_y.shape).encode() + b"\0")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "key": h.hexdigest(),
        "layout": layout.hexdigest(),
        "num_chunks": len(job.plan.calls),
        "chunk_sizes": sorted({int(c.data.log_y.shape[0]) for c in job.plan.calls}),
        "law": law.name,
        "param_names": [*law.param_names, "sigma"],
        "method": job.engine.name,
        "markov": job.engine.markov,
        "columns": rec["columns"]._asdict(),
        "groups": [io._label(g) for g in rec["groups"]],
        "settings": {**rec["settings"], **{k: v for k, v in job.settings._asdict().items() if k != "progress"}},
        "predict": None if x_new is None else {k: np.asarray(v).tolist() for k, v in x_new.items()},
        "spec": _spec_record(spec),
        **options,
    }


def _spec_record(spec) -> dict | None:
    try:
        return {"priors": {name: encode_prior(p) for name, p in spec.priors},
                "likelihood": spec.likelihood._asdict(), "joint": joint_record(spec.joint)}
    except (TypeError, ValueError):
        return None


def _prior_fingerprint(prior) -> Any:
    key = prior_key(prior)
    if isinstance(key, str):
        return key
    # a prior that cannot be recorded: its type and parameters' values (its identity means nothing on resume)
    params = {k: np.asarray(v).tolist() for k, v in sorted(vars(prior).items()) if not k.startswith("_")
              and isinstance(v, (int, float, np.ndarray, jax.Array))}
    return (type(prior).__module__, type(prior).__qualname__, repr(params))


def _agree_on_done(path: Path, manifest: dict) -> np.ndarray:
    """Which chunks are finished: decided by process 0 (which writes the manifest of a new run), broadcast."""
    n = manifest["num_chunks"]
    status, err = np.zeros(n + 1, np.int32), None
    if jax.process_index() == 0:
        try:
            status[1:] = _check_directory(path, manifest)
        except (ValueError, OSError) as e:
            status[0], err = 1, e
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        status = np.asarray(multihost_utils.broadcast_one_to_all(status))
    if err is not None:
        raise err
    if status[0]:
        raise ValueError(f"process 0 refused the directory {str(path)!r} (see its error)")
    return status[1:].astype(bool)


def _check_directory(path: Path, manifest: dict) -> np.ndarray:
    file = path / MANIFEST
    if file.exists():
        old = json.loads(file.read_text())
        if old.get("format") != FORMAT:
            raise ValueError(f"{str(path)!r} holds no bayescale stream (its {MANIFEST} is not one)")
        if old.get("key") != manifest["key"]:
            raise ValueError(
                f"{str(path)!r} holds a run of other data or settings (law, priors, method, settings, seed, "
                "keep, quantiles, predict): give a new directory, or delete this one to start over")
        if old.get("layout") != manifest["layout"]:
            raise ValueError(
                f"{str(path)!r} holds this run in chunks of {old.get('chunk_sizes')} curves, but this call plans "
                f"chunks of {manifest['chunk_sizes']} (another chunk_size, memory or number of devices): resume "
                "with the first call's chunk_size= and memory= on the same number of devices")
    else:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise ValueError(f"{str(path)!r} is not empty and holds no bayescale stream: give a new directory")
        tmp = path / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, default=io._json_default))
        os.replace(tmp, file)
    return np.array([(path / _chunk_name(i)).exists() for i in range(manifest["num_chunks"])])


def _chunk_name(i: int) -> str:
    return f"chunk-{i:06d}.nc"


def _write_atomic(ds: xr.Dataset, file: Path) -> None:
    tmp = file.with_name(file.name + ".tmp")
    ds.to_netcdf(tmp, engine="h5netcdf")
    os.replace(tmp, file)


# ---------------------------------------------------------------- one chunk
def _data_dataset(rec: dict) -> xr.Dataset:
    data = {f"input_{k}": ("obs", v) for k, v in rec["inputs"].items()}
    data["y"] = ("obs", rec["y"])
    data["rows"] = ("row_entry", np.concatenate(rec["rows"]).astype(np.int64))
    data["rows_per_curve"] = ("curve", np.array([len(r) for r in rec["rows"]], np.int64))
    return xr.Dataset(data)


def chunk_fit(record: dict, index: np.ndarray, posterior: dict, sample_stats: dict, mode: dict,
              mode_ok: np.ndarray, curve_stats: dict | None = None, check: bool = True) -> Fit:
    """The :class:`Fit` of the curves ``index`` of a run (``record``: :attr:`Job.record`), from their draws.

    With ``check``, its diagnostics run as in ``bs.fit`` (their warnings are
    collected in ``problems`` rather than issued)."""
    rows = [record["rows"][j] for j in index]
    flat = np.concatenate(rows)
    local = np.split(np.arange(len(flat)), np.cumsum([len(r) for r in rows])[:-1])
    fields = dict(spec=record["spec"], method=record["method"], columns=record["columns"],
                  groups=[record["groups"][j] for j in index], rows=local,
                  inputs={k: v[flat] for k, v in record["inputs"].items()}, y=record["y"][flat],
                  settings=record["settings"], posterior=posterior, sample_stats=sample_stats, mode=mode,
                  mode_ok=mode_ok, curve_stats=curve_stats or {})
    if not check:
        return Fit(**fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", diagnostics.FitWarning)
        return Fit.from_draws(**fields)


def _chunk_dataset(job, call, outputs, x_new, keep, thin, quantiles, interval) -> xr.Dataset:
    n = call.real
    values, stats, mode, mode_ok = outputs[:4]
    curve_stats = {k: v[:n] for k, v in outputs[4].items()} if len(outputs) > 4 else {}  # auto: who served
    curve_stats = fitting.with_markov(job.engine, curve_stats, n)
    values = {k: v[:n] for k, v in values.items()}
    stats = {k: v[:n] for k, v in stats.items()}
    fit = chunk_fit(job.record, call.index, values, stats, {k: v[:n] for k, v in mode.items()}, mode_ok[:n],
                    curve_stats)
    names = fit.param_names
    summary = fit.summary(interval)
    # diagnostics() reads only r_hat and ESS of the summary, which do not depend on the interval: reuse it
    fit.summary = lambda interval=interval: summary
    stat_names = list(summary.columns)
    if fit.grouped:
        table = np.stack([summary[c].unstack(level=-1).reindex(index=fit.groups, columns=names).to_numpy(float)
                          for c in stat_names], axis=-1)
    else:
        table = np.stack([summary[c].reindex(names).to_numpy(float) for c in stat_names], axis=-1)[None]
    q = np.stack([np.quantile(fit.draws(k), quantiles, axis=1).T for k in names], axis=1)  # [n, params, q]
    diag = fit.diagnostics()
    coords = {"curve": np.asarray(call.index, np.int64), "parameter": names, "stat": stat_names,
              "quantile": list(quantiles)}
    data = {"summary": (("curve", "parameter", "stat"), table), "quantiles": (("curve", "parameter", "quantile"), q)}
    for c in diag.columns:
        data[f"diag_{c}"] = ("curve", diag[c].to_numpy())
    data.update({f"mode_{k}": ("curve", v) for k, v in fit.mode.items()})
    if x_new is not None:
        band = fit.predict(x_new, interval=interval)
        m = len(next(iter(x_new.values())))
        data["predict"] = (("curve", "point", "band"), np.stack([band[b].to_numpy().reshape(n, m) for b in BANDS], -1))
        coords.update(point=np.arange(m), band=list(BANDS))
    if keep != "summary":
        step = thin if keep == "thinned" else 1
        data.update({f"draws_{k}": (("curve", "chain", "draw"), v[:, :, ::step]) for k, v in values.items()})
        if keep == "all":
            data.update({f"stats_{k}": (("curve", "chain", "draw"), v) for k, v in stats.items()})
        data.update({f"cstat_{k}": ("curve", np.asarray(v)) for k, v in curve_stats.items()})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["problems"] = json.dumps(fit.problems)
    return ds


# ---------------------------------------------------------------- reading
def _fill_missing(parts: list[xr.Dataset]) -> list[xr.Dataset]:
    """Give every chunk every variable: ``auto`` has sampler statistics only in chunks where it ran a sampler
    (elsewhere: False, 0, NaN or "", as ``bs.fit`` fills them)."""
    from bayescale._src.engines.base import missing

    example = {}
    for ds in parts:
        for k, v in ds.data_vars.items():
            example.setdefault(k, v)
    out = []
    for ds in parts:
        absent = [k for k in example if k not in ds.data_vars]
        if absent:
            ds = ds.copy()
            for k in absent:
                v = example[k]
                shape = tuple(ds.sizes["curve"] if d == "curve" else v.sizes[d] for d in v.dims)
                ds[k] = (v.dims, np.full(shape, missing(v.dtype), v.dtype))
        out.append(ds)
    return out


@float64_methods
class StreamedFit:
    """The result of ``bs.fit_stream``: a directory read back as tables (``bs.load(path)`` opens one).

    Tables cover the finished chunks (all curves once ``complete``), curves in
    the table's group order. ``summary()``, ``diagnostics()`` and
    ``predictions()`` have the columns of ``Fit.summary()``, ``Fit.diagnostics()``
    and ``Fit.predict()``; ``to_fit()`` rebuilds a :class:`Fit` of chosen curves
    from the kept draws (``keep="thinned"`` or ``"all"``).
    """

    def __init__(self, path: str | os.PathLike, manifest: dict | None = None):
        self.path = Path(path)
        if manifest is None:
            file = self.path / MANIFEST
            if not file.is_file():
                raise FileNotFoundError(f"no bayescale stream at {str(self.path)!r} (no {MANIFEST})")
            manifest = json.loads(file.read_text())
            if manifest.get("format") != FORMAT or manifest.get("format_version", 0) > FORMAT_VERSION:
                raise ValueError(f"{str(self.path)!r} is not a bayescale stream this version reads")
        self.manifest = manifest
        self.groups = list(manifest["groups"])
        self.columns = Columns(dict(manifest["columns"]["inputs"]), manifest["columns"]["y"],
                               manifest["columns"]["group"])
        self.method = manifest["method"]
        self.keep = manifest["keep"]
        self.param_names = list(manifest["param_names"])

    # ------------------------------------------------------------ state
    def chunk_files(self) -> list[Path]:
        return [f for i in range(self.manifest["num_chunks"]) if (f := self.path / _chunk_name(i)).exists()]

    @property
    def complete(self) -> bool:
        """True when every chunk is finished."""
        return len(self.chunk_files()) == self.manifest["num_chunks"]

    @property
    def grouped(self) -> bool:
        return self.columns.group is not None

    def __len__(self) -> int:
        return len(self.groups)

    def __repr__(self) -> str:
        done = len(self.chunk_files())
        return (f"<StreamedFit law={self.manifest['law']} method={self.method} {len(self.groups)} curve(s), "
                f"keep={self.keep!r}, {done}/{self.manifest['num_chunks']} chunks at {str(self.path)!r}>")

    def _read(self, prefixes: Sequence[str]) -> tuple[xr.Dataset | None, list[str]]:
        parts, problems = [], []
        for f in self.chunk_files():
            with xr.open_dataset(f, engine="h5netcdf") as ds:
                keep = [v for v in ds.data_vars if v.startswith(tuple(prefixes))]
                parts.append(ds[keep].load())
                problems.extend(json.loads(ds.attrs.get("problems", "[]")))
        if not parts:
            return None, problems
        ds = xr.concat(_fill_missing(parts), dim="curve", data_vars="all", coords="minimal", compat="override")
        return ds.sortby("curve"), problems

    def _labels(self, curves: np.ndarray) -> list[Any]:
        return [self.groups[i] for i in curves]

    # ------------------------------------------------------------ tables
    @property
    def problems(self) -> list[str]:
        """The messages of the diagnostics that failed, over the finished chunks."""
        return self._read(["diag_"])[1]

    def summary(self) -> pd.DataFrame:
        """Per curve and parameter: ``Fit.summary()``'s columns (at the run's ``interval``) and the kept quantiles."""
        ds, _ = self._read(["summary", "quantiles"])
        if ds is None:
            return pd.DataFrame()
        n, p = ds.sizes["curve"], ds.sizes["parameter"]
        columns = {str(s): ds["summary"].values[:, :, j].reshape(-1) for j, s in enumerate(ds["stat"].values)}
        columns.update({f"{100 * q:g}%": ds["quantiles"].values[:, :, j].reshape(-1)
                        for j, q in enumerate(ds["quantile"].values)})
        params = [str(s) for s in ds["parameter"].values]
        if self.grouped:
            index = pd.MultiIndex.from_arrays(
                [np.repeat(np.asarray(self._labels(ds["curve"].values), dtype=object), p), np.tile(params, n)],
                names=[self.columns.group, "parameter"])
        else:
            index = pd.Index(params)
        return pd.DataFrame(columns, index=index)

    def diagnostics(self) -> pd.DataFrame:
        """One row per curve: ``Fit.diagnostics()``'s columns."""
        ds, _ = self._read(["diag_"])
        if ds is None:
            return pd.DataFrame()
        index = pd.Index(self._labels(ds["curve"].values) if self.grouped else [0],
                         name=self.columns.group if self.grouped else "curve")
        table = pd.DataFrame({k[len("diag_"):]: ds[k].values for k in ds.data_vars}, index=index)
        for c in ("mode_ok", "ok"):
            if c in table:
                table[c] = table[c].astype(bool)
        return table

    def mode(self) -> pd.DataFrame:
        """The posterior mode of each curve, one column per site."""
        ds, _ = self._read(["mode_"])
        if ds is None:
            return pd.DataFrame()
        index = pd.Index(self._labels(ds["curve"].values), name=self.columns.group or "curve")
        return pd.DataFrame({k[len("mode_"):]: ds[k].values for k in ds.data_vars}, index=index)

    def predictions(self) -> pd.DataFrame:
        """The bands at the run's ``predict=`` inputs, as ``Fit.predict`` gives them (mean, median, lower, upper)."""
        if self.manifest.get("predict") is None:
            raise ValueError("this run kept no predictions: pass predict= to bs.fit_stream")
        ds, _ = self._read(["predict"])
        if ds is None:
            return pd.DataFrame()
        x = {k: np.asarray(v) for k, v in self.manifest["predict"].items()}
        n, m = ds.sizes["curve"], ds.sizes["point"]
        frame = pd.DataFrame({self.columns.inputs[k]: np.tile(v, n) for k, v in x.items()})
        for j, b in enumerate(BANDS):
            frame[b] = ds["predict"].values[:, :, j].reshape(-1)
        if self.grouped:
            frame.insert(0, self.columns.group, np.repeat(np.asarray(self._labels(ds["curve"].values), object), m))
        return frame

    # ------------------------------------------------------------ draws
    def to_fit(self, groups: Sequence[Any] | None = None) -> Fit:
        """A :class:`Fit` of the curves ``groups`` (default: every finished curve) from the kept draws.

        With ``keep="all"`` it holds every draw (and equals ``bs.fit``'s); with
        ``keep="thinned"``, every ``thin``-th draw. Mind the memory: this loads
        the draws of every chosen curve.
        """
        if self.keep == "summary":
            raise ValueError("this run kept no draws (keep='summary'): rerun with keep='thinned' or 'all'")
        ds, problems = self._read(["draws_", "stats_", "cstat_", "mode_", "diag_mode_ok"])
        if ds is None:
            raise ValueError("no chunk of this run is finished yet")
        if groups is not None:
            position = {g: i for i, g in enumerate(self.groups)}
            missing = [g for g in groups if g not in position]
            if missing:
                raise KeyError(f"no group(s) {missing} in column {self.columns.group!r}")
            wanted = np.array([position[g] for g in groups], np.int64)
            if not np.isin(wanted, ds["curve"].values).all():
                raise ValueError("some of these curves are in chunks that are not finished yet")
            ds = ds.sel(curve=wanted)
        from bayescale import laws

        with xr.open_dataset(self.path / DATA, engine="h5netcdf") as data:
            data = data.load()
        law = laws.get(self.manifest["law"])
        rows = np.split(data["rows"].values, np.cumsum(data["rows_per_curve"].values)[:-1])
        record = dict(spec=self._spec(law), method=self.method,
                      columns=self.columns, groups=self.groups, rows=rows,
                      inputs={k: data[f"input_{k}"].values for k in law.inputs}, y=data["y"].values,
                      settings={k: self.manifest["settings"][k] for k in
                                ("seed", "chains", "draws", "warmup", "dtype", "pooling", "posterior")})
        curves = ds["curve"].values
        fit = chunk_fit(record, curves,
                        {k[6:]: ds[k].values for k in ds.data_vars if k.startswith("draws_")},
                        {k[6:]: ds[k].values for k in ds.data_vars if k.startswith("stats_")},
                        {k[5:]: ds[k].values for k in ds.data_vars if k.startswith("mode_") and k != "mode_ok"},
                        ds["diag_mode_ok"].values.astype(bool),
                        {k[6:]: ds[k].values for k in ds.data_vars if k.startswith("cstat_")}, check=False)
        labels = set(self._labels(curves))
        fit.problems = [p for p in problems if any(p.startswith(f"curve {g!r}: ") for g in labels)
                        or (not self.grouped)]
        return fit

    def _spec(self, law):
        from bayescale._src.model.model import Likelihood, ModelSpec
        from bayescale._src.model.prior_records import decode_prior

        record = self.manifest.get("spec")
        if record is None:
            raise ValueError("this run's priors could not be recorded (a distribution bayescale cannot write), "
                             "so its Fit cannot be rebuilt; the tables are complete")
        priors = tuple((name, decode_prior(r)) for name, r in record["priors"].items())
        return ModelSpec(law, priors, Likelihood(**record["likelihood"]), joint_from_record(record.get("joint")))
