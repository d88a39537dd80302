"""Numerical precision: float64 by default (set BAYESCALE_X64=0 to keep JAX's float32 default).

Scaling-law fits mix inputs spanning ten orders of magnitude with exponents
near 0.3; float64 keeps the Hessians and the Cholesky factors of the Laplace
step well conditioned on CPU. The float32 path (fast on GPU) is supported by
passing ``dtype=jnp.float32`` to ``bs.fit`` or setting BAYESCALE_X64=0 before
the first import.
"""

import os

import jax

if os.environ.get("BAYESCALE_X64", "1") != "0":
    jax.config.update("jax_enable_x64", True)
