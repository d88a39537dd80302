"""The law abstraction: a jittable form plus a parameter spec with default priors.

A :class:`Law` is a plain, immutable description. Its ``fn`` maps a dict of
parameters (natural units) and a dict of inputs (natural units) to the predicted
loss; it must be written with ``jax.numpy`` so that it can be jitted, vmapped and
differentiated. Every parameter carries a default prior (a NumPyro distribution
in natural units) whose support encodes the sign constraint.

Reference-scale reparameterization
----------------------------------
An amplitude ``A`` in ``A * x**-alpha`` is nearly collinear with ``alpha`` in the
posterior when ``log x`` is far from zero: moving ``alpha`` moves ``A`` by
``exp(alpha * log x)``. Samplers then need long trajectories. A parameter may
declare ``scale_by``: pairs ``(input, exponent)`` such that

.. math:: \\log A = z + \\sum_k \\mathrm{exponent}_k \\, \\log x_{k,\\mathrm{ref}},

where ``z`` is the log of the term at the reference size (the geometric mean of
the observed inputs) and ``exponent`` is the name of another parameter, or
``None`` for a plain shift. The map ``z -> log A`` is a shear with unit Jacobian,
so the prior stays the user's prior on ``A``; only the sampler's coordinates
change.

End-point coordinates
---------------------
A law whose core is ``E + A x**-alpha`` may declare :class:`Ends`; its fits then
sample the log of the law at the largest observed ``x``, the log of the drop
between the smallest and largest ``x`` and the exponent's excess over its
smallest value compatible with ``E > 0`` (see :mod:`bayescale._src.model.coordinates.ends`), the
quantities nearly flat curves pin down. A saturating core ``A (1/x + gamma)**alpha``
may declare :class:`SaturationEnds` (the law at the largest ``x``, its log-fall
over the range, the exponent's excess; :mod:`bayescale._src.model.coordinates.saturation_ends`), and
Chinchilla's ``E + A N**-alpha + B D**-beta`` :class:`TwoTermEnds` (the law at the
largest ``(N, D)``, each term's drop over its input's range and each exponent's
excess; :mod:`bayescale._src.model.coordinates.two_term_ends`), and its data-constrained form
``E + A N'**-alpha + B D'**-beta`` :class:`RepetitionEnds` (the same over the range of the effective
data ``D'``; :mod:`bayescale._src.model.coordinates.repetition_ends`). A product ``K N**-alpha D**-beta
C**-gamma`` may declare :class:`SharedExponent` (the sums ``alpha + gamma``,
``beta + gamma`` and gamma's share of the smaller, what a design with
``C = 6 N D`` pins down; :mod:`bayescale._src.model.coordinates.shared_exponent`). A sum of ratio
terms ``(x_c/x)**alpha`` without a floor (the additive law) may declare
:class:`RatioEnds` (the terms peeled one by one off the law at the corner;
:mod:`bayescale._src.model.coordinates.ratio_ends`). A law bounded
between two levels (M4) may declare :class:`BoundedEnds` (the levels ``E <
L(x_hi) < L(x_lo) < E0`` in logit coordinates and the shape;
:mod:`bayescale._src.model.coordinates.bounded_ends`). A law with a least value (an IsoFLOP
profile's ``L_min``) may declare :class:`Floor`: that value alone is sampled through its ratio
to the smallest observed loss, its tail below the noise compressed
(:mod:`bayescale._src.model.coordinates.floor`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple

from numpyro.distributions import Distribution, constraints

Array = Any


class Param(NamedTuple):
    """One parameter of a law.

    Parameters
    ----------
    name
        Public name, used in the posterior, the summary and the priors.
    prior
        Default prior, a NumPyro distribution in natural units. Its support
        is the parameter's constraint.
    description
        One line for tables and ``--help``.
    scale_by
        Reference-scale reparameterization, see the module docstring. Only for
        positive parameters.
    amplitude
        True when the parameter's term, at the reference size, is of the order
        of the loss itself; optimizer starts use that guess.
    """

    name: str
    prior: Distribution
    description: str = ""
    scale_by: tuple[tuple[str, str | None], ...] = ()
    amplitude: bool = False


class Ends(NamedTuple):
    """The parameters of a law's ``irreducible + amplitude * input**-exponent`` core (see the module docstring)."""

    input: str
    irreducible: str
    amplitude: str
    exponent: str
    #: a parameter ``x0`` by which the input is shifted, ``E + A (x + x0)^-alpha`` (pow4); None: no shift
    shift: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    @property
    def params(self) -> tuple[str, ...]:
        return (self.irreducible, self.amplitude, self.exponent, *([] if self.shift is None else [self.shift]))


class SaturationEnds(NamedTuple):
    """The parameters of a law's ``amplitude * (1/input + saturation)**exponent`` core (M3; see the module docstring)."""

    input: str
    amplitude: str
    saturation: str
    exponent: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    @property
    def params(self) -> tuple[str, ...]:
        return (self.amplitude, self.saturation, self.exponent)


class TwoTermEnds(NamedTuple):
    """The parameters of a law's ``irreducible + A N**-alpha + B D**-beta`` core (Chinchilla's; see the module
    docstring): ``inputs``, ``amplitudes`` and ``exponents`` name the two terms in order."""

    irreducible: str
    inputs: tuple[str, str]
    amplitudes: tuple[str, str]
    exponents: tuple[str, str]

    @property
    def params(self) -> tuple[str, ...]:
        return (self.irreducible, *self.amplitudes, *self.exponents)


class RepetitionEnds(NamedTuple):
    """The parameters of a data-constrained law's ``irreducible + A N'**-alpha + B D'**-beta`` core (Muennighoff
    et al.'s, with ``D'`` the effective data of ``D`` tokens of ``U`` unique ones; see the module docstring):
    ``inputs`` names ``N``, ``D`` and ``U``, ``data_decay`` the ``R_D*`` that ``D'`` depends on."""

    irreducible: str
    inputs: tuple[str, str, str]
    amplitudes: tuple[str, str]
    exponents: tuple[str, str]
    data_decay: str

    @property
    def params(self) -> tuple[str, ...]:
        return (self.irreducible, *self.amplitudes, *self.exponents, self.data_decay)


class SharedExponent(NamedTuple):
    """The exponents of a product law ``K N^-alpha D^-beta C^-gamma`` whose compute ``C`` may be ``6 N D``
    (see the module docstring): ``exponents`` of ``N`` and ``D``, then the ``shared`` exponent of ``C``."""

    exponents: tuple[str, str]
    shared: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return ()  # the map reads no input: it is the same for every curve

    @property
    def params(self) -> tuple[str, ...]:
        return (*self.exponents, self.shared)


class RatioEnds(NamedTuple):
    """The parameters of a sum of ratio terms without a floor, ``sum_k (scale_k / input_k)**exponent_k`` (the
    additive law; see the module docstring): ``inputs``, ``scales`` and ``exponents`` name the terms in order,
    the last one's value at the corner being what the others leave."""

    inputs: tuple[str, ...]
    scales: tuple[str, ...]
    exponents: tuple[str, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return (*self.scales, *self.exponents)


class Floor(NamedTuple):
    """A law's floor, the least value it reaches anywhere (an IsoFLOP profile's ``L_min``), sampled through its
    ratio to the smallest observed loss with a compressed tail below the noise (see
    :mod:`bayescale._src.model.coordinates.floor`); the other parameters keep their own coordinates."""

    input: str
    floor: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    @property
    def params(self) -> tuple[str, ...]:
        return (self.floor,)


class BoundedEnds(NamedTuple):
    """The parameters of a law bounded between an ``irreducible`` level and a random-guess level reached as a
    share ``reach`` of the room above it, ``(L - E) / (E0 - L)**shape = amplitude * input**-exponent`` (M4; see
    the module docstring)."""

    input: str
    irreducible: str
    reach: str
    exponent: str
    shape: str
    amplitude: str

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)

    @property
    def params(self) -> tuple[str, ...]:
        return (self.irreducible, self.reach, self.exponent, self.shape, self.amplitude)


SAMPLERS = ("nuts", "smc")  # how method="auto" samples a law's curves (Law.sampler)


class Law(NamedTuple):
    """A scaling-law form.

    Parameters
    ----------
    name
        Registry name (``bs.fit(..., law=name)``).
    fn
        ``fn(params, inputs) -> loss``, jittable, broadcasting over the inputs.
    inputs
        Names of the inputs, e.g. ``("x",)`` or ``("N", "D")``.
    params
        The parameter spec.
    formula
        Human-readable formula.
    reference
        The paper the form comes from.
    note
        A known limitation (e.g. a design on which the law is not
        identified), shown by ``bs.laws.table()``.
    likelihood
        The likelihood ``bs.fit`` uses for this law when none is given (a
        name of ``bayescale._src.model.model.LIKELIHOODS``); empty: the library's
        default (``"student_t"``, or ``"normal"`` with ``run=``).
    coordinates
        The declaration of the law's sampling coordinates: the parameters of an ``E + A x^-alpha`` core (:class:`Ends`), of an
        ``A (1/x + gamma)^alpha`` core (:class:`SaturationEnds`) or of an
        ``E + A N^-alpha + B D^-beta`` core (:class:`TwoTermEnds`), of its data-constrained form
        (:class:`RepetitionEnds`) or the
        exponents of a ``K N^-alpha D^-beta C^-gamma`` product (:class:`SharedExponent`), of a sum of
        ratio terms (:class:`RatioEnds`), or the
        parameters of a law bounded between two levels (M4, :class:`BoundedEnds`), whose fits
        then sample end-point coordinates (module docstring), or a law's least value (:class:`Floor`,
        the IsoFLOP profiles); ``None``: the
        reference-scale coordinates alone. ``law._replace(coordinates=None)`` turns them off.
    max_pareto_k
        The largest Pareto k at which ``method="auto"`` keeps a curve's
        importance draws for this law (``None``: auto's own 0.7, Vehtari et
        al.'s threshold). A law whose importance draws measure narrow in SBC at
        k in (0.5, 0.7] sets a stricter one and sends those curves to NUTS
        (``additive_compute``: 0.5).
    sampler
        How ``method="auto"`` samples this law's curves
        (:mod:`bayescale._src.engines.auto`): ``"nuts"``, importance sampling
        around the modes with NUTS for the curves where it fails; ``"smc"``,
        tempered sequential Monte Carlo from the prior for every curve, for a
        law whose posteriors have mass far from every mode that a Pareto k
        does not reveal (``janoschek``: a long curved ridge to the power-law
        limit of a slow decay; ``mmf``: a curve whose bend lies outside the
        data; on 200 simulated curves 3.3 s (janoschek) and 4.6 s (mmf) per
        curve on 2 CPU cores, 1.5-7.5 times importance sampling with NUTS).
    bounds
        ``bounds(params) -> (lower, upper)``: the range of a law whose value is
        bounded by construction (a benchmark score between a chance floor and
        a ceiling, :mod:`bayescale.laws.downstream`); ``None``: no such range.
        Predictions of the law's value then keep their bands inside it: the
        discrepancy term drifts in ``logit((L - lower) / (upper - lower))``.
    pooled
        The parameters ``pooling="partial"`` shares across groups when the fit
        names none; empty: the exponents that rescale an amplitude.
    value_range
        ``(lower, upper)``: the interval the law's value lies in whatever its
        parameters, for a law of a bounded quantity (``m4``, a law of error
        rates: ``(0, 1)``); ``bs.fit`` rejects a column whose median lies outside
        it with a ``ValueError`` (no parameter value can fit it) and warns about a
        few observations outside (the noise can reach them). ``None``: any
        positive value.
    input_lower
        ``((input, lower), ...)``: inputs the law is only defined above
        (``ilog2``'s ``1 / log x`` needs ``x > 1``); ``bs.fit`` and every
        prediction reject values at or below with the input's name. Empty:
        any positive input.
    """

    name: str
    fn: Callable[[Mapping[str, Array], Mapping[str, Array]], Array]
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    formula: str = ""
    reference: str = ""
    note: str = ""
    likelihood: str = ""
    coordinates: (Ends | SaturationEnds | TwoTermEnds | RepetitionEnds | SharedExponent | RatioEnds | BoundedEnds
                  | Floor | None) = None
    max_pareto_k: float | None = None
    sampler: str = "nuts"
    bounds: Callable[[Mapping[str, Array]], tuple[Array, Array]] | None = None
    pooled: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None
    input_lower: tuple[tuple[str, float], ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"law {self.name!r} has no parameter {name!r}; it has {list(self.param_names)}")

    def __call__(self, params: Mapping[str, Array], inputs: Mapping[str, Array]) -> Array:
        return self.fn(params, inputs)


def check_law(law: Law) -> Law:
    """Validate a law's spec; raise ``ValueError`` naming the problem."""
    names = law.param_names
    if len(set(names)) != len(names):
        raise ValueError(f"law {law.name!r} has duplicated parameter names: {list(names)}")
    if "sigma" in names:
        raise ValueError(f"law {law.name!r}: 'sigma' is reserved for the noise scale")
    if not law.inputs:
        raise ValueError(f"law {law.name!r} declares no inputs")
    for p in law.params:
        if not isinstance(p.prior, Distribution):
            raise TypeError(f"law {law.name!r}: prior of {p.name!r} must be a numpyro Distribution")
        for inp, exponent in p.scale_by:
            if inp not in law.inputs:
                raise ValueError(f"law {law.name!r}: {p.name!r} is scaled by unknown input {inp!r}")
            if exponent is not None and exponent not in names:
                raise ValueError(f"law {law.name!r}: {p.name!r} is scaled by unknown parameter {exponent!r}")
            if exponent is not None and law.param(exponent).scale_by:
                raise ValueError(f"law {law.name!r}: exponent {exponent!r} may not itself be rescaled")
        if p.scale_by and p.prior.support is not constraints.positive:
            raise ValueError(f"law {law.name!r}: rescaled parameter {p.name!r} needs a positive prior")
    if law.coordinates is not None:
        for name in law.coordinates.inputs:
            if name not in law.inputs:
                raise ValueError(f"law {law.name!r}: its coordinates name unknown input {name!r}")
        for name in law.coordinates.params:
            if name not in names:
                raise ValueError(f"law {law.name!r}: its coordinates name unknown parameter {name!r}")
    for name in law.pooled:
        if name not in names:
            raise ValueError(f"law {law.name!r}: its default pooled parameter {name!r} is not one of its parameters")
        if law.param(name).scale_by:
            raise ValueError(f"law {law.name!r}: its default pooled parameter {name!r} is a rescaled amplitude")
    if law.bounds is not None and not callable(law.bounds):
        raise TypeError(f"law {law.name!r}: bounds must be a function of the parameters, got {law.bounds!r}")
    if law.value_range is not None:
        ok = (isinstance(law.value_range, tuple) and len(law.value_range) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in law.value_range))
        if not ok or not 0 <= law.value_range[0] < law.value_range[1] < float("inf"):
            raise ValueError(f"law {law.name!r}: value_range must be (lower, upper) with 0 <= lower < upper < inf, "
                             f"got {law.value_range!r}")
    if law.max_pareto_k is not None and not 0 < law.max_pareto_k <= 0.7:
        raise ValueError(f"law {law.name!r}: max_pareto_k must lie in (0, 0.7], got {law.max_pareto_k}")
    if law.sampler not in SAMPLERS:
        raise ValueError(f"law {law.name!r}: sampler must be one of {SAMPLERS}, got {law.sampler!r}")
    for entry in law.input_lower:
        if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] in law.inputs
                and isinstance(entry[1], (int, float)) and math.isfinite(entry[1])):
            raise ValueError(f"law {law.name!r}: input_lower must hold (input, finite lower bound) pairs of its "
                             f"inputs {list(law.inputs)}, got {entry!r}")
    return law


def log_shift(param: Param, values: Mapping[str, Array], log_refs: Mapping[str, Array]) -> Array:
    """The shift ``log A - z`` of a rescaled parameter (zero when it has no ``scale_by``)."""
    shift = 0.0  # a weak-typed zero keeps the caller's float32/float64
    for inp, exponent in param.scale_by:
        coef = 1.0 if exponent is None else values[exponent]
        shift = shift + coef * log_refs[inp]
    return shift
