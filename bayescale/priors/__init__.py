"""Priors: the law's defaults, literature presets, transfer from earlier fits, populations of curves, user overrides.

Priors are NumPyro distributions in natural units. Each law's defaults are in
its parameter spec (``bs.laws.table()`` and :func:`defaults` list them); the
noise scale ``sigma`` of the log-space likelihood defaults to HalfNormal(0.1).
``bs.fit(..., priors=...)`` takes

- a preset name (:func:`presets` lists them; see :mod:`bayescale.priors.presets`),
- a dict of parameter -> distribution (from the user, from :func:`from_fit`,
  or from :func:`from_curves`, the population prior of a corpus of curves),
  replacing the defaults of those parameters only.

A user prior must have the same support as the default (an exponent stays
positive, an irreducible loss non-negative): the sampler's coordinates depend
on it.
"""

from __future__ import annotations

from typing import Mapping

import numpyro.distributions as dist
import pandas as pd

from bayescale._src.model import NOISE, default_noise_prior
from bayescale._src.prior_records import prior_key
from bayescale.laws import Law
from bayescale.priors import presets as _presets
from bayescale.priors.population import from_curves, population_priors
from bayescale.priors.transfer import from_fit

PriorSpec = str | Mapping[str, dist.Distribution] | None


def presets() -> list[str]:
    """Names of the literature presets (``bs.fit(..., priors=name)``)."""
    return _presets.names()


def preset(name: str, law: str | Law) -> dict[str, dist.Distribution]:
    """The priors preset ``name`` gives ``law``, as a dict that can be edited and passed to ``bs.fit``."""
    law_name = law.name if isinstance(law, Law) else law
    return _presets.for_law(name, law_name)


def preset_table() -> pd.DataFrame:
    """Every preset with its source, the values it is centred on and the laws it covers."""
    rows = [
        {"preset": p.name, "source": p.citation, "centred on": p.note, "laws": ", ".join(p.laws)}
        for p in _presets.PRESETS.values()
    ]
    return pd.DataFrame(rows).set_index("preset")


def defaults(law: Law) -> dict[str, dist.Distribution]:
    """The default prior of every parameter of ``law``, plus ``sigma``."""
    out = {p.name: p.prior for p in law.params}
    out[NOISE] = default_noise_prior()
    return out


def resolve(law: Law, priors: PriorSpec) -> tuple[tuple[str, dist.Distribution], ...]:
    """Merge a preset name or user priors into the defaults, checking names and supports."""
    merged = defaults(law)
    if isinstance(priors, str):
        priors = preset(priors, law)
    elif priors is not None and not isinstance(priors, Mapping):
        raise TypeError(f"priors must be a preset name or a dict of distributions, got {type(priors).__name__}")
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


def table(law: Law | str, priors: PriorSpec = None) -> pd.DataFrame:
    """The priors a fit of ``law`` would use, one row per parameter."""
    from bayescale import laws

    law = laws.get(law)
    default = defaults(law)
    rows = [
        {"parameter": k, "prior": describe(v), "default": prior_key(v) == prior_key(default[k])} for k, v in resolve(law, priors)
    ]
    return pd.DataFrame(rows).set_index("parameter")


def is_default(law: Law, name: str, prior: dist.Distribution) -> bool:
    """True when ``prior`` is the law's own default for ``name`` (a weakly-informative prior)."""
    return prior_key(prior) == prior_key(defaults(law)[name])


__all__ = [
    "defaults",
    "resolve",
    "describe",
    "table",
    "presets",
    "preset",
    "preset_table",
    "from_fit",
    "from_curves",
    "population_priors",
    "is_default",
]
