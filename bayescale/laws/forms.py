"""The single-input and joint (N, D) scaling-law forms.

Every form is a :class:`~bayescale.laws.base.Law` whose ``fn`` takes natural-unit
parameters and inputs. Amplitudes are reparameterized around the reference
input size (see :mod:`bayescale.laws.base`); their priors stay in natural units.

Default priors are weakly informative: exponents are log-normal with median 0.3
(0.1 for Kaplan's smaller exponents) and a factor of e per standard deviation,
irreducible losses are half-normal with scale 3 nats, amplitudes are log-normal
with a log-scale of 10, wide enough not to pull the exponent through the
reference shear (see the README's "Priors" section).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Ends, Law, Param, RatioEnds, SharedExponent, TwoTermEnds


def exponent_prior(median: float = 0.3) -> dist.Distribution:
    """Log-normal exponent prior: positive, median ``median``, 95% within x/e^2."""
    return dist.LogNormal(math.log(median), 1.0)


def irreducible_prior() -> dist.Distribution:
    return dist.HalfNormal(3.0)


def amplitude_prior() -> dist.Distribution:
    return dist.LogNormal(0.0, 10.0)


def _power_term(amplitude, size, exponent):
    # exp/log form keeps A * x**-alpha finite in float32 for x up to 1e30
    return amplitude * jnp.exp(-exponent * jnp.log(size))


def _pure_power_law(p, x):
    return _power_term(p["A"], x["x"], p["alpha"])


def _power_law(p, x):
    return p["E"] + _power_term(p["A"], x["x"], p["alpha"])


def _chinchilla(p, x):
    return p["E"] + _power_term(p["A"], x["N"], p["alpha"]) + _power_term(p["B"], x["D"], p["beta"])


def _kaplan(p, x):
    # [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D summed in log space: the first term alone overflows
    # when alpha_N/alpha_D is large, although the law's value (about (N_c/N)^alpha_N) is moderate
    ratio = p["alpha_N"] / p["alpha_D"]
    log_inner = jnp.logaddexp(ratio * (jnp.log(p["N_c"]) - jnp.log(x["N"])), jnp.log(p["D_c"]) - jnp.log(x["D"]))
    return jnp.exp(p["alpha_D"] * log_inner)


def _ratio_term(scale, size, exponent):
    return jnp.exp(exponent * (jnp.log(scale) - jnp.log(size)))


def _additive(p, x):
    return _ratio_term(p["N_c"], x["N"], p["alpha_N"]) + _ratio_term(p["D_c"], x["D"], p["alpha_D"])


def _additive_compute(p, x):
    return _additive(p, x) + _ratio_term(p["C_c"], x["C"], p["alpha_C"])


def _multiplicative(p, x):
    log_l = jnp.log(p["K"]) - p["alpha"] * jnp.log(x["N"]) - p["beta"] * jnp.log(x["D"])
    return jnp.exp(log_l)


def _multiplicative_compute(p, x):
    return _multiplicative(p, x) * jnp.exp(-p["gamma"] * jnp.log(x["C"]))


def _amplitude(name: str, *scale_by, description: str) -> Param:
    return Param(name, amplitude_prior(), description, scale_by=tuple(scale_by), amplitude=True)


def _exponent(name: str, description: str, median: float = 0.3) -> Param:
    return Param(name, exponent_prior(median), description)


_IRREDUCIBLE = Param("E", irreducible_prior(), "irreducible loss (the floor as the input grows)")
_KAPLAN_2020 = "Kaplan et al. 2020, Scaling Laws for Neural Language Models, arXiv:2001.08361"
_HOFFMANN_2022 = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556"

pure_power_law = Law(
    name="pure_power_law",
    fn=_pure_power_law,
    inputs=("x",),
    params=(
        _exponent("alpha", "exponent of the input"),
        _amplitude("A", ("x", "alpha"), description="amplitude (loss at x = 1)"),
    ),
    formula="L = A x^-alpha",
    reference=_KAPLAN_2020 + " (M1 of Alabdulmohsin et al. 2022)",
)

power_law = Law(
    name="power_law",
    fn=_power_law,
    inputs=("x",),
    params=(
        _IRREDUCIBLE,
        _exponent("alpha", "exponent of the input"),
        _amplitude("A", ("x", "alpha"), description="amplitude of the reducible loss (at x = 1)"),
    ),
    formula="L = E + A x^-alpha",
    reference=_HOFFMANN_2022 + " (M2 of Alabdulmohsin et al. 2022)",
    coordinates=Ends("x", "E", "A", "alpha"),
)

chinchilla = Law(
    name="chinchilla",
    fn=_chinchilla,
    inputs=("N", "D"),
    params=(
        _IRREDUCIBLE,
        _exponent("alpha", "exponent of the parameter count N"),
        _exponent("beta", "exponent of the token count D"),
        _amplitude("A", ("N", "alpha"), description="amplitude of the model-size term"),
        _amplitude("B", ("D", "beta"), description="amplitude of the data term"),
    ),
    formula="L = E + A N^-alpha + B D^-beta",
    reference=_HOFFMANN_2022 + ", Approach 3",
    coordinates=TwoTermEnds("E", ("N", "D"), ("A", "B"), ("alpha", "beta")),
)

#: Kaplan et al. 2020's separate fits, eq. (1.1) L(N) and eq. (1.2) L(D): the centres of ``kaplan``'s default priors
KAPLAN_2020_SEPARATE = {"alpha_N": 0.076, "alpha_D": 0.095, "N_c": 8.8e13, "D_c": 5.4e13}

kaplan = Law(
    name="kaplan",
    fn=_kaplan,
    inputs=("N", "D"),
    params=(
        Param("alpha_N", dist.LogNormal(math.log(KAPLAN_2020_SEPARATE["alpha_N"]), 0.5), "model-size exponent"),
        Param("alpha_D", dist.LogNormal(math.log(KAPLAN_2020_SEPARATE["alpha_D"]), 0.5), "data exponent"),
        Param("N_c", dist.LogNormal(math.log(KAPLAN_2020_SEPARATE["N_c"]), 3.0), "critical model size",
              scale_by=(("N", None),)),
        Param("D_c", dist.LogNormal(math.log(KAPLAN_2020_SEPARATE["D_c"]), 3.0), "critical token count",
              scale_by=(("D", None),)),
    ),
    formula="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
    reference=_KAPLAN_2020 + ", eq. (1.5)",
)
"""Kaplan et al. 2020's joint law, eq. (1.5), in nats per token with non-embedding ``N``.

Default priors are centred on the paper's separate fits,
``alpha_N = 0.076``, ``alpha_D = 0.095``, ``N_c = 8.8e13``, ``D_c = 5.4e13``
(eqs. 1.1-1.2; the joint fit of Table 2 is the ``kaplan2020`` preset):
exponents log-normal with log-sd 0.5 (90% within x/2.3), critical sizes with
log-sd 3 (a factor of 20 per sd). The earlier defaults (exponents of median
0.1 and log-sd 1, critical sizes of log-sd 5) let ``alpha_N/alpha_D`` and
``N_c/N`` both be extreme, and 25 of 200 simulated curves over N = 1e7..1e9,
D = 1e9..1e11 overflowed or vanished. Under these priors the loss over that
design lies between 1.4 and 90 nats (1st to 99th percentile of the extremes),
with a median of 2.8 at the largest run.
"""

_ADDITIVE_PARAMS = (
    _exponent("alpha_N", "model-size exponent", median=0.1),
    _exponent("alpha_D", "data exponent", median=0.1),
    Param("N_c", dist.LogNormal(math.log(1e13), 5.0), "model-size scale", scale_by=(("N", None),)),
    Param("D_c", dist.LogNormal(math.log(1e13), 5.0), "token-count scale", scale_by=(("D", None),)),
)

additive = Law(
    name="additive",
    fn=_additive,
    inputs=("N", "D"),
    params=_ADDITIVE_PARAMS,
    formula="L = (N_c/N)^alpha_N + (D_c/D)^alpha_D",
    reference=_KAPLAN_2020 + " (the additive extension of eqs. 1.1-1.2)",
    coordinates=RatioEnds(("N", "D"), ("N_c", "D_c"), ("alpha_N", "alpha_D")),
)

_COLLINEAR_C = (
    "not identified when C = 6 N D (as in most tables, where C is computed from N and D): the compute term "
    "is then a function of N and D alone; it needs C's own scatter around 6 N D. bs.fit warns (FitWarning) "
    "when C / (N D) is constant to within noise"
)

additive_compute = Law(
    name="additive_compute",
    fn=_additive_compute,
    inputs=("N", "D", "C"),
    params=_ADDITIVE_PARAMS
    + (
        _exponent("alpha_C", "compute exponent", median=0.1),
        Param("C_c", dist.LogNormal(math.log(1e8), 10.0), "compute scale", scale_by=(("C", None),)),
    ),
    formula="L = (N_c/N)^alpha_N + (D_c/D)^alpha_D + (C_c/C)^alpha_C",
    reference=_KAPLAN_2020 + " (the additive extension with a compute term)",
    note=_COLLINEAR_C.replace("not identified", "weakly identified (only through the law's curvature)"),
    # importance draws with k in (0.5, 0.7] cover alpha_C 0.75-0.87 (SBC, benchmarks/bench_sbc.py): NUTS serves them
    max_pareto_k=0.5,
)

multiplicative = Law(
    name="multiplicative",
    fn=_multiplicative,
    inputs=("N", "D"),
    params=(
        _exponent("alpha", "exponent of N"),
        _exponent("beta", "exponent of D"),
        _amplitude("K", ("N", "alpha"), ("D", "beta"), description="overall scale"),
    ),
    formula="L = K N^-alpha D^-beta",
    reference="the product form (e.g. Rosenfeld et al. 2020, arXiv:1909.12673, without its floor)",
)

multiplicative_compute = Law(
    name="multiplicative_compute",
    fn=_multiplicative_compute,
    inputs=("N", "D", "C"),
    params=(
        _exponent("alpha", "exponent of N"),
        _exponent("beta", "exponent of D"),
        _exponent("gamma", "exponent of C"),
        _amplitude("K", ("N", "alpha"), ("D", "beta"), ("C", "gamma"), description="overall scale"),
    ),
    formula="L = K N^-alpha D^-beta C^-gamma",
    reference="the product form with a compute term",
    note=_COLLINEAR_C.replace("is then a function of N and D alone",
                              "is then C^-gamma = (6 N D)^-gamma, exactly collinear with the N and D terms"),
    coordinates=SharedExponent(("alpha", "beta"), "gamma"),
)
