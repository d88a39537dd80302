"""A joint prior over several parameters: a multivariate Student-t in fixed reference coordinates.

Per-parameter priors cannot say what a corpus of curves says most clearly:
that the parameters move together. An amplitude ``A`` of ``A x^-alpha`` is
known to within a factor of ten thousand at ``x = 1`` but to within a few
percent at the sizes the curves were trained at, and ``E`` trades against
``alpha``. A :class:`JointPrior` is a multivariate Student-t on the coordinates

.. math::

    c_k = T_k^{-1}(\\theta_k) - \\sum_{(i, e) \\in \\mathrm{scale\\_by}(k)} e \\, \\log x_{i,0},

``T_k`` the bijection from the real line onto parameter ``k``'s support (log
for a positive parameter), the sum the shear of the law's reference-scale
reparameterization (:mod:`bayescale.laws.base`) at a *fixed* reference
``x_0`` (the corpus's geometric mean of each input), so that ``c_A`` is the
log of the amplitude's term at ``x_0``, whatever curve is fitted. The shear
has unit Jacobian, so the density in natural units is

.. math::

    \\log p(\\theta) = \\log t_\\nu(c; m, L L^T) - \\sum_k \\log |T_k'(u_k)|,
    \\qquad u_k = T_k^{-1}(\\theta_k).

The model (:func:`bayescale._src.model.model.build_model`) samples every parameter
with its per-parameter (marginal) prior as usual and adds the factor
``log p(theta) - sum_k log p_k(theta_k)``, which replaces the product of the
marginals by the joint density; the marginals only give the optimizers'
starting points and the tables.

All fields are tuples of numbers and names, so a joint prior is hashable by
value: two equal joint priors share one compiled program.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

Shift = tuple[tuple[str | None, float], ...]  # (exponent parameter or None, log x_0 of the input) pairs


class JointPrior(NamedTuple):
    """A multivariate Student-t prior on ``names`` in reference coordinates (see the module docstring).

    Attributes
    ----------
    law
        Name of the law the prior was learned for.
    names
        The parameters it covers, in the order of ``loc``.
    loc, scale_tril
        Location and lower-triangular Cholesky factor of the scale matrix of
        the coordinates ``c``.
    df
        Degrees of freedom (``inf`` for a multivariate normal).
    shifts
        Per parameter, the shear: pairs of (exponent name or None, log x_0).
    log_reference
        The reference inputs ``log x_0``, by input name (for the record).
    """

    law: str
    names: tuple[str, ...]
    loc: tuple[float, ...]
    scale_tril: tuple[tuple[float, ...], ...]
    df: float
    shifts: tuple[Shift, ...]
    log_reference: tuple[tuple[str, float], ...]

    def distribution(self) -> dist.Distribution:
        loc, tril = jnp.asarray(self.loc), jnp.asarray(self.scale_tril)
        if math.isinf(self.df):
            return dist.MultivariateNormal(loc, scale_tril=tril)
        return dist.MultivariateStudentT(self.df, loc, tril)

    @property
    def covariance(self) -> np.ndarray:
        """Covariance of the coordinates ``c`` (the scale matrix times ``df / (df - 2)``)."""
        tril = np.asarray(self.scale_tril)
        inflate = 1.0 if math.isinf(self.df) else self.df / (self.df - 2.0)
        return tril @ tril.T * inflate

    def coordinates(self, values: Mapping[str, Any], supports: Mapping[str, Any]) -> jax.Array:
        """``c`` of natural values (arrays broadcast), stacked on the last axis."""
        out = []
        for name, shift in zip(self.names, self.shifts):
            c = biject_to(supports[name]).inv(values[name])
            for exponent, log_x0 in shift:
                c = c - (1.0 if exponent is None else values[exponent]) * log_x0
            out.append(c)
        return jnp.stack(out, axis=-1)

    def log_prob(self, values: Mapping[str, Any], supports: Mapping[str, Any]) -> jax.Array:
        """Joint log density of the natural values of ``names``."""
        log_det = 0.0
        for name in self.names:
            transform = biject_to(supports[name])
            log_det = log_det + transform.log_abs_det_jacobian(transform.inv(values[name]), values[name])
        return self.distribution().log_prob(self.coordinates(values, supports)) - log_det

    def sample(self, key, shape: tuple[int, ...], supports: Mapping[str, Any]) -> dict[str, jax.Array]:
        """Natural values of ``names`` drawn from the joint prior, each of ``shape``."""
        return self.natural(self.distribution().sample(key, shape), supports)

    def natural(self, c, supports: Mapping[str, Any]) -> dict[str, Any]:
        """Natural values of the coordinates ``c`` (``[..., names]``): the inverse of :meth:`coordinates`."""
        values: dict[str, Any] = {}
        # the shear of a parameter uses exponents drawn before it: go in an order that has them
        for k in _shear_order(self):
            name, shift = self.names[k], self.shifts[k]
            u = c[..., k] + sum((1.0 if e is None else values[e]) * log_x0 for e, log_x0 in shift)
            values[name] = biject_to(supports[name])(u)
        return values


def _shear_order(joint: JointPrior) -> list[int]:
    plain = [k for k, s in enumerate(joint.shifts) if not any(e is not None for e, _ in s)]
    return plain + [k for k in range(len(joint.names)) if k not in plain]


def check_joint(joint: JointPrior, law_name: str, names: list[str]) -> None:
    """Clear errors for a joint prior that does not fit the law being fitted."""
    if joint.law != law_name:
        raise ValueError(f"this population prior was learned for law {joint.law!r}, not {law_name!r}")
    missing = [n for n in joint.names if n not in names]
    if missing:
        raise ValueError(f"the joint prior covers {missing}, which law {law_name!r} does not have")
    for shift in joint.shifts:
        for exponent, _ in shift:
            if exponent is not None and exponent not in joint.names:
                raise ValueError(f"the joint prior shears by {exponent!r}, which it does not cover")


class PopulationPrior(Mapping):
    """Per-parameter priors plus the joint prior that ties some of them together.

    A read-only mapping of parameter name -> marginal distribution (what
    ``bs.priors.table`` shows and the optimizers start from), with the joint
    prior in ``joint``. ``bs.fit(..., priors=population)`` uses the joint
    density; a plain dict made from it (``dict(population)``, ``{**population,
    ...}``) keeps only the marginals, which treat the parameters as independent.
    """

    def __init__(self, marginals: Mapping[str, dist.Distribution], joint: JointPrior):
        missing = [n for n in joint.names if n not in marginals]
        if missing:
            raise ValueError(f"the joint prior covers {missing}, which have no marginal prior")
        self._marginals = dict(marginals)
        self.joint = joint

    def __getitem__(self, name: str) -> dist.Distribution:
        return self._marginals[name]

    def __iter__(self):
        return iter(self._marginals)

    def __len__(self) -> int:
        return len(self._marginals)

    def correlation(self) -> "pd.DataFrame":
        """Correlations of the joint prior's coordinates (``log`` of positive parameters; amplitudes at ``x_0``)."""
        import pandas as pd

        cov = self.joint.covariance
        sd = np.sqrt(np.diag(cov))
        return pd.DataFrame(cov / np.outer(sd, sd), index=list(self.joint.names), columns=list(self.joint.names))

    def __repr__(self) -> str:
        return f"<PopulationPrior law={self.joint.law} joint over {', '.join(self.joint.names)}>"


def joint_record(joint: JointPrior | None) -> dict | None:
    """A JSON-able record of a joint prior (None stays None), for saved fits and streamed runs."""
    return None if joint is None else joint._asdict()


def joint_from_record(record: dict | None) -> JointPrior | None:
    """The joint prior of a record made by :func:`joint_record`."""
    if record is None:
        return None
    return JointPrior(
        law=str(record["law"]),
        names=tuple(record["names"]),
        loc=tuple(float(v) for v in record["loc"]),
        scale_tril=tuple(tuple(float(v) for v in row) for row in record["scale_tril"]),
        df=float(record["df"]),
        shifts=tuple(tuple((e, float(v)) for e, v in shift) for shift in record["shifts"]),
        log_reference=tuple((k, float(v)) for k, v in record["log_reference"]),
    )


def spec_priors(priors: tuple[tuple[str, dist.Distribution], ...], joint: JointPrior | None) -> Mapping:
    """A model spec's priors as ``bs.fit``'s ``priors=`` (for refits): a dict, or a PopulationPrior with its joint."""
    return dict(priors) if joint is None else PopulationPrior(dict(priors), joint)
