"""Numerical precision: bayescale computes in float64 without changing the user's JAX settings.

Scaling-law fits mix inputs spanning ten orders of magnitude with exponents
near 0.3; float64 keeps the Hessians and the Cholesky factors of the Laplace
step well conditioned on CPU. Importing bayescale leaves ``jax_enable_x64`` as
it was: every public entry point runs inside ``jax.enable_x64(True)`` (a
thread-local context), so a user's float32 model in the same process stays
float32. The float32 path (fast on GPU) is still there: ``bs.fit(...,
dtype=jnp.float32)`` casts the data and the engines follow their dtype, or
set ``BAYESCALE_X64=0`` to run every entry point under JAX's own setting.

Compiled programs are cached per precision, so a program traced under the
context is reused by the next call under it and never by float32 code.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Callable, Iterator, TypeVar

import jax

F = TypeVar("F", bound=Callable)


def enabled() -> bool:
    """True unless ``BAYESCALE_X64=0`` asks bayescale to keep JAX's own precision."""
    return os.environ.get("BAYESCALE_X64", "1") != "0"


@contextlib.contextmanager
def float64_context() -> Iterator[None]:
    """Enable 64-bit types inside the block (a no-op with ``BAYESCALE_X64=0`` or when already on)."""
    if not enabled() or jax.config.jax_enable_x64:
        yield
        return
    with jax.enable_x64(True):
        yield


def float64(fn: F) -> F:
    """Decorate a public entry point so that it computes in float64 (see :func:`float64_context`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with float64_context():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def float64_methods(cls: type) -> type:
    """Class decorator: every public method and property of ``cls`` computes in float64 (see :func:`float64`)."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") and name not in ("__getitem__", "__post_init__"):
            continue
        if isinstance(member, property):
            setattr(cls, name, property(float64(member.fget), member.fset, member.fdel, member.__doc__))
        elif isinstance(member, (classmethod, staticmethod)):
            setattr(cls, name, type(member)(float64(member.__func__)))
        elif callable(member) and not isinstance(member, type):
            setattr(cls, name, float64(member))
    return cls
