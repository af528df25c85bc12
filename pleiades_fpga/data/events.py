"""Event arrays: numpy structured arrays with `EVENT_DTYPE` (t in microseconds, x, y, polarity p in {0, 1})."""
from __future__ import annotations

import numpy as np

from pleiades_fpga.errors import DataFormatError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])


def make_events(t, x, y, p, *, sort: bool = True) -> np.ndarray:
    """Build an `EVENT_DTYPE` array from column arrays (sorted by time, stable, unless ``sort=False``)."""
    t = np.asarray(t)
    n = t.shape[0]
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = y
    ev["p"] = p
    if sort and n > 1:
        ev = ev[np.argsort(ev["t"], kind="stable")]
    return ev


def empty_events() -> np.ndarray:
    """A zero-length event array."""
    return np.empty(0, dtype=EVENT_DTYPE)


def check_events(events: np.ndarray, height: int, width: int) -> np.ndarray:
    """Validate dtype, coordinate range and polarity of an event array; return it unchanged."""
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        raise DataFormatError(
            f"events must be a numpy array with dtype pleiades_fpga.data.EVENT_DTYPE, got "
            f"{getattr(events, 'dtype', type(events))}; build one with pleiades_fpga.data.make_events"
        )
    if events.size:
        if events["x"].min() < 0 or events["x"].max() >= width or events["y"].min() < 0 or events["y"].max() >= height:
            raise DataFormatError(f"event coordinates outside the {width}x{height} sensor")
        if not np.isin(events["p"], (0, 1)).all():
            raise DataFormatError("event polarity must be 0 (OFF) or 1 (ON)")
    return events


def downsample_events(events: np.ndarray, factor: int) -> np.ndarray:
    """Spatially downsample by an integer factor (x // factor, y // factor); timestamps unchanged."""
    if factor == 1:
        return events
    out = events.copy()
    out["x"] //= factor
    out["y"] //= factor
    return out
