"""Any NumPyro model of a batch, as a log density over one flat unconstrained vector.

Engines see only a :class:`Problem`: pure functions of ``(z, data)``, where
``z`` is a flat vector (every latent site of the model in its unconstrained
space, positive sites in log space) and ``data`` one *unit* of the batch, the
arguments of the model. The unit is a curve for independent fits and the whole
table for a partially pooled fit (:mod:`bayescale._src.model.pooling`); engines vmap
over units, so both run through the same compiled code.

The sites and their shapes are read from one abstract trace of the model
(:func:`latent_sites`), so a new model needs no hand-written unravelling.
Problems compare and hash by their ``key``: two problems built from equal
model specs are the same static argument of ``jax.jit``, and share a compiled
program.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import constrain_fn, potential_energy

Sites = tuple[tuple[str, tuple[int, ...]], ...]


class Problem(NamedTuple):
    """Pure functions over the flat unconstrained vector of one unit of data.

    Attributes
    ----------
    key
        What the problem is (e.g. ``("curve", spec)``): equality and hashing use it alone.
    sites
        ``(name, unconstrained shape)`` of every latent site, in the order of the flat vector.
    potential
        ``potential(z, data)``: the negative log joint density, Jacobians included.
    constrain
        ``constrain(z, data)``: every site (deterministic ones included) in natural units.
    init
        ``init(key, data, num_starts) -> [starts, dim]``: dispersed starting
        points for optimization. A problem that has one good start (a pooled
        model started from independent fits) may return fewer than ``num_starts``.
    pilot
        None, or a :class:`Pilot`: a cheaper model of the same data whose
        multi-start mode search replaces ``init`` (see
        :func:`~bayescale._src.engines.base.find_mode`).
    forward
        Derivatives for the mode search by forward mode
        (:func:`~bayescale._src.engines.newton.forward`): for a potential that
        is a long sequential scan; else forward over reverse mode.
    log_likelihood
        ``log_likelihood(z, data)``: the log density of the observations alone (every observed site but
        the factors); ``-potential - log_likelihood`` is then the log prior density in these coordinates,
        Jacobians included. Tempered samplers (:mod:`bayescale._src.engines.smc`) need the split.
    prior
        None, or ``prior(key, data, n) -> [n, dim]``: exact draws of the model's prior in the flat
        coordinates (the density ``exp(-potential - log_likelihood)``), where the model can give them.
    """

    key: Hashable
    sites: Sites
    potential: Callable[[jax.Array, Any], jax.Array]
    constrain: Callable[[jax.Array, Any], dict]
    init: Callable[[jax.Array, Any, int], jax.Array]
    pilot: Pilot | None = None
    forward: bool = False
    log_likelihood: Callable[[jax.Array, Any], jax.Array] | None = None
    prior: Callable[[jax.Array, Any, int], jax.Array] | None = None

    @property
    def dim(self) -> int:
        return sum(math.prod(shape) for _, shape in self.sites)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.sites)

    def __eq__(self, other):
        return isinstance(other, Problem) and self.key == other.key

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key)


class Pilot(NamedTuple):
    """A cheaper model of a problem's data that finds where the problem's own mode search starts.

    Attributes
    ----------
    problem
        The cheaper :class:`Problem` (e.g. the checkpoints of runs as independent points).
    data
        ``data(unit) -> unit of the pilot problem`` from a unit of the problem's data.
    lift
        ``lift(z, unit) -> [candidates, dim]``: starting points of the problem
        from one end point ``z`` of the pilot's mode search (e.g. the pilot's
        parameters with a grid of the values of the problem's extra ones).
    """

    problem: Problem
    data: Callable[[Any], Any]
    lift: Callable[[jax.Array, Any], jax.Array]


def latent_sites(model: Callable, data: Any) -> Sites:
    """``(name, unconstrained shape)`` of every latent sample site of ``model(*data)``, in trace order.

    The model is traced abstractly (``jax.eval_shape``) with every latent site
    at the image of zero, so nothing is computed and improper sites are fine.
    """
    names: list[str] = []

    def zero(site):
        if site["type"] != "sample" or site["is_observed"]:
            return None
        return biject_to(site["fn"].support)(jnp.zeros(site["fn"].shape()))

    def unconstrained(*args):
        tr = handlers.trace(handlers.substitute(handlers.seed(model, 0), substitute_fn=zero)).get_trace(*args)
        out = []
        for name, site in tr.items():
            if site["type"] == "sample" and not site["is_observed"]:
                names.append(name)
                out.append(biject_to(site["fn"].support).inv(site["value"]))
        return out

    shapes = jax.eval_shape(unconstrained, *data)
    return tuple((name, tuple(s.shape)) for name, s in zip(names, shapes))


def make_problem(model: Callable, key: Hashable, example: Any, init: Callable, pilot: Pilot | None = None,
                 forward: bool = False, prior: Callable | None = None) -> Problem:
    """The :class:`Problem` of ``model(*data)``.

    Parameters
    ----------
    model
        A NumPyro model whose positional arguments are the fields of one unit of data.
    key
        Hashable description of the model (equal keys must mean equal models).
    example
        One unit of data (NumPy or JAX arrays) of the shapes the engines will see.
    init
        ``init(key, data, num_starts)``, see :class:`Problem`.
    pilot, forward, prior
        See :class:`Problem`.
    """
    sites = latent_sites(model, example)
    sizes = [math.prod(shape) for _, shape in sites]
    offsets = np.cumsum([0, *sizes])

    def unravel(z):
        return {name: z[..., offsets[i] : offsets[i + 1]].reshape(z.shape[:-1] + shape)
                for i, (name, shape) in enumerate(sites)}

    def potential(z, data):
        return potential_energy(model, tuple(data), {}, unravel(z))

    def constrain(z, data):
        return constrain_fn(model, tuple(data), {}, unravel(z), return_deterministic=True)

    def log_likelihood(z, data):
        values = constrain_fn(model, tuple(data), {}, unravel(z))
        tr = handlers.trace(handlers.substitute(model, data=values)).get_trace(*data)
        return sum((_log_prob(site) for site in tr.values() if _is_observation(site)), jnp.zeros((), z.dtype))

    return Problem(key, sites, potential, constrain, init, pilot, forward, log_likelihood, prior)


def _is_observation(site) -> bool:
    """An observed sample site that is data, not a factor (``numpyro.factor`` marks its sites auxiliary)."""
    return site["type"] == "sample" and site["is_observed"] and not site["infer"].get("is_auxiliary", False)


def _log_prob(site) -> jax.Array:
    """The summed log density of one observed site, its mask and scale applied as ``log_density`` does."""
    log_prob = site["fn"].log_prob(site["value"])
    if site["scale"] is not None:
        log_prob = site["scale"] * log_prob
    return jnp.sum(log_prob)


def ravel(sites: Sites, values: dict[str, jax.Array]) -> jax.Array:
    """The flat vector of unconstrained ``values`` keyed by site (the inverse of a problem's unravelling)."""
    return jnp.concatenate([jnp.reshape(values[name], (-1,)) for name, _ in sites])


def to_device(tree: Any, dtype) -> Any:
    """Cast a numpy batch to JAX arrays of ``dtype`` (boolean leaves, the mask, stay boolean)."""
    def cast(a):
        a = np.asarray(a)
        return jnp.asarray(a, dtype=bool if a.dtype == bool else dtype)

    return jax.tree_util.tree_map(cast, tree)
