"""Bayesian experimental design of scaling-law sweeps (public API in :mod:`bayescale.design`)."""
