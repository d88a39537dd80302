"""Priors: the law's defaults, literature presets, transfer from earlier fits, populations of curves, user overrides.

Priors are NumPyro distributions in natural units. Each law's defaults are in
its parameter spec (``bs.laws.table()`` and :func:`defaults` list them); the
noise scale ``sigma`` of the likelihood defaults to LogNormal(log 0.02, 1).
``bs.fit(..., priors=...)`` takes

- a literature preset's name (:func:`names` and :func:`table` list them with the
  shipped population priors; see :mod:`bayescale.priors.presets`),
- a dict of parameter -> distribution (from the user or from :func:`from_fit`),
  replacing the defaults of those parameters only,
- a :class:`PopulationPrior` from :func:`from_curves` (the population of a
  corpus of curves): per-parameter marginals plus a joint prior that keeps
  the parameters' correlations; :func:`save_population` and
  :func:`load_population` keep one as JSON,
- the name of a population prior shipped with bayescale, learned from real
  curves (:func:`learned`, :mod:`bayescale.priors.shipped`).

:func:`used` shows the priors a fit of a law would use, one row per parameter.

A user prior must have the same support as the default (an exponent stays
positive, an irreducible loss non-negative): the sampler's coordinates depend
on it.
"""

from __future__ import annotations

import numpyro.distributions as dist
import pandas as pd

from bayescale._src.model.joint_prior import JointPrior, PopulationPrior
from bayescale._src.model.prior_records import prior_key
from bayescale.laws import Law
from bayescale.priors import presets as _presets
from bayescale.priors import shipped as _shipped
from bayescale.priors.shipped import learned, load_population, save_population
from bayescale.priors.merge import PriorSpec, defaults, preset, resolve
from bayescale.priors.population import from_curves, from_fits, population_priors
from bayescale.priors.transfer import from_fit


def names() -> list[str]:
    """Every prior that ``bs.fit(..., priors=name)`` takes by name: the literature presets, then the population
    priors shipped with bayescale."""
    return _presets.names() + _shipped.names()


def table() -> pd.DataFrame:
    """Every named prior (index ``prior``): its ``kind`` (``"preset"``: centred on a published fit;
    ``"learned"``: a population prior learned from a corpus of real curves), the ``laws`` it covers, what it is
    centred on or learned from (``description``) and its ``source``."""
    rows = [
        {"prior": p.name, "kind": "preset", "laws": ", ".join(p.laws), "description": p.note, "source": p.citation}
        for p in _presets.PRESETS.values()
    ]
    for name, row in _shipped.learned_table().iterrows():
        rows.append({"prior": name, "kind": "learned", "laws": row["law"],
                     "description": f"{row['curves']} {row['domain']} curves of {row['dataset']} "
                                    f"({row['x']} -> {row['y']}; reference inputs {row['reference inputs']})",
                     "source": row["source"]})
    return pd.DataFrame(rows).set_index("prior")


def describe(prior: dist.Distribution) -> str:
    """Short text for a distribution, e.g. ``LogNormal(loc=-1.2, scale=1)``."""
    args = ", ".join(
        f"{k}={float(getattr(prior, k)):.4g}" for k in getattr(prior, "arg_constraints", {}) if hasattr(prior, k)
    )
    return f"{type(prior).__name__}({args})"


def used(law: Law | str, priors: PriorSpec = None) -> pd.DataFrame:
    """The priors a fit of ``law`` with ``priors=`` would use, one row per parameter (``default``: the law's own)."""
    from bayescale import laws

    law = laws.get(law)
    default = defaults(law)
    rows = [
        {"parameter": k, "prior": describe(v), "default": prior_key(v) == prior_key(default[k])} for k, v in resolve(law, priors)
    ]
    return pd.DataFrame(rows).set_index("parameter")


def is_default(law: Law, name: str, prior: dist.Distribution) -> bool:
    """True when ``prior`` is the law's own default for ``name`` (a weakly-informative prior)."""
    return prior_key(prior) == prior_key(defaults(law)[name])  # sigma too, unlike prior_records.is_default


__all__ = [
    "defaults",
    "resolve",
    "describe",
    "names",
    "table",
    "used",
    "preset",
    "from_fit",
    "from_curves",
    "from_fits",
    "PopulationPrior",
    "JointPrior",
    "population_priors",
    "learned",
    "save_population",
    "load_population",
    "is_default",
]
