"""Priors as JSON-able records, and the value key that lets equal priors share compiled programs.

A prior is recorded as its class name and constructor arguments (the keys of
``arg_constraints``); a ``TransformedDistribution`` (as made by
:func:`bayescale.priors.from_fit`) as its base distribution and its
transforms, and truncated distributions as their base and bounds. Two priors
with equal records are the same distribution: :func:`prior_key` is that record
as a string, so a model spec (and so a compiled program) is keyed by what its
priors are, not by which Python objects hold them.
"""

from __future__ import annotations

import json
from typing import Any, Hashable

import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import transforms as T


def prior_key(prior: dist.Distribution) -> Hashable:
    """A hashable key equal for priors of the same type and parameters.

    Priors that cannot be recorded (a user's own distribution class, array
    arguments) are keyed by identity: they never share a program by accident.
    """
    try:
        return json.dumps(_encode(prior), sort_keys=True)
    except ValueError:
        return ("object", id(prior))


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


def is_default(law, name: str, prior) -> bool:
    """True when ``prior`` is the default (weakly-informative) prior of ``law``'s parameter ``name``."""
    return prior_key(prior) == prior_key(law.param(name).prior)
