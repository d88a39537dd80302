"""Scaling-law forms: jittable JAX functions with parameter specs and default priors.

>>> import bayescale as bs
>>> law = bs.laws.get("chinchilla")
>>> float(law({"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.35, "beta": 0.37},
...           {"N": 7e10, "D": 1.4e12}))  # doctest: +ELLIPSIS
1.9...
"""

from __future__ import annotations

import difflib

import pandas as pd

from bayescale.laws import broken, downstream
from bayescale.laws.base import (BoundedEnds, Ends, Floor, Law, Param, RatioEnds, RepetitionEnds, SaturationEnds,
                                 SharedExponent, TwoTermEnds, check_law)
from bayescale.laws.broken import bnsl
from bayescale.laws.downstream import sigmoid_compute, sigmoid_loss
from bayescale.laws.forms import (
    additive,
    additive_compute,
    amplitude_prior,
    chinchilla,
    exponent_prior,
    irreducible_prior,
    kaplan,
    multiplicative,
    multiplicative_compute,
    power_law,
    pure_power_law,
)
from bayescale.laws.learning_curves import (
    FAMILIES,
    exp4,
    ilog2,
    janoschek,
    log_law,
    log_power,
    mmf,
    pow3,
    pow4,
    vap,
    weibull,
)
from bayescale.laws.isoflop import isoflop_parabola, isoflop_slice
from bayescale.laws.repetition import data_constrained
from bayescale.laws.saturating import m3, m4

_REGISTRY: dict[str, Law] = {
    law.name: check_law(law)
    for law in (
        pure_power_law,
        power_law,
        chinchilla,
        kaplan,
        additive,
        additive_compute,
        multiplicative,
        multiplicative_compute,
        m3,
        m4,
        bnsl(1),
        bnsl(2),
        bnsl(3),
        data_constrained,
        isoflop_parabola,
        isoflop_slice,
        *FAMILIES,
    )
}
# The benchmark-score laws (bayescale.laws.downstream) are built from their names, floor and ceiling included
# ("sigmoid_compute(floor=0.25)"), by get(); they are not in the registry of loss laws.
_ALIASES = {"M1": "pure_power_law", "M2": "power_law"}


def names() -> list[str]:
    """Registered law names."""
    return [*_REGISTRY]


def get(law: str | Law) -> Law:
    """Return a law by name (or validate and return a :class:`Law` object)."""
    if isinstance(law, Law):
        return check_law(law)
    if not isinstance(law, str):
        raise TypeError(f"law must be a name or a bayescale Law, got {type(law).__name__}")
    key = _ALIASES.get(law, law)
    if key not in _REGISTRY and key.replace(" ", "").startswith("bnsl("):
        key = broken.parse(key) or key
    if key not in _REGISTRY:
        sigmoid = downstream.parse(key)
        if sigmoid is not None:  # a benchmark-score law with its floor and ceiling, e.g. sigmoid_compute(floor=0.25)
            return check_law(sigmoid)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, [*names(), *_ALIASES], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown law {law!r}{hint}; known laws: {', '.join(names())}")
    return _REGISTRY[key]


def register(law: Law) -> Law:
    """Add a user-defined law to the registry so it can be named in ``bs.fit`` and the CLI."""
    check_law(law)
    if law.name in _REGISTRY:
        raise ValueError(f"a law named {law.name!r} is already registered")
    _REGISTRY[law.name] = law
    return law


def table() -> pd.DataFrame:
    """Every registered form with its formula, inputs, parameters, reference and known limitation (``note``)."""
    rows = [
        {
            "law": law.name,
            "formula": law.formula,
            "inputs": ", ".join(law.inputs),
            "parameters": ", ".join(law.param_names),
            "reference": law.reference,
            "note": law.note,
        }
        for law in _REGISTRY.values()
    ]
    return pd.DataFrame(rows).set_index("law")


__all__ = [
    "Ends",
    "SaturationEnds",
    "BoundedEnds",
    "Floor",
    "RatioEnds",
    "TwoTermEnds",
    "RepetitionEnds",
    "SharedExponent",
    "Law",
    "Param",
    "get",
    "names",
    "register",
    "table",
    "exponent_prior",
    "irreducible_prior",
    "amplitude_prior",
    "pure_power_law",
    "power_law",
    "chinchilla",
    "kaplan",
    "additive",
    "additive_compute",
    "multiplicative",
    "multiplicative_compute",
    "m3",
    "m4",
    "bnsl",
    "data_constrained",
    "isoflop_parabola",
    "isoflop_slice",
    "pow3",
    "pow4",
    "log_power",
    "janoschek",
    "mmf",
    "weibull",
    "ilog2",
    "vap",
    "exp4",
    "log_law",
    "sigmoid_compute",
    "sigmoid_loss",
]
