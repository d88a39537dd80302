"""Broken neural scaling laws (Caballero, Gupta, Rish & Krueger 2023).

Caballero et al., "Broken Neural Scaling Laws", ICLR 2023, arXiv:2210.14891, eq. (1):

.. math::

    L = E + A\\,x^{-c_0} \\prod_{i=1}^{k} \\Big(1 + (x / d_i)^{1/f_i}\\Big)^{-c_i f_i}

Each break ``i`` sits near ``x = d_i``; past it the local exponent grows by
``c_i``, and ``f_i`` sets how sharp the bend is (small ``f_i``: sharp). The
product is evaluated in log space,

.. math:: \\log(L - E) = \\log A - c_0 \\log x
          - \\sum_i c_i f_i \\,\\mathrm{softplus}\\big((\\log x - \\log d_i) / f_i\\big),

so nothing overflows in float32 even at ``x ~ 1e13`` with sharp breaks.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Param
from bayescale.laws.forms import amplitude_prior, exponent_prior, irreducible_prior

MAX_BREAKS = 3
_CABALLERO_2023 = "Caballero et al. 2023, Broken Neural Scaling Laws, arXiv:2210.14891, eq. (1)"
_PATTERN = re.compile(r"^bnsl\(\s*breaks\s*=\s*(\d+)\s*\)$")


def _make_fn(breaks: int):
    def fn(p, x):
        log_x = jnp.log(x["x"])
        log_term = jnp.log(p["A"]) - p["c0"] * log_x
        for i in range(1, breaks + 1):
            c, d, f = p[f"c{i}"], p[f"d{i}"], p[f"f{i}"]
            log_term = log_term - c * f * jax.nn.softplus((log_x - jnp.log(d)) / f)
        return p["E"] + jnp.exp(log_term)

    return fn


def bnsl(breaks: int = 1) -> Law:
    """The broken neural scaling law with ``breaks`` breaks (1 to 3)."""
    if int(breaks) != breaks or not 1 <= breaks <= MAX_BREAKS:
        raise ValueError(f"bnsl takes breaks = 1 to {MAX_BREAKS}, got {breaks!r}")
    breaks = int(breaks)
    params = [
        Param("E", irreducible_prior(), "irreducible loss (the floor as x grows)"),
        Param("c0", exponent_prior(0.1), "exponent before the first break"),
    ]
    for i in range(1, breaks + 1):
        params += [
            Param(f"c{i}", dist.LogNormal(math.log(0.5), 1.5), f"change of the exponent at break {i}"),
            Param(f"d{i}", dist.LogNormal(0.0, 10.0), f"location of break {i} (in units of x)",
                  scale_by=(("x", None),)),
            Param(f"f{i}", dist.LogNormal(math.log(0.3), 1.0), f"smoothness of break {i} (small: sharp)"),
        ]
    params.append(Param("A", amplitude_prior(), "amplitude (at x = 1, before any break)",
                        scale_by=(("x", "c0"),), amplitude=True))
    terms = " ".join(f"(1 + (x/d{i})^(1/f{i}))^(-c{i} f{i})" for i in range(1, breaks + 1))
    return Law(
        name="bnsl" if breaks == 1 else f"bnsl{breaks}",
        fn=_make_fn(breaks),
        inputs=("x",),
        params=tuple(params),
        formula=f"L = E + A x^-c0 {terms}",
        reference=_CABALLERO_2023 + f", {breaks} break{'s' if breaks > 1 else ''}",
        # a break outside the observed range leaves (c_i, d_i, f_i) on a curved, one-sided ridge: importance draws
        # at k in (0.5, 0.7] missed c1 in 44-47% of SBC data sets, at k <= 0.3 in 10% (benchmarks/bench_sbc.py)
        max_pareto_k=0.5,
    )


def parse(name: str) -> str | None:
    """Registry name of ``"bnsl(breaks=k)"`` (``bnsl``, ``bnsl2``, ``bnsl3``), or None if it is not one."""
    match = _PATTERN.match(name.replace(" ", ""))
    if match is None:
        return None
    k = int(match.group(1))
    if not 1 <= k <= MAX_BREAKS:
        raise ValueError(f"bnsl takes breaks = 1 to {MAX_BREAKS}, got {k}")
    return "bnsl" if k == 1 else f"bnsl{k}"
