"""Reading results back: ``bs.load``, the one loader of fits.

A fit saved with :meth:`Fit.save <bayescale._src.fit.results.Fit.save>` is one
netCDF file (format: :mod:`bayescale._src.fit.netcdf`); a ``bs.fit_stream`` run
is a directory of chunk files (:mod:`bayescale._src.analysis.streaming`).
``bs.load`` opens either, so users never choose a loader.
"""

from __future__ import annotations

import os
from pathlib import Path

from bayescale._src.analysis.streaming import StreamedFit
from bayescale._src.fit import netcdf
from bayescale._src.fit.results import Fit
from bayescale._src.precision import float64


@float64
def load(path: str | os.PathLike) -> Fit | StreamedFit:
    """A fit written by :meth:`Fit.save` (a :class:`Fit`), or a directory written by ``bs.fit_stream`` (its
    :class:`StreamedFit`).

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        The file is not a bayescale fit, comes from a newer format version, or
        names a law that is not registered.
    """
    if Path(path).is_dir():
        return StreamedFit(path)
    return Fit(**netcdf.read(path))
