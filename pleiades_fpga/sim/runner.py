"""Build and run a cocotb testbench on Verilator or Icarus, with a build cache.

``run_testbench`` compiles a toplevel (sources + parameters) once per distinct configuration into
``<cache>/<sim>/<toplevel>-<hash>/`` (the hash covers the simulator, the source *contents*, the
parameters and the defines), then runs a cocotb test module in a fresh run directory. Test vectors
(any JSON-serialisable dict; numpy arrays are converted) reach the testbench through the file named by
``$PLEIADES_TB_VECTORS``; the testbench writes its results (a dict) to ``$PLEIADES_TB_RESULT``
(see :mod:`pleiades_fpga.sim.tb`). Concurrent processes (pytest-xdist) share builds safely (file lock).

The cache directory is ``$PLEIADES_SIM_CACHE`` or ``~/.cache/pleiades-fpga/sim``.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.sim.tools import patched_environ
from pleiades_fpga.toolflow.locate import require_simulator, simulator_version, tool_env

VECTORS_ENV = "PLEIADES_TB_VECTORS"
RESULT_ENV = "PLEIADES_TB_RESULT"
TIMESCALE = ("1ns", "1ps")


class SimulationError(PleiadesError):
    """A simulator build or testbench run failed (the message has the log's tail)."""


@dataclass
class SimRun:
    """Outcome of one testbench run."""

    sim: str
    toplevel: str
    build_dir: Path
    run_dir: Path
    results: dict[str, Any]
    tests: int
    failed: int
    build_seconds: float
    run_seconds: float
    log: Path
    cached_build: bool = field(default=False)

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failed == 0


def default_cache_dir() -> Path:
    """Build-cache root: ``$PLEIADES_SIM_CACHE`` or ``~/.cache/pleiades-fpga/sim``."""
    env = os.environ.get("PLEIADES_SIM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pleiades-fpga" / "sim"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def build_key(sim: str, toplevel: str, sources: Sequence[Path], parameters: Mapping[str, object],
              defines: Mapping[str, object]) -> str:
    """Hash identifying one build (simulator version, source contents, parameters, defines)."""
    h = hashlib.sha256()
    h.update(simulator_version(sim).encode())
    h.update(toplevel.encode())
    for src in sources:
        h.update(Path(src).name.encode())
        h.update(Path(src).read_bytes())
    h.update(json.dumps({str(k): str(v) for k, v in parameters.items()}, sort_keys=True).encode())
    h.update(json.dumps({str(k): str(v) for k, v in defines.items()}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _tail(path: Path, n: int = 60) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _runner(sim: str):
    from cocotb_tools.runner import get_runner

    return get_runner(sim)


def build(toplevel: str, sources: Sequence[str | Path], *, sim: str = "verilator",
          parameters: Mapping[str, object] | None = None, defines: Mapping[str, object] | None = None,
          cache_dir: Path | None = None, build_args: Sequence[str] = ()) -> tuple[Path, float, bool]:
    """Compile ``toplevel`` (cached); return (build_dir, seconds spent, whether the cache was used)."""
    require_simulator(sim)
    srcs = [Path(s).resolve() for s in sources]
    for s in srcs:
        if not s.is_file():
            raise PleiadesError(f"HDL source {s} does not exist")
    params = dict(parameters or {})
    defs = dict(defines or {})
    key = build_key(sim, toplevel, srcs, params, {**defs, "__args__": " ".join(build_args)})
    bdir = (cache_dir or default_cache_dir()) / sim / f"{toplevel}-{key}"
    bdir.mkdir(parents=True, exist_ok=True)
    stamp = bdir / "build.ok"
    t0 = time.monotonic()
    with open(bdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stamp.exists():
                return bdir, time.monotonic() - t0, True
            # sources are copied so that the build stays valid when temporary inputs disappear
            src_dir = bdir / "src"
            src_dir.mkdir(exist_ok=True)
            copied = []
            for s in srcs:
                dst = src_dir / s.name
                shutil.copyfile(s, dst)
                copied.append(dst)
            args = list(build_args)
            if sim == "verilator":
                args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", *args]
            log = bdir / "build.log"
            runner = _runner(sim)
            with patched_environ(tool_env(sim)):
                try:
                    runner.build(sources=copied, hdl_toplevel=toplevel, parameters=params, defines=defs,
                                 build_args=args, build_dir=bdir, timescale=TIMESCALE, log_file=log,
                                 always=True)
                except (RuntimeError, SystemExit) as exc:
                    raise SimulationError(f"{sim} build of {toplevel} failed ({exc}); log {log}:\n{_tail(log)}") from None
            if sim == "verilator":  # the linked binary is all a run needs: drop objects and precompiled headers
                for pattern in ("*.o", "*.gch", "*.a"):
                    for f in bdir.glob(pattern):
                        f.unlink(missing_ok=True)
            stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            return bdir, time.monotonic() - t0, False
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_testbench(toplevel: str, sources: Sequence[str | Path], test_module: str, *, sim: str = "verilator",
                  parameters: Mapping[str, object] | None = None, defines: Mapping[str, object] | None = None,
                  vectors: Mapping[str, Any] | None = None, cache_dir: Path | None = None,
                  testcase: str | None = None, seed: int = 1, keep_run_dir: bool = False,
                  check: bool = True, build_args: Sequence[str] = (), plusargs: Sequence[str] = ()) -> SimRun:
    """Build (cached) and run cocotb ``test_module`` against ``toplevel``; return a :class:`SimRun`.

    ``vectors`` is written as JSON for the testbench; the dict the testbench writes back is
    ``SimRun.results``. With ``check`` (default) a failing cocotb test raises :class:`SimulationError`
    with the end of the simulation log. The run directory is deleted after a passing run unless
    ``keep_run_dir``. ``build_args``: extra simulator build options (part of the cache key); ``plusargs``: run-time
    ``+name=value`` arguments of the simulation (not part of the key).
    """
    bdir, build_s, cached = build(toplevel, sources, sim=sim, parameters=parameters, defines=defines,
                                  cache_dir=cache_dir, build_args=build_args)
    run_dir = bdir / "runs" / uuid.uuid4().hex[:12]
    run_dir.mkdir(parents=True)
    vec_path = run_dir / "vectors.json"
    res_path = run_dir / "result.json"
    vec_path.write_text(json.dumps(_jsonable(vectors or {})))
    log = run_dir / "sim.log"
    xml = run_dir / "results.xml"
    env = {VECTORS_ENV: str(vec_path), RESULT_ENV: str(res_path), "COCOTB_REDUCED_LOG_FMT": "1"}
    runner = _runner(sim)
    t0 = time.monotonic()
    with patched_environ({**tool_env(sim), **env}, remove=("PYTEST_CURRENT_TEST",)):
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", build_dir=bdir, test_dir=run_dir,
                        results_xml=str(xml), log_file=log, seed=seed, testcase=testcase,
                        parameters=dict(parameters or {}), timescale=TIMESCALE, plusargs=list(plusargs))
        except SystemExit as exc:  # cocotb's runner exits on simulator failure
            if check:
                raise SimulationError(f"{sim} simulation of {toplevel} exited ({exc.code}); log {log}:\n{_tail(log)}") from None
    run_s = time.monotonic() - t0
    from cocotb_tools.check_results import get_results

    try:
        tests, failed = get_results(xml)
    except RuntimeError:
        tests, failed = 0, 1
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    run = SimRun(sim=sim, toplevel=toplevel, build_dir=bdir, run_dir=run_dir, results=results, tests=tests,
                 failed=failed, build_seconds=build_s, run_seconds=run_s, log=log, cached_build=cached)
    if check and not run.passed:
        raise SimulationError(f"{sim}: {failed} of {tests} cocotb tests failed for {toplevel}; log {log}:\n{_tail(log)}")
    if run.passed and not keep_run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pleiades_fpga.sim.runner REQUEST.json RESULT.json``: one :func:`run_testbench` call in its own
    process (parallel simulations need separate environments); RESULT.json gets
    ``{"results", "run_seconds", "build_seconds", "passed"}``."""
    import sys

    req_path, res_path = argv if argv is not None else sys.argv[1:]
    req = json.loads(Path(req_path).read_text())
    run = run_testbench(req.pop("toplevel"), req.pop("sources"), req.pop("test_module"), **req)
    Path(res_path).write_text(json.dumps({"results": run.results, "run_seconds": run.run_seconds,
                                          "build_seconds": run.build_seconds, "passed": run.passed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["RESULT_ENV", "SimRun", "SimulationError", "VECTORS_ENV", "build", "build_key", "default_cache_dir",
           "run_testbench"]
