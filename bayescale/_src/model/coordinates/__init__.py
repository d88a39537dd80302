"""Sampling coordinates: one protocol, one registry, one module per map.

A law may declare the coordinates its fits sample (``Law.coordinates``: a small
NamedTuple such as :class:`~bayescale.laws.base.Ends` naming the parameters and
inputs of its core). Each module of this package implements the map for one
declaration type and exports ``MAP``, a :class:`CoordinateMap` of pure
functions; the registry finds every module's ``MAP`` by itself, so a new map is
one new module here (its declaration type included, or imported from
:mod:`bayescale.laws.base`). The model (:mod:`bayescale._src.model.model`) asks
:func:`for_spec` which map, if any, a fit samples.

Why: nearly flat or saturating curves pin down the law's level and fall over
the observed range, not its amplitude and exponent; sampling those quantities
(with the Jacobian of the map) keeps the posterior close to Gaussian, so the
Laplace proposal, importance sampling and NUTS all work (see each module).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any, Callable, Mapping, NamedTuple


class CoordinateMap(NamedTuple):
    """The protocol of a coordinate map: the declaration it serves and four pure functions.

    Attributes
    ----------
    declaration
        The type of ``Law.coordinates`` this map serves.
    site_names
        ``site_names(declaration) -> tuple[str, ...]``: the names of the sampler's coordinates.
    applies
        ``applies(spec, given) -> bool``: whether the map applies to ``spec``'s priors when the parameters in
        ``given`` come from elsewhere (e.g. a hierarchical prior); where it does not, the fit samples the
        reference-scale coordinates.
    sample
        ``sample(spec, inputs, log_y, mask) -> {parameter: value}``: inside a NumPyro trace, sample the
        coordinates as flat sites and add one factor with the priors of the natural values and the map's
        log-Jacobian.
    start_columns
        ``start_columns(spec, natural, curve) -> list[array]``: the coordinates of natural starting values
        (each ``[starts]``), in ``site_names`` order.
    """

    declaration: type
    site_names: Callable[[Any], tuple[str, ...]]
    applies: Callable[..., bool]
    sample: Callable[..., dict]
    start_columns: Callable[..., list]


@functools.cache
def registry() -> Mapping[type, CoordinateMap]:
    """Every map of this package by declaration type (each module's ``MAP``)."""
    maps = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found = getattr(module, "MAP", None)
        if isinstance(found, CoordinateMap):
            if found.declaration in maps:
                raise RuntimeError(f"two coordinate maps serve {found.declaration.__name__}")
            maps[found.declaration] = found
    return maps


def for_spec(spec, given: Mapping[str, Any] | None = None) -> CoordinateMap | None:
    """The map ``spec``'s fits sample: the one of its law's declaration where it applies, else None
    (reference-scale coordinates)."""
    declared = spec.law.coordinates
    if declared is None:
        return None
    found = registry().get(type(declared))
    if found is None:
        raise ValueError(f"law {spec.law.name!r} declares coordinates of type {type(declared).__name__}, which no "
                         f"map in bayescale._src.model.coordinates serves")
    return found if found.applies(spec, given) else None
