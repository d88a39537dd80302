"""From user tables to a validated, padded batch of curves.

Every fit goes through :func:`prepare`: it checks the caller's table (never
modifying it), picks the law's input columns, splits it into curves by the
group column, and pads the curves into one rectangular batch with a mask.
Padded slots hold the curve's reference input and median loss so that no NaN
is ever produced, and the mask removes them from the likelihood.

The point axis is padded up to a bucket size (the next power of two, at least
8), so fits of data sets of similar length share one compiled program.

What is checked, and how it fails (always naming the column or group):

- ``ValueError``: a missing column (with a did-you-mean hint), a non-numeric
  column, missing/non-finite or non-positive sizes or losses, an empty table,
  a table or group with fewer than :data:`MIN_POINTS` points, missing group labels.
- ``TypeError``: data that is not a DataFrame or a dict of columns, a column
  name that is a list, array or None.
- ``UserWarning``: duplicated rows (kept: repeated runs of one configuration
  are legitimate data, and the likelihood treats them as independent), and a
  compute column inconsistent with ``C = 6 N D`` by more than a factor
  :data:`COMPUTE_TOLERANCE` when the table has N, D and C.
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from bayescale._src.model import runs
from bayescale.laws import Law

MIN_POINTS = 2
COMPUTE_TOLERANCE = 1.5  # C / (6 N D) beyond this factor either way warns
COLLINEAR_TOLERANCE = 1e-3  # sd of log(C / (N D)) below this times the range of log C (at least 1): not identified


class CurveBatch(NamedTuple):
    """A padded batch of curves, the argument of every compiled engine.

    Shapes: ``inputs[k]``, ``log_y`` and ``mask`` are ``[curves, points]``;
    ``log_refs[k]`` is ``[curves]``: the mean log of input ``k`` over the
    curve's observed points (the reference size of the reparameterization).
    """

    inputs: dict[str, np.ndarray]
    log_y: np.ndarray
    mask: np.ndarray
    log_refs: dict[str, np.ndarray]


class Columns(NamedTuple):
    """Which table columns feed the law: ``inputs`` maps law input -> column; ``run`` (optional) says which
    rows are checkpoints of one training run (:mod:`bayescale._src.model.runs`)."""

    inputs: dict[str, str]
    y: str
    group: str | None
    run: str | None = None


def example_batch(inputs: Sequence[str], curves: tuple[int, ...] = ()) -> CurveBatch:
    """A placeholder batch of the smallest bucket (8 points) with leading axes ``curves``: the shapes that a
    model is traced with to find its sites (their values never matter)."""
    shape = (*curves, 8)
    return CurveBatch({k: np.ones(shape) for k in inputs}, np.zeros(shape), np.ones(shape, bool),
                      {k: np.zeros(curves) for k in inputs})


def bucket_size(n: int, minimum: int = 8) -> int:
    """Smallest power of two >= ``n`` (and >= ``minimum``)."""
    size = minimum
    while size < n:
        size *= 2
    return size


def resolve_columns(
    law: Law, y: str, x: str | None, columns: Mapping[str, str] | None, group: str | None, run: str | None = None
) -> Columns:
    mapping = {name: name for name in law.inputs}
    if x is not None:
        if law.inputs != ("x",):
            raise ValueError(
                f"x= names the single input of a one-input law; law {law.name!r} takes "
                f"{list(law.inputs)}: map them with columns={{...}}"
            )
        mapping["x"] = x
    for key, col in (columns or {}).items():
        if key not in law.inputs:
            raise ValueError(f"law {law.name!r} takes no input {key!r}; its inputs are {list(law.inputs)}")
        mapping[key] = col
    if run is not None:
        _check_label(run, "run")
    return Columns(mapping, y, group, run)


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({k: np.asarray(v) for k, v in data.items()})
        except ValueError as err:
            raise ValueError(f"the input columns have mismatched lengths: {err}") from None
    raise TypeError(f"data must be a pandas DataFrame or a dict of columns, got {type(data).__name__}")


def _did_you_mean(col: Any, columns: Sequence[Any]) -> str:
    names = [str(c) for c in columns]
    close = difflib.get_close_matches(str(col), names, n=1, cutoff=0.6)
    if not close:
        lower = {n.lower(): n for n in names}
        close = [lower[str(col).lower()]] if str(col).lower() in lower else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _missing(col: Any, role: str, frame: pd.DataFrame) -> ValueError:
    return ValueError(
        f"column {col!r} ({role}) not found{_did_you_mean(col, list(frame.columns))}; "
        f"the table has columns {list(frame.columns)}"
    )


def _check_label(col: Any, what: str) -> None:
    if col is None or isinstance(col, (list, dict, set, np.ndarray, pd.Series)):
        raise TypeError(f"{what} must be a column name, got {type(col).__name__} {col!r}")


def _numeric_column(frame: pd.DataFrame, col: str, role: str) -> np.ndarray:
    _check_label(col, f"the column of {role}")
    if col not in frame.columns:
        raise _missing(col, role, frame)
    series = frame[col]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise ValueError(f"column {col!r} ({role}) must be numeric, got dtype {series.dtype}")
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"column {col!r} ({role}) has {int(bad.sum())} missing or non-finite value(s), "
            f"first at row {frame.index[np.argmax(bad)]!r}"
        )
    if (values <= 0).any():
        raise ValueError(
            f"column {col!r} ({role}) must be positive; {int((values <= 0).sum())} value(s) are <= 0, "
            f"first at row {frame.index[np.argmax(values <= 0)]!r}"
        )
    return values


def validate(data: Any, law: Law, cols: Columns) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Check a table for a law; return (frame, inputs, y) as float64 arrays."""
    frame = _as_frame(data)
    if len(frame) == 0:
        raise ValueError("the data table is empty")
    inputs = {k: _numeric_column(frame, c, f"input {k!r} of law {law.name!r}") for k, c in cols.inputs.items()}
    for name, values in inputs.items():
        check_domain(law, name, values, f"column {cols.inputs[name]!r} (input {name!r} of law {law.name!r})",
                     lambda i: f", first at row {frame.index[i]!r}")
    y = _numeric_column(frame, cols.y, "the loss")
    for role, col in (("group", cols.group), ("run", cols.run)):
        if col is not None:
            _label_column(frame, col, role)
    _check_compute(frame, cols, inputs)
    labels = [c for c in (cols.group, cols.run) if c is not None]
    used = list(dict.fromkeys([*cols.inputs.values(), cols.y, *labels]))
    dup = frame.duplicated(subset=used)
    if dup.any():
        warnings.warn(
            f"{int(dup.sum())} duplicated row(s) in columns {used}; they are kept and count as repeated runs",
            stacklevel=3,
        )
    return frame, inputs, y


def _label_column(frame: pd.DataFrame, col: Any, role: str) -> None:
    """Check a column of labels (``group``, ``run``): present, with no missing value."""
    _check_label(col, role)
    if col not in frame.columns:
        raise ValueError(
            f"{role} column {col!r} not found{_did_you_mean(col, list(frame.columns))}; "
            f"the table has columns {list(frame.columns)}"
        )
    missing = frame[col].isna().to_numpy()
    if missing.any():
        raise ValueError(f"{role} column {col!r} has missing values ({int(missing.sum())}, "
                         f"first at row {frame.index[np.argmax(missing)]!r})")


def _is_number_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _check_compute(frame: pd.DataFrame, cols: Columns, inputs: Mapping[str, np.ndarray]) -> None:
    """Warn when a table has N, D and C and C is not about 6 N D (Kaplan et al. 2020, sec. 2.1)."""
    found = {}
    for k in ("N", "D", "C"):
        if k in inputs:
            found[k] = inputs[k]
        elif k in frame.columns and _is_number_column(frame[k]):
            found[k] = frame[k].to_numpy(dtype=np.float64)
    if len(found) < 3:
        return
    with np.errstate(all="ignore"):
        ratio = found["C"] / (6.0 * found["N"] * found["D"])
    off = np.isfinite(ratio) & ((ratio > COMPUTE_TOLERANCE) | (ratio < 1 / COMPUTE_TOLERANCE))
    if off.any():
        names = {k: cols.inputs.get(k, k) for k in ("N", "D", "C")}
        warnings.warn(
            f"compute column {names['C']!r} differs from 6 * {names['N']!r} * {names['D']!r} by more than a factor "
            f"{COMPUTE_TOLERANCE:g} in {int(off.sum())} of {len(ratio)} row(s) (C / 6ND from {np.nanmin(ratio):.3g} "
            f"to {np.nanmax(ratio):.3g}); check the units (FLOPs, parameters, tokens)",
            UserWarning,
            stacklevel=4,
        )


def collinear_compute(law: Law, batch: CurveBatch) -> np.ndarray:
    """Per curve, True when the law takes ``N``, ``D`` and ``C`` and C is proportional to N D to within noise.

    On such a curve a term of ``C`` is a function of ``N`` and ``D``
    (``C = 6 N D`` exactly, as in tables that compute C from N and D): its
    exponent and scale are identified only by the scatter of
    ``r = log(C / (N D))`` around its mean. A curve counts as collinear when
    the standard deviation of ``r`` is below :data:`COLLINEAR_TOLERANCE` times
    the range of ``log C`` (at least 1 e-fold): rounding C to three significant
    digits (sd about 3e-3) counts, a real scatter of a few percent does not.
    """
    if not {"N", "D", "C"} <= set(law.inputs):
        return np.zeros(batch.mask.shape[0], dtype=bool)
    mask = batch.mask
    count = mask.sum(axis=1)
    log_c = np.log(batch.inputs["C"])
    r = np.where(mask, log_c - np.log(batch.inputs["N"]) - np.log(batch.inputs["D"]), 0.0)
    mean = r.sum(axis=1) / count
    sd = np.sqrt(np.where(mask, (r - mean[:, None]) ** 2, 0.0).sum(axis=1) / count)
    span = np.where(mask, log_c, -np.inf).max(axis=1) - np.where(mask, log_c, np.inf).min(axis=1)
    return (count >= 3) & (sd < COLLINEAR_TOLERANCE * np.maximum(span, 1.0))


def prepare(
    data: Any, law: Law, cols: Columns
) -> tuple[CurveBatch, list[Any], list[np.ndarray]]:
    """Validate ``data`` and build the padded batch.

    With a run column (``cols.run``), each curve's rows are sorted by run, then
    size, and the batch is a :class:`~bayescale._src.model.runs.RunBatch` (the run
    layout added); :func:`run_codes` gives each row's run.

    Returns
    -------
    batch
        The :class:`CurveBatch` (float64 numpy arrays; engines cast).
    groups
        The group label of each curve (``[None]`` without a group column).
    rows
        For each curve, the positions (``iloc``) of its rows in the table.
    """
    frame, inputs, y = validate(data, law, cols)
    if cols.group is None:
        groups: list[Any] = [None]
        rows = [np.arange(len(frame))]
    else:
        codes, uniques = pd.factorize(frame[cols.group], sort=True)
        groups = list(uniques)
        # one stable sort, not one scan of the table per group (quadratic: hours for 10^5 groups)
        order = np.argsort(codes, kind="stable")
        rows = np.split(order, np.cumsum(np.bincount(codes, minlength=len(groups)))[:-1])
    for label, idx in zip(groups, rows):
        if len(idx) < MIN_POINTS:
            where = "the table" if label is None else f"group {label!r} of column {cols.group!r}"
            raise ValueError(f"{where} has {len(idx)} point(s); a fit needs at least {MIN_POINTS}")
    if cols.run is None:
        return pad(inputs, y, rows), groups, rows
    codes = runs.codes(frame, cols.run, cols.group)
    rows = [runs.order(idx, codes, inputs) for idx in rows]
    return runs.pad(pad(inputs, y, rows), rows, codes, inputs), groups, rows


def run_codes(data: Any, cols: Columns) -> np.ndarray | None:
    """The integer code of each row's run (``None`` without a run column); the table was validated."""
    return None if cols.run is None else runs.codes(_as_frame(data), cols.run, cols.group)


def pad(inputs: Mapping[str, np.ndarray], y: np.ndarray, rows: Sequence[np.ndarray]) -> CurveBatch:
    """Gather curves ``rows`` of flat arrays into a padded batch."""
    size = bucket_size(max(len(r) for r in rows))
    n = len(rows)
    mask = np.zeros((n, size), dtype=bool)
    log_y = np.zeros((n, size))
    values = {k: np.ones((n, size)) for k in inputs}
    log_refs = {k: np.zeros(n) for k in inputs}
    for i, idx in enumerate(rows):
        m = len(idx)
        mask[i, :m] = True
        log_y[i, :m] = np.log(y[idx])
        log_y[i, m:] = np.median(log_y[i, :m])
        for k, v in inputs.items():
            log_refs[k][i] = np.log(v[idx]).mean()
            values[k][i, :m] = v[idx]
            values[k][i, m:] = np.exp(log_refs[k][i])
    return CurveBatch(values, log_y, mask, log_refs)


def as_inputs(law: Law, new: Any, columns: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Validate new input values for prediction: a dict or DataFrame keyed by input (or mapped column)."""
    frame = _as_frame(new)
    columns = dict(columns or {})
    out = {}
    if len(frame) == 0:
        raise ValueError("no input values to predict at: the table is empty")
    for k in law.inputs:
        col = k if k in frame.columns else columns.get(k, k)
        out[k] = _numeric_column(frame, col, f"input {k!r} of law {law.name!r}")
        check_domain(law, k, out[k], f"column {col!r} (input {k!r} of law {law.name!r})",
                     lambda i: f", first at row {frame.index[i]!r}")
    extra = set(frame.columns) - set(law.inputs) - set(columns.get(k, k) for k in law.inputs)
    if extra:
        raise ValueError(f"law {law.name!r} takes no input(s) {sorted(extra)}; its inputs are {list(law.inputs)}")
    return out


def check_domain(law: Law, name: str, values: np.ndarray, what: str, where=lambda i: "") -> None:
    """A ``ValueError`` naming ``what`` where an input lies at or below the law's :attr:`~bayescale.laws.Law.input_lower`
    (``where(i)`` locates the first such value ``i``)."""
    lower = dict(law.input_lower).get(name)
    if lower is None:
        return
    low = np.asarray(values).ravel() <= lower
    if low.any():
        raise ValueError(f"{what} must be above {lower:g}, where the law is defined; {int(low.sum())} value(s) are "
                         f"not{where(int(np.argmax(low)))}")


def check_new_inputs(law: Law, x: Mapping[str, Any]) -> None:
    """Inputs of a prediction: every input of the law, finite, positive and inside the law's domain; a
    ``ValueError`` naming the input otherwise, rather than NaN bands."""
    missing = [k for k in law.inputs if k not in x]
    if missing:
        raise ValueError(f"law {law.name!r} needs inputs {list(law.inputs)}; missing {missing}")
    for name in law.inputs:
        values = np.asarray(x[name], dtype=np.float64)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise ValueError(f"input {name!r} of law {law.name!r} must be positive and finite, got "
                             f"{values[bad][:5].tolist()}")
        check_domain(law, name, values, f"input {name!r} of law {law.name!r}")
