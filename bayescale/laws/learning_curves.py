"""Learning-curve families of Domhan, Springenberg & Hutter (2015), written for falling losses.

Domhan, Springenberg and Hutter, "Speeding up Automatic Hyperparameter
Optimization of Deep Neural Networks by Extrapolation of Learning Curves",
IJCAI 2015, Table 1 (there for rising accuracies ``y``). Here each family is
turned over to describe a loss that falls towards a floor ``c`` (``1 - y`` for
an accuracy): every increasing term ``c - g(x)`` becomes ``c + g(x)``. Their
parameter names are kept; where a family's scale parameter has the units of
``1/x`` it is written as a size ``x0`` in the units of ``x`` (reparameterized
around the curve's reference size, see :mod:`bayescale.laws.base`).

Typical inputs are epochs or steps (``x >= 1``); ``ilog2`` needs ``x > 1``.
``log_law`` (``L = a - b log x``) falls below zero past ``x = e^(a/b)``, where a
log-loss likelihood has no value. It is therefore written as
``L = b log(x0 / x)`` with the zero crossing ``x0`` as a parameter, and its
default prior puts ``x0`` far beyond realistic sizes (see ``log_law``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Ends, Law, Param
from bayescale.laws.forms import amplitude_prior, exponent_prior, irreducible_prior

_DOMHAN_2015 = (
    "Domhan, Springenberg & Hutter 2015, Speeding up Automatic Hyperparameter Optimization of Deep Neural "
    "Networks by Extrapolation of Learning Curves, IJCAI, Table 1"
)

_FLOOR = Param("c", irreducible_prior(), "floor: the loss as x grows")
_SPAN = Param("span", dist.LogNormal(0.0, 1.5), "height of the curve above its floor at x -> 0")
_SIZE = Param("x0", dist.LogNormal(0.0, 10.0), "scale of x where the curve bends (units of x)",
              scale_by=(("x", None),))
_SHAPE = Param("delta", dist.LogNormal(0.0, 1.0), "shape exponent")


def _pow3(p, x):
    return p["c"] + p["a"] * jnp.exp(-p["alpha"] * jnp.log(x["x"]))


def _pow4(p, x):
    # Domhan's (a x + b)^-alpha = a^-alpha (x + b/a)^-alpha
    return p["c"] + p["a"] * jnp.exp(-p["alpha"] * jnp.logaddexp(jnp.log(x["x"]), jnp.log(p["x0"])))


def _log_power(p, x):
    return p["a"] * jnp.exp(-jax.nn.softplus(p["alpha"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))))


def _janoschek(p, x):
    return p["c"] + p["span"] * jnp.exp(-p["kappa"] * jnp.exp(p["delta"] * jnp.log(x["x"])))


def _mmf(p, x):
    return p["c"] + p["span"] * jnp.exp(-jax.nn.softplus(p["delta"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))))


def _weibull(p, x):
    return p["c"] + p["span"] * jnp.exp(-jnp.exp(p["delta"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))))


def _ilog2(p, x):
    return p["c"] + p["a"] / jnp.log(x["x"])


def _vap(p, x):
    return p["a"] * jnp.exp(p["b"] / x["x"] - p["c"] * jnp.log(x["x"]))


def _exp4(p, x):
    return p["c"] + p["span"] * jnp.exp(-p["a"] * jnp.exp(p["alpha"] * jnp.log(x["x"])))


def _log_law(p, x):
    # a - b log x with a = b log x0: the line reaches zero at x = x0
    return p["b"] * (jnp.log(p["x0"]) - jnp.log(x["x"]))


def _law(name, fn, params, formula, domhan_name=None, coordinates=None, input_lower=()):
    ref = _DOMHAN_2015 + (f" ({domhan_name})" if domhan_name else "")
    return Law(name=name, fn=fn, inputs=("x",), params=tuple(params), formula=formula, reference=ref,
               coordinates=coordinates, input_lower=input_lower)


_A_POW = Param("a", amplitude_prior(), "amplitude", scale_by=(("x", "alpha"),), amplitude=True)

pow3 = _law("pow3", _pow3, [_FLOOR, Param("alpha", exponent_prior(), "exponent"), _A_POW],
            "L = c + a x^-alpha", "pow3", coordinates=Ends("x", "c", "a", "alpha"))  # power_law's core: its coordinates
pow4 = _law("pow4", _pow4, [_FLOOR, Param("alpha", exponent_prior(), "exponent"), _SIZE,
                            Param("a", amplitude_prior(), "amplitude", scale_by=(("x", "alpha"),), amplitude=True)],
            "L = c + a (x + x0)^-alpha  [Domhan: (a' x + b)^-alpha, x0 = b/a']", "pow4",
            coordinates=Ends("x", "c", "a", "alpha", shift="x0"))  # power_law's core in x + x0
log_power = _law("log_power", _log_power, [Param("a", dist.LogNormal(0.0, 2.0), "loss at x -> 0"),
                                           Param("alpha", dist.LogNormal(0.0, 1.0), "exponent past x0"), _SIZE],
                 "L = a / (1 + (x/x0)^alpha)  [Domhan: x0 = e^b, alpha = c]", "log power")
janoschek = _law("janoschek", _janoschek,
                 [_FLOOR, _SPAN, Param("kappa", dist.LogNormal(math.log(0.1), 3.0), "rate"), _SHAPE],
                 "L = c + span exp(-kappa x^delta)  [Domhan: alpha - (alpha - beta) exp(-kappa x^delta)]",
                 "Janoschek")._replace(sampler="smc")  # see Law.sampler
mmf = _law("mmf", _mmf, [_FLOOR, _SPAN, _SHAPE, _SIZE],
           "L = c + span / (1 + (x/x0)^delta)  [Domhan: alpha - (alpha - beta)/(1 + (kappa x)^delta), x0 = 1/kappa]",
           "MMF")._replace(sampler="smc")  # see Law.sampler
weibull = _law("weibull", _weibull, [_FLOOR, _SPAN, _SHAPE, _SIZE],
               "L = c + span exp(-(x/x0)^delta)  [Domhan: alpha - (alpha - beta) exp(-(kappa x)^delta), x0 = 1/kappa]",
               "Weibull")
ilog2 = _law("ilog2", _ilog2, [_FLOOR, Param("a", dist.LogNormal(0.0, 2.0), "amplitude")],
             "L = c + a / log x  (x > 1)", "ilog2", input_lower=(("x", 1.0),))
vap = _law("vap", _vap, [Param("c", exponent_prior(), "exponent of the decay in x"),
                         Param("b", dist.LogNormal(0.0, 2.0), "excess of log loss at small x (the b/x term)"),
                         Param("a", amplitude_prior(), "amplitude", scale_by=(("x", "c"),), amplitude=True)],
           "L = a exp(b/x) x^-c  [Domhan: exp(a' + b/x + c' log x), a' = log a, c' = -c]", "vapor pressure")
exp4 = _law("exp4", _exp4, [_FLOOR, Param("a", dist.LogNormal(math.log(0.1), 3.0), "rate"),
                            Param("alpha", dist.LogNormal(0.0, 1.0), "exponent of x"), _SPAN],
            "L = c + span exp(-a x^alpha)  [Domhan: c - exp(-a x^alpha + b), span = e^b]", "exp4")
LOG_LAW_HORIZON = 1e15
"""Median of ``log_law``'s default prior on its zero crossing ``x0`` (log-sd 3 e-folds)."""

log_law = _law("log_law", _log_law, [Param("b", dist.LogNormal(math.log(0.1), 2.0), "fall of the loss per e-fold of x"),
                                     Param("x0", dist.LogNormal(math.log(LOG_LAW_HORIZON), 3.0),
                                           "size at which the line reaches zero (a = b log x0 is the loss at x = 1)",
                                           scale_by=(("x", None),))],
               "L = b log(x0 / x) = a - b log x, a = b log x0  (loss falling linearly in log x)")
log_law = log_law._replace(reference="the logarithmic law (loss linear in log x), e.g. Domhan et al. 2015's log-linear family")
"""``L = a - b log x``, written ``L = b log(x0/x)`` so that its priors and the log-loss likelihood agree.

A loss falling linearly in ``log x`` reaches zero at ``x0 = e^(a/b)`` and is
negative past it, where ``log L`` (the likelihood's location) does not exist.
With independent priors on ``a`` and ``b`` most
prior draws crossed zero inside a realistic design (sizes 1e6..1e9): the
likelihood floors such values, the simulated curves were degenerate and the
SBC coverage was 0.33. The law is now parameterized by the slope ``b`` (per
e-fold of ``x``) and the zero crossing ``x0`` (``a = b log x0``, the loss at
``x = 1``). The default prior ``x0 ~ LogNormal(log 1e15, 3)`` puts the
crossing beyond ``1e10`` with prior probability 0.99994 and beyond ``1e12``
with 0.99, so the law is positive over any realistic range of steps, tokens
or parameters by construction of the prior.

Limitation: a curve whose straight line in ``log x`` would reach zero within a
few decades of the data (a steep fall over a few epochs) is outside this
prior; pass ``priors={"x0": ...}`` with a lower median to fit one.
"""

FAMILIES = (pow3, pow4, log_power, janoschek, mmf, weibull, ilog2, vap, exp4, log_law)
