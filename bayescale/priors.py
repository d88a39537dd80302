"""Priors: the law's defaults, overridden per parameter by the user.

Priors are NumPyro distributions in natural units. Each law's defaults are in
its parameter spec (``bs.laws.table()`` and :func:`defaults` list them); the
noise scale ``sigma`` of the log-space likelihood defaults to HalfNormal(0.1).
A user prior must have the same support as the default (an exponent stays
positive, an irreducible loss non-negative): the sampler's coordinates depend
on it.
"""

from __future__ import annotations

from typing import Mapping

import numpyro.distributions as dist
import pandas as pd

from bayescale.laws import Law
from bayescale.model import NOISE, default_noise_prior


def defaults(law: Law) -> dict[str, dist.Distribution]:
    """The default prior of every parameter of ``law``, plus ``sigma``."""
    out = {p.name: p.prior for p in law.params}
    out[NOISE] = default_noise_prior()
    return out


def resolve(law: Law, priors: Mapping[str, dist.Distribution] | None) -> tuple[tuple[str, dist.Distribution], ...]:
    """Merge user priors into the defaults, checking names and supports."""
    merged = defaults(law)
    for name, prior in (priors or {}).items():
        if name not in merged:
            raise ValueError(f"prior given for {name!r}, which law {law.name!r} does not have; it has {list(merged)}")
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"the prior of {name!r} must be a numpyro Distribution, got {type(prior).__name__}")
        if prior.batch_shape or prior.event_shape:
            raise ValueError(f"the prior of {name!r} must be scalar, got batch shape {prior.batch_shape}")
        want = merged[name].support
        if type(prior.support) is not type(want):
            raise ValueError(f"the prior of {name!r} must have support {want}, got {prior.support}")
        merged[name] = prior
    return tuple(merged.items())


def describe(prior: dist.Distribution) -> str:
    """Short text for a distribution, e.g. ``LogNormal(loc=-1.2, scale=1)``."""
    args = ", ".join(
        f"{k}={float(getattr(prior, k)):.4g}" for k in getattr(prior, "arg_constraints", {}) if hasattr(prior, k)
    )
    return f"{type(prior).__name__}({args})"


def table(law: Law, priors: Mapping[str, dist.Distribution] | None = None) -> pd.DataFrame:
    """The priors a fit of ``law`` would use, one row per parameter."""
    rows = [{"parameter": k, "prior": describe(v)} for k, v in resolve(law, priors)]
    return pd.DataFrame(rows).set_index("parameter")
