"""How ``bs.fit``'s ``priors=`` argument becomes the priors of every site: the law's defaults, merged.

Kept apart from the package's ``__init__`` so that the fitting code, which
every other part of the package imports, does not import what builds priors
by fitting (:mod:`bayescale.priors.population`).
"""

from __future__ import annotations

from typing import Mapping

import numpyro.distributions as dist

from bayescale._src.model import runs as runs_mod
from bayescale._src.model.joint_prior import JointPrior, check_joint
from bayescale._src.model.model import NOISE, ModelSpec, default_likelihood, default_noise_prior, make_likelihood
from bayescale.laws import Law
from bayescale.priors import shipped as _shipped
from bayescale.priors import presets as _presets

PriorSpec = str | Mapping[str, dist.Distribution] | None


def preset(name: str, law: str | Law) -> dict[str, dist.Distribution]:
    """The priors preset ``name`` gives ``law``, as a dict that can be edited and passed to ``bs.fit``."""
    law_name = law.name if isinstance(law, Law) else law
    if name not in _presets.names():
        raise ValueError(f"unknown prior preset {name!r}; presets: {', '.join(_presets.names())}; population priors "
                         f"learned from real curves: {', '.join(_shipped.names())}")
    return _presets.for_law(name, law_name)


def defaults(law: Law) -> dict[str, dist.Distribution]:
    """The default prior of every parameter of ``law``, plus ``sigma``."""
    out = {p.name: p.prior for p in law.params}
    out[NOISE] = default_noise_prior()
    return out


def named(priors: PriorSpec) -> PriorSpec:
    """``priors``, with the name of a shipped population prior (``bs.priors.table()``) replaced by it."""
    if isinstance(priors, str) and priors in _shipped.names():
        return _shipped.learned(priors)
    return priors


def resolve(law: Law, priors: PriorSpec) -> tuple[tuple[str, dist.Distribution], ...]:
    """Merge a preset name, a shipped population prior's name or user priors into the defaults, checking names
    and supports."""
    merged = defaults(law)
    priors = named(priors)
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


def joint_of(law: Law, priors: PriorSpec) -> JointPrior | None:
    """The joint prior carried by ``priors`` (a :class:`~bayescale._src.model.joint_prior.PopulationPrior`), checked
    against ``law`` (a shipped one by name, see :func:`named`); None for presets and plain dicts, whose
    parameters are independent."""
    joint = getattr(named(priors), "joint", None)
    if joint is None:
        return None
    if not isinstance(joint, JointPrior):
        raise TypeError(f"priors.joint must be a JointPrior, got {type(joint).__name__}")
    check_joint(joint, law.name, [*law.param_names, NOISE])
    return joint


def model_spec(law: Law, priors: PriorSpec, likelihood) -> ModelSpec:
    """The model of ``law`` under the ``priors=`` and ``likelihood=`` arguments of :func:`bayescale.fit` (None:
    the law's default likelihood), joint population prior included; the one place a :class:`ModelSpec` is built
    from a user's arguments. A likelihood of correlated runs (``runs=True``) adds the priors of ``run_sd`` and
    ``run_length`` (defaults, or from ``priors``)."""
    lik = make_likelihood(default_likelihood(law, likelihood))
    joint = joint_of(law, priors)  # first: a population prior of another law is named as such, not as unknown priors
    if not lik.runs:
        return ModelSpec(law, resolve(law, priors), lik, joint)
    law_priors, run_priors = runs_mod.split_priors(priors)
    return ModelSpec(law, resolve(law, law_priors) + tuple(run_priors.items()), lik, joint)
