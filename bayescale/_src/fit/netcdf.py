"""Save a fit to one netCDF file and load it back: ``fit.save(path)``, ``bs.load(path)``.

The file is an ``arviz.InferenceData`` written with h5netcdf, so arviz and
xarray read it directly:

- ``posterior``: every site as ``[chain, draw, curve]`` (the population
  parameters of a partially pooled fit as ``[chain, draw]``),
- ``sample_stats``: the NUTS statistics, ``[chain, draw, curve]``,
- ``observed_data``: the loss column,
- ``constant_data``: the law's inputs, the rows of each curve, the posterior
  mode and its Hessian check, numeric per-curve statistics (``curve_stat_<name>``),
- root attributes: ``bayescale_format``, ``bayescale_format_version`` and a
  JSON ``bayescale_fit`` record with the law name, the priors, the likelihood,
  the columns, the group labels, the settings and the diagnostics' messages.

Priors are written as records (:mod:`bayescale._src.model.prior_records`). The arrays are stored
losslessly, so a loaded fit predicts, summarizes and allocates exactly as the
one saved. A law is stored by name: a user-registered law must be registered
again (``bs.laws.register``) before its fits are loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from bayescale import laws
from bayescale._src.model.data import Columns
from bayescale._src.model.joint_prior import joint_from_record, joint_record
from bayescale._src.model.model import Likelihood, ModelSpec
from bayescale._src.model.prior_records import decode_prior, encode_prior

FORMAT = "bayescale.fit"
FORMAT_VERSION = 1
_CURVE, _ROW = "curve", "row_entry"


# ---------------------------------------------------------------- save
def save(fit, path: str | os.PathLike) -> Path:
    """Write ``fit`` to ``path`` (netCDF); return the path. See the module docstring for the layout."""
    path = Path(path)
    meta = {
        "law": fit.law.name,
        "law_params": list(fit.law.param_names),
        "law_inputs": list(fit.law.inputs),
        "priors": {name: encode_prior(p) for name, p in fit.spec.priors},
        "likelihood": fit.spec.likelihood._asdict(),
        "joint": joint_record(fit.spec.joint),
        "method": fit.method,
        "columns": fit.columns._asdict(),
        "groups": [_label(g) for g in fit.groups],
        "settings": fit.settings,
        "problems": list(fit.problems),
        "hyper": sorted(fit.hyper),
        "mode": sorted(fit.mode),
        # text statistics (which engine served a curve) in the record, numbers in constant_data
        "curve_text": {k: [str(x) for x in v] for k, v in fit.curve_stats.items() if v.dtype.kind in "USO"},
        "curve_stats": sorted(k for k, v in fit.curve_stats.items() if v.dtype.kind not in "USO"),
    }
    curve_dims = ("chain", "draw", _CURVE)
    posterior = {k: (curve_dims, np.moveaxis(v, 0, -1)) for k, v in fit.posterior.items()}
    posterior.update({k: (("chain", "draw"), v) for k, v in fit.hyper.items()})
    groups = {"posterior": xr.Dataset(posterior)}
    if fit.sample_stats:
        stats = {k: (curve_dims, np.moveaxis(v, 0, -1)) for k, v in fit.sample_stats.items()}
        groups["sample_stats"] = xr.Dataset(stats)
    groups["observed_data"] = xr.Dataset({"y": ("obs", fit.y)})
    constant = {f"input_{k}": ("obs", v) for k, v in fit.inputs.items()}
    constant["rows"] = (_ROW, np.concatenate(fit.rows).astype(np.int64))
    constant["rows_per_curve"] = (_CURVE, np.array([len(r) for r in fit.rows], np.int64))
    constant["mode_ok"] = (_CURVE, np.asarray(fit.mode_ok, bool))
    if fit.runs is not None:
        constant["run_code"] = ("obs", np.asarray(fit.runs, np.int64))
    constant.update({f"mode_{k}": (_CURVE, v) for k, v in fit.mode.items()})
    constant.update({f"curve_stat_{k}": (_CURVE, fit.curve_stats[k]) for k in meta["curve_stats"]})
    groups["constant_data"] = xr.Dataset(constant)
    from bayescale._src.version import __version__

    attrs = {
        "bayescale_format": FORMAT,
        "bayescale_format_version": FORMAT_VERSION,
        "bayescale_version": __version__,
        "bayescale_fit": json.dumps(meta, default=_json_default),
    }
    az.InferenceData(attrs=attrs, **groups).to_netcdf(str(path))
    return path


def _label(label: Any) -> Any:
    if label is None or isinstance(label, (str, bool, int, float)):
        return label
    if isinstance(label, np.generic) and isinstance(label.item(), (str, bool, int, float)):
        return label.item()
    raise ValueError(f"cannot save group label {label!r} of type {type(label).__name__}; use str or numeric labels")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise ValueError(f"cannot save fit setting {value!r} of type {type(value).__name__}")


# ---------------------------------------------------------------- load
def read(path: str | os.PathLike) -> dict[str, Any]:
    """The fields of a :class:`~bayescale._src.fit.results.Fit` saved at ``path`` (``bs.load`` builds the fit)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no fit file at {str(path)!r}")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except (OSError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a bayescale fit file (not readable as netCDF: {err})") from None
    attrs = dict(idata.attrs)
    if attrs.get("bayescale_format") != FORMAT or "bayescale_fit" not in attrs:
        raise ValueError(f"{str(path)!r} is not a bayescale fit file (no {FORMAT!r} format attribute)")
    version = attrs.get("bayescale_format_version")
    version = version.item() if isinstance(version, np.generic) else version
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has bayescale fit format version {version!r}, which this bayescale "
            f"(reads versions 1..{FORMAT_VERSION}) does not know; upgrade bayescale to load it"
        )
    meta = json.loads(attrs["bayescale_fit"])
    law = _registered_law(meta)
    priors = tuple((name, decode_prior(record)) for name, record in meta["priors"].items())
    hyper_names = set(meta["hyper"])
    post = idata.posterior
    const = idata.constant_data
    cols = meta["columns"]
    return dict(
        spec=ModelSpec(law, priors, Likelihood(**meta["likelihood"]), joint_from_record(meta.get("joint"))),
        method=meta["method"],
        columns=Columns(dict(cols["inputs"]), cols["y"], cols["group"], cols.get("run")),
        runs=const["run_code"].values if "run_code" in const else None,
        groups=meta["groups"],
        rows=np.split(const["rows"].values, np.cumsum(const["rows_per_curve"].values)[:-1]),
        inputs={k: const[f"input_{k}"].values for k in law.inputs},
        y=idata.observed_data["y"].values,
        # curves first and C-contiguous, as a fresh fit holds them: reductions then sum in the same order
        posterior={k: _curves_first(post[k]) for k in post.data_vars if k not in hyper_names},
        sample_stats={k: _curves_first(v) for k, v in idata.sample_stats.data_vars.items()}
        if "sample_stats" in idata.groups() else {},
        settings=meta["settings"],
        mode={k: const[f"mode_{k}"].values for k in meta["mode"]},
        mode_ok=const["mode_ok"].values.astype(bool),
        curve_stats={**{k: const[f"curve_stat_{k}"].values for k in meta.get("curve_stats", [])},
                     **{k: np.asarray(v, dtype=str) for k, v in meta.get("curve_text", {}).items()}},
        hyper={k: np.ascontiguousarray(post[k].values) for k in meta["hyper"]},
        problems=list(meta["problems"]),
    )


def _curves_first(values: xr.DataArray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(values.values, -1, 0))


def _registered_law(meta: dict) -> laws.Law:
    name = meta["law"]
    if name not in laws.names() and not name.startswith(laws.downstream.KINDS):  # those are built from their names
        raise ValueError(
            f"the fit in this file uses law {name!r}, which is not registered; "
            f"register it with bs.laws.register(...) before loading"
        )
    law = laws.get(name)
    if list(law.param_names) != meta["law_params"] or list(law.inputs) != meta["law_inputs"]:
        raise ValueError(
            f"the registered law {name!r} takes {list(law.inputs)} with parameters {list(law.param_names)}, "
            f"but the fit was made with {meta['law_inputs']} and {meta['law_params']}"
        )
    return law
