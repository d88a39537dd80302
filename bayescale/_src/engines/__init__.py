"""Inference engines, each a few pure functions over a flat unconstrained problem.

- :mod:`~bayescale._src.engines.problem`: the model of one curve as ``potential(z, curve)``.
- :mod:`~bayescale._src.engines.newton`: fixed-step damped Newton, vmappable.
- :mod:`~bayescale._src.engines.map`: multi-start MAP over a batch of curves.
- :mod:`~bayescale._src.engines.laplace`: Gaussian at the mode.
- :mod:`~bayescale._src.engines.nuts`: NumPyro NUTS vmapped over curves and chains.
"""
