"""Progress bars for long runs: NUTS, batches of many chunks, the bootstrap.

A bar is drawn with tqdm (a widget in a notebook when ipywidgets is installed,
text on stderr otherwise). Whether a run shows one is decided, first to last, by

1. the call's ``progress=True|False``,
2. the global switch :func:`set_progress` (initialized from the environment
   variable ``BAYESCALE_PROGRESS``: ``0`` off, ``1`` on),
3. automatically: on when the run is expected to be long (NUTS, more than one
   chunk) and someone is watching (stderr is a terminal, or a notebook).

Inside one compiled NUTS call the bar advances through
:func:`jax.debug.callback` every few percent of the iterations
(:func:`report_step`). The callback is traced only when a bar is on (the
setting is a static argument of the compiled program), so the silenced program
is the one compiled without any bar.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import jax

# how many updates a compiled NUTS run sends (one every ~5% of its iterations)
UPDATES = 20

_setting: bool | None = None


def _from_env() -> bool | None:
    value = os.environ.get("BAYESCALE_PROGRESS", "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return None


_setting = _from_env()


def set_progress(enabled: bool | None) -> None:
    """Show (``True``), hide (``False``) or auto-decide (``None``) progress bars for every later run.

    A call's own ``progress=`` argument still wins.
    """
    global _setting
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_progress takes True, False or None, got {enabled!r}")
    _setting = enabled


def get_progress() -> bool | None:
    """The global setting of :func:`set_progress`."""
    return _setting


def resolve(requested: bool | None, long: bool) -> bool:
    """Whether a run shows a bar: the call's choice, else the global one, else long and watched."""
    if requested is not None and not isinstance(requested, bool):
        raise TypeError(f"progress must be True, False or None (auto), got {requested!r}")
    if requested is not None:
        return requested
    if _setting is not None:
        return _setting
    return long and _watched()


def _watched() -> bool:
    return _in_notebook() or bool(getattr(sys.stderr, "isatty", lambda: False)())


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _tqdm():
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401  (tqdm's notebook bar needs it; text otherwise)
            from tqdm.auto import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm

    return tqdm


class _Bar:
    """A tqdm bar that compiled code moves to absolute positions (``offset + step``)."""

    def __init__(self, total: int, desc: str, unit: str):
        self.bar = _tqdm()(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
        self.offset = 0

    def reach(self, position: int) -> None:
        # positions, not increments: a sharded program may report the same step from every device
        delta = min(position, self.bar.total) - self.bar.n
        if delta > 0:
            self.bar.update(delta)


_active: _Bar | None = None


@contextlib.contextmanager
def bar(enabled: bool, total: int, desc: str, unit: str = "it") -> Iterator[_Bar | None]:
    """A bar for the duration of the block (``None`` when not enabled); compiled steps report to it."""
    global _active
    if not enabled:
        yield None
        return
    previous, _active = _active, _Bar(total, desc, unit)
    try:
        yield _active
    finally:
        _active.bar.close()
        _active = previous


def _on_step(step) -> None:
    if _active is not None:
        _active.reach(_active.offset + int(step) + 1)


def report_step(step, num_steps: int, phase_offset: int = 0) -> None:
    """Inside a compiled loop: report ``step`` (0-based) of ``num_steps`` every ``num_steps / UPDATES``.

    ``step`` must not depend on batched values, so that under ``vmap`` the
    callback runs once per step rather than once per curve and chain.
    """
    every = max(1, num_steps // UPDATES)
    position = step + phase_offset
    due = (step % every == every - 1) | (step == num_steps - 1)
    jax.lax.cond(due, lambda p: jax.debug.callback(_on_step, p), lambda p: None, position)
