r"""Model discrepancy: the law's own error beyond the fitted data, with every draw a valid curve.

The bands of a fit describe the uncertainty of a law's parameters, assuming
the law is exactly true. A law is only an approximation, and the error of the
approximation grows as one extrapolates. Following Kennedy and O'Hagan (2001,
"Bayesian calibration of computer models", JRSS B 63(3)), the truth is the law
plus a discrepancy; here the discrepancy is a random distortion of the law's
own shape beyond the data, so that every predictive draw is again a curve of
the law's kind (non-increasing where the law is, above a floor, and below 1
when the law is).

Write a posterior draw of the law as ``L(x) = E + R(x)``, its floor ``E`` (the
irreducible loss: the law's ``E``, or 0 for a law without one) plus its
reducible part ``R``. Let ``L_ref = E + R_0`` be the smallest value of the draw
at the curve's fitted points: the law's progress so far. Beyond it, where the
law predicts more progress (``rho(x) = R(x) / R_0 < 1``),

.. math::

    \tilde L(x) = \tilde E + (L_\mathrm{ref} - \tilde E)\, \rho(x)^{\kappa},
    \qquad \kappa = e^{\eta}, \quad
    \tilde E = L_\mathrm{ref}\, \mathrm{sigmoid}\big(\mathrm{logit}(E / L_\mathrm{ref}) + \zeta\big),

and ``tilde L = L`` elsewhere (at and between the fitted points). Per draw,

.. math::

    \eta = r\, e^{s \epsilon} z, \quad \zeta = f z', \qquad z, z', \epsilon \sim \mathcal N(0, 1):

``kappa`` scales the rate at which the reducible part keeps falling beyond
the data (for a power law, the exponent wanders: ``alpha -> kappa alpha``),
and ``tilde E`` moves the floor inside ``(0, L_ref)``. Both are constants of
a draw, so a draw is an increasing function of the law's own value: it is
continuous at the fitted range, non-increasing wherever the law is, and stays
in ``(tilde E, L_ref]``, hence positive and, for a bounded law, inside
``(0, 1)``. Its error grows with the law's predicted progress: in log loss
about ``(R/L) eta log rho`` from the exponent (for a power law, ``alpha eta``
per decade beyond the data) plus ``(tilde E - E)/L (1 - rho^kappa)`` from the
floor, which takes over near the floor. The form is the "drift of the law's
shape parameters" family of discrepancies (Brynjarsdottir and O'Hagan 2014,
"Learning about physical parameters: the importance of model discrepancy",
Inverse Problems 30, argue that a discrepancy must carry what is known of the
function's shape, here monotonicity and a floor).

Two optional terms make the drift depend on what the user has. With ``u =
-log(R / R_0)`` the law's progress beyond the data and ``u_span = log(R_s /
R_0)`` the progress the fitted data covered (``R_s`` the reducible part at the
largest fitted value), the progress becomes

.. math::

    \tilde u = \int_0^u e^{\eta_0 + \eta_1 v / u_\mathrm{span}}\, dv
    = e^{\eta_0}\, u_\mathrm{span} \frac{e^{\eta_1 u / u_\mathrm{span}} - 1}{\eta_1},
    \qquad \eta_1 = g\, e^{s \epsilon} z_1,

(``tilde rho = exp(-tilde u)``; ``eta_1 = 0`` is the constant drift above):
the rate wanders further the further one extrapolates relative to the span
covered, and the integrand is positive, so every draw stays non-increasing.
``information`` ``c`` multiplies ``r`` and ``g`` by ``exp(-c sd(log
u_span))``, the posterior's own uncertainty of the fitted progress (large for a
few runs whose shape comes from the prior).

With a literature preset (``priors="epoch2024"``, :mod:`bayescale.priors.presets`) whose paper records the
largest runs it fitted (``Preset.source``), ``L_ref`` is the smallest value of the draw at the curve's fitted
points *and* at those runs: the preset's priors carry how far the paper's parameters transfer to the user's
data, while its law's form was checked up to the paper's runs, so the form's error is counted only beyond the
furthest of the two (``Discrepancy.source``, on by default). Inside the paper's range the band is the law's own.
On held-out splits of real runs of another corpus (single-epoch datablations runs on C4, 4 fitted per split,
forecast inside the Chinchilla presets' range) this scores better than measuring from the fitted runs alone
(``benchmarks/bench_forecast_checks.py --part heldout``, ``benchmarks/README.md``).

The scales ``r`` (exponent), ``s`` (heavier-tailed mixture over curves), ``f``
(floor), ``g`` (growth) and ``c`` are not informed by the fitted data (no point
lies beyond its own range) and do not depend on the noise scale: they are
learned from held-out errors by empirical Bayes, maximizing the held-out log
score of leave-the-largest-out splits of the bundled curves, extrapolating from
0.1 to 5 times the fitted span (``benchmarks/learn_discrepancy.py`` and
``benchmarks/README.md``, "Held-out forecasts"). On that corpus neither ``g``
nor ``c`` raises the held-out log score, so the default leaves them at 0. Nor
does a fit's own structure inform them: the rate that best forecasts the upper
part of each curve from its lower part does not predict the rate that forecasts
the points beyond the data (it moves with where the curves are cut, and points
the other way on chinchilla; ``benchmarks/self_discrepancy.py``), nor does
the law's in-sample misfit: the size of the residuals' structured part (the
signal Kennedy and O'Hagan learn a discrepancy's amplitude from), their lag-1
autocorrelation or the noise scale, each relative to the law's fall over the
data, does not track the rate a data set's held-out points want, and as a
term of the rate none beats the default leave-one-data-set-out
(``benchmarks/learn_discrepancy.py --misfit``). So every fit gets the corpus's
scales. The simulation-based calibration checks (``bs.sbc``)
test the law's parameters and values without the discrepancy:
``Fit.predictive_draws`` leaves it out unless asked.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import functools

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.laws import Law
from bayescale._src.model.model import ModelSpec, log_mean


class Discrepancy(NamedTuple):
    """Scales of the law's shape drift beyond the data (module docstring).

    Attributes
    ----------
    rate
        ``r``: the standard deviation of ``eta_0``, the log of the factor on
        the reducible part's rate of decline beyond the data (0.1: a power
        law's exponent is off by about 10% in extrapolation).
    spread
        ``s``: the standard deviation of the log of the drift's scale between
        draws (a scale mixture: heavier tails than a normal; 0 for none).
    floor
        ``f``: the standard deviation of the floor's move, in logit of its
        share of the law's value at the edge of the data, ``E / L_ref``.
    growth
        ``g``: the standard deviation of ``eta_1``, the change of the log
        rate per span of the fitted progress: the rate drifts further the
        further one extrapolates relative to what the data covered.
    information
        ``c``: how the drift's scales shrink where the posterior itself is
        unsure of the law's shape: ``rate`` and ``growth`` are multiplied by
        ``exp(-c sd(log u_span))``, the standard deviation over the draws of
        the log of the progress the fitted data covered (near 0 for a curve
        its data pin down; large for a few runs, whose shape comes from the
        prior). 0: the same scales for every curve.
    source
        With a literature preset that records the runs its paper fitted
        (``Preset.source``): measure the progress beyond the furthest of the
        fitted data and those runs (module docstring). ``False``: from the
        fitted data alone. A fit without such a preset is the same either way.
    """

    rate: float = 0.2
    spread: float = 1.0
    floor: float = 0.0
    growth: float = 0.0
    information: float = 0.0
    source: bool = True

    @property
    def scales(self) -> tuple[float, float, float, float, float]:
        """The five scales ``(rate, spread, floor, growth, information)``, in the order :func:`value_shifts`
        passes them."""
        return (self.rate, self.spread, self.floor, self.growth, self.information)


#: The default, learned by empirical Bayes on held-out splits of the bundled curves
#: (benchmarks/learn_discrepancy.py; benchmarks/README.md, "Held-out forecasts").
DEFAULT = Discrepancy()


def resolve(discrepancy: Any) -> Discrepancy | None:
    """``True`` or ``"default"`` -> :data:`DEFAULT`; ``None`` or ``False`` -> no term; a :class:`Discrepancy` as is."""
    if discrepancy is None or discrepancy is False:
        return None
    if discrepancy is True or (isinstance(discrepancy, str) and discrepancy == "default"):
        return DEFAULT
    if isinstance(discrepancy, Discrepancy):
        if not (np.isfinite(discrepancy.rate) and discrepancy.rate >= 0):
            raise ValueError(f"discrepancy rate must be a finite number >= 0, got {discrepancy.rate!r}")
        if not (np.isfinite(discrepancy.spread) and discrepancy.spread >= 0):
            raise ValueError(f"discrepancy spread must be a finite number >= 0, got {discrepancy.spread!r}")
        if not (np.isfinite(discrepancy.floor) and discrepancy.floor >= 0):
            raise ValueError(f"discrepancy floor must be a finite number >= 0, got {discrepancy.floor!r}")
        if not (np.isfinite(discrepancy.growth) and discrepancy.growth >= 0):
            raise ValueError(f"discrepancy growth must be a finite number >= 0, got {discrepancy.growth!r}")
        if not np.isfinite(discrepancy.information):
            raise ValueError(f"discrepancy information must be a finite number, got {discrepancy.information!r}")
        if not isinstance(discrepancy.source, (bool, np.bool_)):
            raise TypeError(f"discrepancy source must be True or False, got {discrepancy.source!r}")
        return discrepancy
    raise TypeError(
        f"discrepancy must be True, False, None, 'default' or a bs.Discrepancy, got {type(discrepancy).__name__} "
        f"{discrepancy!r}"
    )


def coordinates(law: Law, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The scale coordinates of points, in decades: ``[..., k]`` (one column, or one per input).

    ``log10 x`` for a one-input law, ``log10 6 N D`` for a law of ``N`` and ``D``
    (compute), else ``log10`` of every input.
    """
    if len(law.inputs) == 1:
        return np.log10(np.asarray(inputs[law.inputs[0]], float))[..., None]
    if {"N", "D"} <= set(law.inputs):
        return np.log10(6.0 * np.asarray(inputs["N"], float) * np.asarray(inputs["D"], float))[..., None]
    return np.stack([np.log10(np.asarray(inputs[k], float)) for k in law.inputs], axis=-1)


def distances(law: Law, fitted: Mapping[str, np.ndarray], rows: Sequence[np.ndarray],
              new: Mapping[str, np.ndarray]) -> np.ndarray:
    """Decades from each curve's fitted range to each new point: ``[curves, points]``.

    ``fitted`` are the fit's inputs (``rows[c]`` those of curve ``c``); ``new``
    the inputs to predict at, either ``[points]`` (the same for every curve)
    or ``[curves, points]``.
    """
    known = coordinates(law, fitted)
    low = np.stack([known[r].min(axis=0) for r in rows])  # [curves, k]
    high = np.stack([known[r].max(axis=0) for r in rows])
    target = coordinates(law, new)
    if target.ndim == 2:
        target = target[None]
    outside = np.maximum(target - high[:, None, :], 0.0) + np.maximum(low[:, None, :] - target, 0.0)
    return outside.max(axis=-1)


def floor_name(law: Law) -> str | None:
    """The law's floor parameter (its irreducible loss): ``coordinates.irreducible``, else ``E``; ``None``: floor 0
    (a score law's room below its ceiling falls towards 0)."""
    if law.bounds is not None:
        return None
    name = getattr(law.coordinates, "irreducible", None)
    if name is None and "E" in law.param_names:
        name = "E"
    return name


def fitted_inputs(law: Law, fitted: Mapping[str, np.ndarray], rows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Each curve's fitted inputs as ``[curves, width]``, padded by repeating the curve's first point."""
    width = max(len(r) for r in rows)
    index = np.stack([np.concatenate([r, np.full(width - len(r), r[0])]) for r in rows])
    return {k: np.asarray(fitted[k], float)[index] for k in law.inputs}


def source_inputs(discrepancy: Discrepancy, spec: ModelSpec) -> dict[str, np.ndarray] | None:
    """The runs of the preset's paper (``Preset.source``) as the law's inputs ``{input: [runs]}``, where
    ``discrepancy.source`` is on and the fit's priors are exactly a preset's that records them; else ``None``."""
    from bayescale.priors import presets  # the priors package imports the fitting code

    if not discrepancy.source:
        return None
    name = presets.matching(spec.law, spec.prior_dict)
    return None if name is None else presets.source_inputs(name, spec.law)


def shifts(discrepancy: Discrepancy, spec: ModelSpec, params: Mapping[str, Any], fitted: Mapping[str, Any],
           x: Mapping[str, Any], key: jax.Array, source: Mapping[str, Any] | None = None) -> jax.Array:
    """The discrepancy as a shift of the likelihood's location, ``[curves, draws, points]``.

    ``params`` are the law's draws ``[curves, draws]``, ``fitted`` each
    curve's fitted inputs ``[curves, width]`` (:func:`fitted_inputs`) and
    ``x`` the inputs to predict at, ``[curves, points]`` or ``[points]``;
    ``source`` (:func:`source_inputs`), runs ``[runs]`` the law was checked on
    besides the fitted data: the edge of the data ``L_ref`` is then the
    smallest value at either. The shift is ``locate(log tilde L) - locate(log
    L)``: added to the law's location it gives the distorted draw (module
    docstring).
    """
    runs = None if source is None else {k: jnp.asarray(v) for k, v in source.items()}
    new, reference, start = _law_at(spec, dict(params), dict(fitted), dict(x), runs)
    return value_shifts(discrepancy, spec, params, new, reference, start, key)


def value_shifts(discrepancy: Discrepancy, spec: ModelSpec, params: Mapping[str, Any], new: jax.Array,
                 reference: jax.Array, start: jax.Array, key: jax.Array) -> jax.Array:
    """:func:`shifts` from the law's values: ``new [curves, draws, points]`` at the points to predict,
    ``reference`` and ``start [curves, draws]``, the smallest and the largest oriented value at the fitted
    points (:func:`progress`; their ratio is the progress the data covered). For a caller whose inputs are
    themselves draws (the second stage of ``bs.forecast_score``)."""
    dtype = jnp.result_type(new)
    scales = jnp.asarray(discrepancy.scales, dtype)
    return _shifts(spec, floor_name(spec.law), scales, dict(params), new, reference, start, key)


def oriented(law: Law, params: Mapping[str, Any], value):
    """The law's values as a loss (lower is better, falling towards a floor): the value itself, or for a score
    law with :attr:`Law.bounds <bayescale.laws.Law>` (higher is better) the room left below its ceiling,
    ``hi - value``. The distortion acts on this, so a score's draws stay in ``[lo, hi]`` and never fall as
    the law rises."""
    if law.bounds is None:
        return value
    _, hi = law.bounds(params)
    return jnp.expand_dims(jnp.asarray(hi), -1) - value if jnp.ndim(hi) else hi - value


def progress(law: Law, params: Mapping[str, Any], fitted_values):
    """``(L_ref, L_start)``: the smallest and the largest oriented value at the fitted points,
    ``[..., points] -> [...]`` each."""
    values = oriented(law, params, fitted_values)
    return jnp.min(values, axis=-1), jnp.max(values, axis=-1)


@functools.partial(jax.jit, static_argnums=0)
def _law_at(spec: ModelSpec, params, fitted, x, source=None):
    """The law's values at ``x`` ``[C, S, M]`` and the progress of the fitted points, ``(L_ref, L_start)``
    ``[C, S]`` each; with ``source`` (inputs ``[runs]``, shared by the curves) ``L_ref`` is the smallest value at
    the fitted points and those runs."""
    law = spec.law

    def values(p, xc):  # law values of one curve's draws at its points: [S, M]
        return jax.vmap(lambda q: jnp.exp(log_mean(law, q, xc)))(p)

    batched = next(iter(x.values())).ndim == 2
    new = jax.vmap(values, in_axes=(0, 0 if batched else None))(params, x)  # [C, S, M]
    reference, start = progress(law, params, jax.vmap(values)(params, fitted))  # [C, S] each
    if source is not None:
        checked, _ = progress(law, params, jax.vmap(values, in_axes=(0, None))(params, source))
        reference = jnp.minimum(reference, checked)
    return new, reference, start


#: The smallest fitted progress ``u_span`` (in log of the reducible part) that the growth term divides by, and
#: the largest exponent of its drift: a curve that barely moved over its data is extrapolated a long way.
_SPAN_MIN, _EXPONENT_MAX = 0.02, 50.0


@functools.partial(jax.jit, static_argnums=(0, 1))
def _shifts(spec: ModelSpec, floor: str | None, scales, params, new, reference, start, key):
    law, lik = spec.law, spec.likelihood
    rate, spread, floor_scale, growth, information = scales[0], scales[1], scales[2], scales[3], scales[4]
    loss = oriented(law, params, new)
    tiny = jnp.finfo(new.dtype).tiny
    floor_value = params[floor] if floor is not None else jnp.zeros_like(reference)
    share = jnp.clip(floor_value / reference, 0.0, 1.0 - 1e-9)
    # one (eta, zeta) per draw index, shared by the curves: a curve's band is then the same alone or in any
    # batch (posterior draws of different curves are independent, so sharing couples nothing)
    k_scale, k_eta, k_zeta = jax.random.split(key, 3)
    k_growth = jax.random.fold_in(key, 3)
    shape = (1, reference.shape[-1])
    scale = jnp.exp(spread * jax.random.normal(k_scale, shape, new.dtype))
    zeta = floor_scale * jax.random.normal(k_zeta, shape, new.dtype)
    moved = jnp.where(share > 0, jax.nn.sigmoid(jnp.log(share) - jnp.log1p(-share) + zeta), 0.0) * reference
    base = share * reference  # the floor, clipped into [0, L_ref)
    room = jnp.maximum(reference - base, tiny)
    span = jnp.maximum(jnp.log(jnp.maximum(start - base, tiny) / room), _SPAN_MIN)  # u_span [C, S]
    known = jnp.exp(-information * jnp.std(jnp.log(span), axis=-1, keepdims=True))  # [C, 1]
    eta = known * rate * scale * jax.random.normal(k_eta, shape, new.dtype)
    eta_1 = known * growth * scale * jax.random.normal(k_growth, shape, new.dtype)
    u = -jnp.log(jnp.maximum(loss - base[..., None], tiny) / room[..., None])  # progress beyond the data
    beyond = u > 0.0
    u = jnp.where(beyond, u, 0.0)
    c = (eta_1 / span)[..., None]  # the log rate's change per unit of progress
    a = jnp.clip(c * u, -_EXPONENT_MAX, _EXPONENT_MAX)
    small = jnp.abs(a) < 1e-6
    ratio = jnp.where(small, 1.0 + a / 2, jnp.expm1(a) / jnp.where(small, 1.0, a))  # expm1(a) / a
    drifted = jnp.exp(eta)[..., None] * u * ratio  # int_0^u exp(eta + c v) dv
    distorted = jnp.where(beyond, moved[..., None] + (reference - moved)[..., None] * jnp.exp(-drifted), loss)
    if law.bounds is not None:  # back from the room below the ceiling to the score
        distorted = oriented(law, params, distorted)
    log_new = jnp.log(jnp.maximum(new, tiny))
    return lik.locate(jnp.log(jnp.maximum(distorted, tiny))) - lik.locate(log_new)
