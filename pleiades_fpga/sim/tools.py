"""Process environment for the cocotb runners (tools themselves are found by :mod:`pleiades_fpga.toolflow.locate`)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def patched_environ(updates: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Temporarily set/remove variables of ``os.environ`` (restored on exit)."""
    saved = {k: os.environ.get(k) for k in (*updates, *remove)}
    try:
        os.environ.update(updates)
        for k in remove:
            os.environ.pop(k, None)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
