"""Event arrays: numpy structured arrays with `EVENT_DTYPE` (t in microseconds, x, y, polarity p in {0, 1}).

Every reader builds its arrays with :func:`events_from_columns`, the one validator of raw event data: it checks
the columns *before* they are cast to the narrow integer fields (so nothing wraps or is truncated) and refuses
a file whose time column is in the wrong unit. A bad event is an error naming the file, the first offending
event (index, values, reason) and the number of bad events, or, with ``drop_bad=True``, dropped and counted.
"""
from __future__ import annotations

import bisect

import numpy as np

from pleiades_fpga.errors import DataFormatError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int8)])
POLARITIES = (0, 1)  # 0 = OFF, 1 = ON; other encodings (e.g. -1/+1) are refused, not guessed
MAX_ABS_T_US = 2**62  # timestamps must fit int64 with room for differences
DROP_HINT = "fix the file, or pass --drop-bad-events to drop and count such events"


def make_events(t, x, y, p, *, sort: bool = True) -> np.ndarray:
    """Build an `EVENT_DTYPE` array from trusted integer columns (sorted by time, stable, unless ``sort=False``).

    Data from files goes through :func:`events_from_columns` instead, which validates before casting."""
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


def _whole(v: np.ndarray) -> np.ndarray:
    """Per element: finite and integer-valued."""
    if v.dtype.kind in "iub":
        return np.ones(v.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.isfinite(v) & (v == np.floor(v))


def _times_us(t: np.ndarray, t_unit_us: int, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t in us as float64, finite-and-in-range mask, whole-microsecond mask) of a time column."""
    if t.dtype.kind in "iu":  # compared in its own type: uint64 past 2**63 must not wrap to negative int64
        limit = MAX_ABS_T_US // t_unit_us
        ok = (t <= limit) if t.dtype.kind == "u" else (t >= 0) & (t <= limit)  # recordings start at t >= 0
        return t.astype(np.float64) * t_unit_us, ok, np.ones(t.shape, dtype=bool)
    if t.dtype.kind != "f":
        raise DataFormatError(f"{source}: timestamps must be numbers, got dtype {t.dtype}")
    with np.errstate(invalid="ignore", over="ignore"):
        t_us = t.astype(np.float64) * t_unit_us
        ok = np.isfinite(t_us) & (t_us >= 0) & (t_us <= MAX_ABS_T_US)
        # tolerance: the float resolution of the stored value (float32 ms columns) or 1e-3 us
        tol = np.maximum(1e-3, 4 * np.finfo(t.dtype).eps * np.abs(t_us))
        whole = ok & (np.abs(t_us - np.round(t_us)) <= tol)
    return t_us, ok, whole


def _longest_nondecreasing(values: np.ndarray) -> np.ndarray:
    """Mask of one longest non-decreasing subsequence of ``values`` (patience sorting, O(n log n))."""
    tails: list[float] = []  # smallest last value of a run of each length
    tail_index: list[int] = []
    prev = [-1] * len(values)
    for i, v in enumerate(values.tolist()):
        k = bisect.bisect_right(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_index.append(i)
        else:
            tails[k], tail_index[k] = v, i
        prev[i] = tail_index[k - 1] if k else -1
    mask = np.zeros(len(values), dtype=bool)
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        mask[i] = True
        i = prev[i]
    return mask


def _unit_word(t_unit_us: int) -> str:
    return {1: "microseconds", 1000: "milliseconds", 1_000_000: "seconds"}.get(t_unit_us, f"units of {t_unit_us} us")


def events_from_columns(
    t, x, y, p, *, height: int, width: int, source: str, t_unit_us: int = 1, drop_bad: bool = False,
    max_span_us: int | None = None,
) -> tuple[np.ndarray, int]:
    """Validate raw event columns and build an `EVENT_DTYPE` array (file order kept); return (events, dropped).

    Checks, per event: finite timestamp that is a whole microsecond once multiplied by ``t_unit_us`` (the
    unit of the file's time column); integer-valued coordinates with 0 <= x < width, 0 <= y < height;
    polarity in `POLARITIES`; time non-decreasing (the events outside one longest non-decreasing run are out of
    order: a single glitch, early or late, costs one event, not the rest of the file).
    Per file: when most timestamps are not whole microseconds, or the timestamps span more than
    ``max_span_us``, the time column is in another unit than declared: a `DataFormatError` naming the likely
    unit (never dropped). Bad events raise a `DataFormatError` with the file, the first offending event and the
    count, unless ``drop_bad``: then they are dropped and their number is returned.
    """
    cols = [np.asarray(c) for c in (t, x, y, p)]
    if any(c.ndim != 1 for c in cols) or len({c.shape[0] for c in cols}) != 1:
        raise DataFormatError(f"{source}: event columns t, x, y, p must be 1-D and of one length, got shapes "
                              f"{[c.shape for c in cols]}")
    t, x, y, p = cols
    for name, c in (("x", x), ("y", y), ("p", p)):
        if c.dtype.kind not in "iubf":
            raise DataFormatError(f"{source}: event column {name} must be numeric, got dtype {c.dtype}")
    n = t.shape[0]
    t_us, t_ok, t_whole = _times_us(t, t_unit_us, source)
    unit = _unit_word(t_unit_us)
    fractional = t_ok & ~t_whole
    if n and np.count_nonzero(fractional) > n // 2:
        i = int(np.argmax(fractional))
        raise DataFormatError(
            f"{source}: {np.count_nonzero(fractional):,} of {n:,} timestamps are not whole microseconds when read "
            f"as {unit} (e.g. event {i}: t = {t[i].item()!r}); the time column looks like it is in a larger unit "
            f"(seconds?) than {unit}: convert it to {unit}")
    with np.errstate(invalid="ignore"):
        reasons = [
            (~t_ok, "timestamp is not a finite number in 0..2**62 us (negative: a corrupt time field?)"),
            (fractional, "timestamp is not a whole microsecond"),
            (~_whole(x) | (x < 0) | (x >= width), f"x is not an integer in 0..{width - 1}"),
            (~_whole(y) | (y < 0) | (y >= height), f"y is not an integer in 0..{height - 1}"),
            (~np.isin(p, POLARITIES), f"polarity is not one of {POLARITIES} (0 = OFF, 1 = ON)"),
        ]
        bad = np.zeros(n, dtype=bool)
        for mask, _ in reasons:
            bad |= mask
        # out of order: the good events outside one longest non-decreasing run (the fewest to drop)
        good = np.flatnonzero(~bad)
        late = np.zeros(n, dtype=bool)
        if np.any(np.diff(t_us[good]) < 0):
            late[good[~_longest_nondecreasing(t_us[good])]] = True
    reasons.append((late, "timestamp out of order (time must not decrease)"))
    bad |= late
    n_bad = int(np.count_nonzero(bad))
    if n_bad and not drop_bad:
        i = int(np.argmax(bad))
        why = "; ".join(text for mask, text in reasons if mask[i])
        raise DataFormatError(
            f"{source}: {n_bad:,} bad event(s) of {n:,}; the first is event {i} (t={t[i].item()!r}, "
            f"x={x[i].item()!r}, y={y[i].item()!r}, p={p[i].item()!r}): {why} (sensor {width}x{height}, time in "
            f"{unit}); {DROP_HINT}")
    keep = ~bad
    t_keep = np.round(t_us[keep]).astype(np.int64)
    if max_span_us is not None and t_keep.size > 1 and int(t_keep[-1] - t_keep[0]) > max_span_us:
        span = int(t_keep[-1] - t_keep[0])
        raise DataFormatError(
            f"{source}: the events span {span / 1e6:,.1f} s when the time column is read as {unit}, more than the "
            f"{max_span_us / 1e6:g} s a clip can last; the time column looks like it is in a smaller unit "
            f"(microseconds?) than {unit}: convert it to {unit}")
    ev = make_events(t_keep, x[keep].astype(np.int64), y[keep].astype(np.int64), p[keep].astype(np.int64),
                     sort=False)
    return ev, n_bad


def check_events(events: np.ndarray, height: int, width: int, source: str = "events") -> np.ndarray:
    """Validate an `EVENT_DTYPE` array (dtype, coordinates inside the height x width sensor, polarity); return it."""
    if not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE:
        raise DataFormatError(
            f"{source} must be a numpy array with dtype pleiades_fpga.data.EVENT_DTYPE, got "
            f"{getattr(events, 'dtype', type(events))}; build one with pleiades_fpga.data.make_events"
        )
    if events.size:
        bad = ((events["x"] < 0) | (events["x"] >= width) | (events["y"] < 0) | (events["y"] >= height)
               | ~np.isin(events["p"], POLARITIES))
        if bad.any():
            i = int(np.argmax(bad))
            e = events[i]
            raise DataFormatError(
                f"{source}: {int(bad.sum()):,} event(s) outside the {width}x{height} sensor or with a polarity not in "
                f"{POLARITIES}; the first is event {i} (t={int(e['t'])}, x={int(e['x'])}, y={int(e['y'])}, "
                f"p={int(e['p'])}); bin at the events' resolution or downsample them first")
    return events


def downsample_events(events: np.ndarray, factor: int) -> np.ndarray:
    """Spatially downsample by an integer factor (x // factor, y // factor); timestamps unchanged."""
    if factor == 1:
        return events
    out = events.copy()
    out["x"] //= factor
    out["y"] //= factor
    return out
