"""Save a fit to one netCDF file and load it back: ``fit.save(path)``, ``bs.load(path)``.

The file is an ``arviz.InferenceData`` written with h5netcdf, so arviz and
xarray read it directly:

- ``posterior``: every site as ``[chain, draw, curve]`` (the population
  parameters of a partially pooled fit as ``[chain, draw]``),
- ``sample_stats``: the NUTS statistics, ``[chain, draw, curve]``,
- ``observed_data``: the loss column,
- ``constant_data``: the law's inputs, the rows of each curve, the posterior
  mode and its Hessian check,
- root attributes: ``bayescale_format``, ``bayescale_format_version`` and a
  JSON ``bayescale_fit`` record with the law name, the priors, the likelihood,
  the columns, the group labels, the settings and the diagnostics' messages.

Priors are written as their class name and constructor arguments (the keys of
``arg_constraints``); a ``TransformedDistribution`` (as made by
:func:`bayescale.priors.from_fit`) as its base distribution and its transforms,
and truncated distributions as their base and bounds. The arrays are stored
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
import numpyro.distributions as dist
import xarray as xr
from numpyro.distributions import transforms as T

from bayescale import laws
from bayescale._src.data import Columns
from bayescale._src.model import Likelihood, ModelSpec
from bayescale.priors import defaults as default_priors

FORMAT = "bayescale.fit"
FORMAT_VERSION = 1
_CURVE, _ROW = "curve", "row_entry"


# ---------------------------------------------------------------- priors as JSON
def encode_prior(prior: dist.Distribution) -> dict:
    """A JSON-able record of a prior, checked to rebuild the same distribution."""
    record = _encode(prior)
    try:
        same = _encode(decode_prior(record)) == record
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValueError(
            f"cannot save prior {type(prior).__name__}: it does not rebuild from its arguments "
            f"{sorted(record.get('params', {}))}; use a standard numpyro distribution with scalar arguments"
        )
    return record


def decode_prior(record: dict) -> dist.Distribution:
    """The distribution of a record made by :func:`encode_prior`."""
    kind = record["type"]
    if kind == "TransformedDistribution":
        return dist.TransformedDistribution(
            decode_prior(record["base"]), [_decode_transform(t) for t in record["transforms"]]
        )
    if kind in _TRUNCATED:
        return getattr(dist, kind)(decode_prior(record["base"]), **record["params"])
    cls = getattr(dist, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, dist.Distribution)):
        raise ValueError(f"unknown prior distribution {kind!r} in the file")
    return cls(**record["params"])


_TRUNCATED = {"LeftTruncatedDistribution": ("low",), "RightTruncatedDistribution": ("high",),
              "TwoSidedTruncatedDistribution": ("low", "high")}


def _encode(prior: Any) -> dict:
    kind = type(prior).__name__
    if isinstance(prior, dist.TransformedDistribution) and kind == "TransformedDistribution":
        transforms = [_encode_transform(t) for t in prior.transforms]
        return {"type": kind, "base": _encode(prior.base_dist), "transforms": transforms}
    if kind in _TRUNCATED:
        return {"type": kind, "base": _encode(prior.base_dist),
                "params": {k: _scalar(getattr(prior, k), k) for k in _TRUNCATED[kind]}}
    if not isinstance(prior, dist.Distribution) or getattr(dist, kind, None) is not type(prior):
        raise ValueError(f"cannot save prior of type {kind}: only numpyro.distributions classes are supported")
    params = {k: _scalar(getattr(prior, k), f"{kind}.{k}") for k in prior.arg_constraints if hasattr(prior, k)}
    return {"type": kind, "params": params}


def _scalar(value: Any, what: str) -> float:
    array = np.asarray(value)
    if array.shape != ():
        raise ValueError(f"cannot save prior argument {what}: it is not a scalar (shape {array.shape})")
    return float(array)


def _encode_transform(t: T.Transform) -> dict:
    if isinstance(t, T.ComposeTransform):
        return {"type": "ComposeTransform", "parts": [_encode_transform(p) for p in t.parts]}
    if isinstance(t, T.AffineTransform):
        return {"type": "AffineTransform", "loc": _scalar(t.loc, "loc"), "scale": _scalar(t.scale, "scale")}
    if isinstance(t, T.PowerTransform):
        return {"type": "PowerTransform", "exponent": _scalar(t.exponent, "exponent")}
    if type(t) in (T.ExpTransform, T.SigmoidTransform, T.IdentityTransform, T.SoftplusTransform):
        return {"type": type(t).__name__}
    raise ValueError(f"cannot save a prior with transform {type(t).__name__}")


def _decode_transform(record: dict) -> T.Transform:
    kind = record["type"]
    if kind == "ComposeTransform":
        return T.ComposeTransform([_decode_transform(p) for p in record["parts"]])
    if kind == "AffineTransform":
        return T.AffineTransform(record["loc"], record["scale"])
    if kind == "PowerTransform":
        return T.PowerTransform(record["exponent"])
    if kind in ("ExpTransform", "SigmoidTransform", "IdentityTransform", "SoftplusTransform"):
        return getattr(T, kind)()
    raise ValueError(f"unknown transform {kind!r} in the file")


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
        "method": fit.method,
        "columns": fit.columns._asdict(),
        "groups": [_label(g) for g in fit.groups],
        "settings": fit.settings,
        "problems": list(fit.problems),
        "hyper": sorted(fit.hyper),
        "mode": sorted(fit.mode),
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
    constant.update({f"mode_{k}": (_CURVE, v) for k, v in fit.mode.items()})
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
def load(path: str | os.PathLike):
    """Read a fit written by :meth:`Fit.save <bayescale._src.results.Fit.save>`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a bayescale fit, comes from a newer format version, or
        names a law that is not registered.
    """
    from bayescale._src.results import Fit

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
    spec = ModelSpec(law, _priors(law, meta["priors"]), Likelihood(**meta["likelihood"]))

    hyper_names = set(meta["hyper"])
    post = idata.posterior
    # curves first and C-contiguous, as a fresh fit holds them: reductions then sum in the same order
    posterior = {k: _curves_first(post[k]) for k in post.data_vars if k not in hyper_names}
    hyper = {k: np.ascontiguousarray(post[k].values) for k in meta["hyper"]}
    stats = {}
    if "sample_stats" in idata.groups():
        stats = {k: _curves_first(v) for k, v in idata.sample_stats.data_vars.items()}
    const = idata.constant_data
    rows = np.split(const["rows"].values, np.cumsum(const["rows_per_curve"].values)[:-1])
    cols = meta["columns"]
    result = Fit(
        spec=spec,
        method=meta["method"],
        columns=Columns(dict(cols["inputs"]), cols["y"], cols["group"]),
        groups=meta["groups"],
        rows=rows,
        inputs={k: const[f"input_{k}"].values for k in law.inputs},
        y=idata.observed_data["y"].values,
        posterior=posterior,
        sample_stats=stats,
        settings=meta["settings"],
        mode={k: const[f"mode_{k}"].values for k in meta["mode"]},
        mode_ok=const["mode_ok"].values.astype(bool),
        hyper=hyper,
    )
    result.problems = list(meta["problems"])
    return result


def _curves_first(values: xr.DataArray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(values.values, -1, 0))


def _registered_law(meta: dict) -> laws.Law:
    name = meta["law"]
    if name not in laws.names():
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


def _priors(law: laws.Law, records: dict) -> tuple:
    # reuse the law's own default objects: specs (and compiled programs) are cached on prior identity,
    # and the prior-dominance check recognizes defaults by identity
    defaults = default_priors(law)
    out = []
    for name, record in records.items():
        default = defaults.get(name)
        if default is not None and _encode(default) == record:
            out.append((name, default))
        else:
            out.append((name, decode_prior(record)))
    return tuple(out)
