"""Inference engines, each a few pure functions over a flat unconstrained problem.

- :mod:`~bayescale.inference.problem`: the model of one curve as ``potential(z, curve)``.
- :mod:`~bayescale.inference.newton`: fixed-step damped Newton, vmappable.
- :mod:`~bayescale.inference.map`: multi-start MAP over a batch of curves.
- :mod:`~bayescale.inference.laplace`: Gaussian at the mode.
- :mod:`~bayescale.inference.nuts`: NumPyro NUTS vmapped over curves and chains.
"""
