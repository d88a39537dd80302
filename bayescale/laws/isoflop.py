"""IsoFLOP profiles: the loss of the runs of one compute budget as a function of model size.

Along a budget :math:`C = k N D` every run trades parameters for tokens, and the
loss traces a valley in :math:`\\log N` whose bottom is the compute-optimal model
size at that budget. Hoffmann et al. (2022, Approach 2) fit a parabola to each
valley; the profiles here are fitted one budget per curve of a grouped
``bs.fit(..., group=budget)`` (see :func:`bayescale.isoflop`).

- ``isoflop_parabola``: :math:`L = L_{min} + k\\,(\\ln N - \\ln N_{opt})^2`, the
  parabola of Approach 2 written around its vertex, so that the posterior of
  ``N_opt`` is the posterior of the budget's optimum.
- ``isoflop_slice``: the exact IsoFLOP slice of Chinchilla's surface
  :math:`E + A N^{-\\alpha} + B D^{-\\beta}` with :math:`D = C/(kN)`, written
  around its minimum. With :math:`u = \\ln N - \\ln N_{opt}`,

  .. math::

      L = L_{min} + \\frac{2k}{\\alpha(\\alpha+\\beta)}
          \\Big[e^{-\\alpha u} + \\frac{\\alpha}{\\beta} e^{\\beta u} - 1 - \\frac{\\alpha}{\\beta}\\Big],

  which has its minimum ``L_min`` at ``u = 0`` and curvature ``2k`` there (the
  parabola's ``k``), and rises as :math:`e^{-\\alpha u}` to the left and
  :math:`e^{\\beta u}` to the right. When :math:`\\alpha \\ne \\beta` the valley is
  asymmetric and the vertex of a parabola fitted over a window of model sizes
  is not its minimum: the window's placement moves the vertex, which is
  Approach 2's known bias. The slice's shape exponents are those of the
  surface, so a fit of this profile per budget has no such bias when the
  surface holds.

Both take ``N`` in units of the sweep's centre (the geometric mean of the
budget's model sizes), which is what the default prior of ``N_opt``,
``LogNormal(0, 2)``, is written for; ``bs.isoflop`` rescales the table so, and
fitting raw model sizes with ``bs.fit`` needs ``priors={"N_opt": ...}``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Floor, Law, Param

_HOFFMANN_2022 = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, arXiv:2203.15556"

#: log-sd of the default prior of ``N_opt``, for model sizes in units of the sweep's centre (the geometric mean of
#: the budget's model sizes, as :func:`bayescale.isoflop` gives them): the sweep is meant to bracket the optimum,
#: and a factor e^2 per sd leaves room for an optimum well outside it. Without such a prior a profile whose valley
#: is shallow against the noise has a ridge of near-flat fits (k -> 0, N_opt -> 0 or infinity, the parabola's
#: vertex running off while its slope inside the window stays finite) that holds much of the posterior.
N_OPT_PRIOR_SCALE = 2.0


def _u(p, x):
    return jnp.log(x["N"]) - jnp.log(p["N_opt"])


def _parabola(p, x):
    return p["L_min"] + p["k"] * _u(p, x) ** 2


def _slice(p, x):
    u = _u(p, x)
    a, b = p["alpha"], p["beta"]
    # exp(-a u) - 1 + (a/b)(exp(b u) - 1), with expm1 for accuracy near the minimum
    shape = jnp.expm1(-a * u) + a / b * jnp.expm1(b * u)
    return p["L_min"] + 2.0 * p["k"] / (a * (a + b)) * shape


_L_MIN = Param("L_min", dist.LogNormal(0.0, 10.0), "loss at the budget's optimum", amplitude=True)
_N_OPT = Param("N_opt", dist.LogNormal(0.0, N_OPT_PRIOR_SCALE),
               "compute-optimal model size at the budget (default prior: in units of the sweep's centre)",
               scale_by=(("N", None),))
_K = Param("k", dist.LogNormal(math.log(0.05), 3.0), "curvature: loss per squared nat of model size at the optimum")

#: fits sample L_min through its ratio to the smallest observed loss, with the prior's tail below the noise compressed
#: (:mod:`bayescale._src.model.coordinates.floor`): a valley seen as a rising or falling arc bounds L_min from above
#: only, and a Gaussian around the mode did not reach the far end of that tail (benchmarks/README.md, bench_sbc.py)
_FLOOR = Floor("N", "L_min")

isoflop_parabola = Law(
    name="isoflop_parabola",
    fn=_parabola,
    inputs=("N",),
    params=(_L_MIN, _N_OPT, _K),
    formula="L = L_min + k (ln N - ln N_opt)^2",
    reference=_HOFFMANN_2022 + ", Approach 2 (IsoFLOP profiles)",
    note="biased when the valley is asymmetric (alpha != beta) and the window of model sizes is not centred on "
         "the optimum; isoflop_slice is not",
    coordinates=_FLOOR,
)

isoflop_slice = Law(
    name="isoflop_slice",
    fn=_slice,
    inputs=("N",),
    params=(
        _L_MIN,
        _N_OPT,
        _K,
        Param("alpha", dist.LogNormal(math.log(0.3), 0.5), "exponent of the left wall (Chinchilla's alpha)"),
        Param("beta", dist.LogNormal(math.log(0.3), 0.5), "exponent of the right wall (Chinchilla's beta)"),
    ),
    formula="L = L_min + 2k/(alpha(alpha+beta)) [e^(-alpha u) + (alpha/beta) e^(beta u) - 1 - alpha/beta], "
            "u = ln N - ln N_opt",
    reference=_HOFFMANN_2022 + ", the IsoFLOP slice of the Approach 3 surface",
    note="the wall exponents are weakly identified by one budget's runs; their priors (median 0.3, x/1.65 per sd) "
         "carry the asymmetry",
    coordinates=_FLOOR,
)
