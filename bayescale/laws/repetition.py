"""Data-constrained scaling: Chinchilla with effective data and parameters under repetition.

Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf & Raffel,
"Scaling Data-Constrained Language Models", NeurIPS 2023, arXiv:2305.16264,
eqs. (5)-(6) and appendix A. With ``U`` unique tokens seen ``D / U`` times,

.. math::

    U_D &= \\min(U, D), \\qquad R_D = D / U_D - 1, \\\\
    D' &= U_D + U_D R_D^* \\big(1 - e^{-R_D / R_D^*}\\big), \\\\
    U_N &= \\min\\big(N, N_{\\mathrm{opt}}(U_D)\\big), \\qquad R_N = N / U_N - 1, \\\\
    N' &= U_N + U_N R_N^* \\big(1 - e^{-R_N / R_N^*}\\big), \\\\
    L &= E + A / N'^{\\alpha} + B / D'^{\\beta}.

Repeated tokens are worth less and less: ``D'`` saturates at ``U_D (1 + R_D*)``
(``R_D*`` is the number of repetitions after which returns have decayed by
``1 - 1/e``). Parameters beyond the compute-optimal size for the unique data,
``N_opt(U_D)``, decay likewise with ``R_N*``. ``N_opt(D)`` is the Chinchilla
allocation of the law's own ``A, B, alpha, beta`` (see ``DESIGN.md``):
``N_opt = G (D G)^(beta / alpha)`` with ``G = (alpha A / (beta B))^(1/(alpha + beta))``.

The paper fits ``E, A, B, alpha = beta`` on Chinchilla-style runs without
repetition and then only ``R_D*, R_N*`` on the repeated runs;
:func:`published_priors` gives tight priors on the former to do the same here.

Fits sample end-point coordinates (:class:`~bayescale.laws.base.RepetitionEnds`,
:mod:`bayescale._src.model.coordinates.repetition_ends`): the law at the corner of
the observed ``N`` and effective ``D'``, each term's drop over that range, each
exponent's excess and ``log R_D*``. Under the default priors the parameter term
is often negligible over the observed range, and in reference-scale coordinates
``alpha`` then rides its prior on a curved plateau that importance proposals did
not reach (simulation-based calibration of ``auto``: alpha covered 0.79 in
reference-scale coordinates, 0.83-0.865 in these, 0.85 with ``max_pareto_k=0.5``,
which sends about a third of the simulated sets to NUTS; benchmarks/README.md).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpyro.distributions as dist

from bayescale.laws.base import Law, Param, RepetitionEnds
from bayescale.laws.forms import amplitude_prior, exponent_prior, irreducible_prior

_MUENNIGHOFF_2023 = "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv:2305.16264, eq. (6)"

#: The paper's fit (section 3 / appendix A; C4, GPT-2 tokenizer).
PUBLISHED = {"E": 1.8692, "A": 520.8, "B": 1487.7, "alpha": 0.3527, "beta": 0.3527,
             "R_D_star": 15.39, "R_N_star": 5.31}


def log_effective(log_unique, log_total, r_star):
    """``log(U + U R* (1 - exp(-R / R*)))`` with ``R = total / unique - 1`` (unique <= total)."""
    repeats = jnp.exp(log_total - log_unique) - 1.0
    return log_unique + jnp.log1p(r_star * -jnp.expm1(-repeats / r_star))


def log_optimal_params(p, log_tokens):
    """``log N_opt(D)``: the compute-optimal parameter count for ``D`` tokens under L = E + A/N^a + B/D^b."""
    alpha, beta = p["alpha"], p["beta"]
    log_g = (jnp.log(alpha * p["A"]) - jnp.log(beta * p["B"])) / (alpha + beta)
    return log_g + (beta / alpha) * (log_tokens + log_g)


def _data_constrained(p, x):
    log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
    log_ud = jnp.minimum(jnp.log(x["U"]), log_d)
    log_un = jnp.minimum(log_n, log_optimal_params(p, log_ud))
    log_d_eff = log_effective(log_ud, log_d, p["R_D_star"])
    log_n_eff = log_effective(log_un, log_n, p["R_N_star"])
    return p["E"] + p["A"] * jnp.exp(-p["alpha"] * log_n_eff) + p["B"] * jnp.exp(-p["beta"] * log_d_eff)


data_constrained = Law(
    name="data_constrained",
    fn=_data_constrained,
    inputs=("N", "D", "U"),
    params=(
        Param("E", irreducible_prior(), "irreducible loss"),
        Param("alpha", exponent_prior(), "exponent of the effective parameter count N'"),
        Param("beta", exponent_prior(), "exponent of the effective token count D'"),
        Param("R_D_star", dist.LogNormal(math.log(15.0), 1.0),
              "repetitions of the data after which its value has decayed by 1 - 1/e"),
        Param("R_N_star", dist.LogNormal(math.log(5.0), 1.0),
              "excess parameters (in units of N_opt(U)) after which their value has decayed by 1 - 1/e"),
        Param("A", amplitude_prior(), "amplitude of the model-size term", scale_by=(("N", "alpha"),), amplitude=True),
        Param("B", amplitude_prior(), "amplitude of the data term", scale_by=(("D", "beta"),), amplitude=True),
    ),
    formula="L = E + A/N'^alpha + B/D'^beta, D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)), N' likewise",
    reference=_MUENNIGHOFF_2023,
    # sampled in end-point coordinates over N and the effective data D' (coordinates/repetition_ends.py)
    coordinates=RepetitionEnds("E", ("N", "D", "U"), ("A", "B"), ("alpha", "beta"), "R_D_star"),
    # in these coordinates importance's SBC misses of alpha rise with Pareto k (6.7% at k <= 0.3, 31% in (0.6, 0.7]);
    # NUTS for k > 0.5 lifts alpha's 90% coverage from 0.830 to 0.850 (seed 0, benchmarks/README.md)
    max_pareto_k=0.5,
)


def published_priors(sd: float = 0.002, repetition_sd: float | None = None) -> dict[str, dist.Distribution]:
    """Priors centred on :data:`PUBLISHED`, holding ``E, A, B, alpha, beta`` at the paper's values as it does.

    The log-sd ``sd`` of those five is 0.2% by default: effectively fixed. It
    must be that tight: the 182 repeated runs alone prefer a different
    ``E`` (about 1.94 against 1.87) and, with any freedom in ``E``, push
    ``R_D*`` to about 50. The data say little about ``R_D*`` and ``R_N*`` on
    their own (the paper's Huber objective changes by 0.2% between
    ``(15.4, 5.3)`` and ``(94, 1.7)``), so their priors matter; they keep the
    law's defaults unless ``repetition_sd`` centres them on the published
    values too.
    """
    out = {k: dist.LogNormal(math.log(PUBLISHED[k]), sd) for k in ("E", "A", "B", "alpha", "beta")}
    if repetition_sd is not None:
        for k in ("R_D_star", "R_N_star"):
            out[k] = dist.LogNormal(math.log(PUBLISHED[k]), repetition_sd)
    return out
