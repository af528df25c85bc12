"""The time `verify` announces before simulating: from this design's last run, else from the newest run of an earlier
design in the same build directory (moved to stale/ when the design changed), else a typical simulator speed."""
from __future__ import annotations

import json

from pleiades_fpga.sim.verify import NOMINAL_CYCLES_PER_S, _estimate


def _write(path, rate: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"simulator": "verilator", "sim_cycles_per_second_in_simulator": rate}))


def _line(build_dir) -> str:   # 10 + 2 frames of 1,000 cycles, one job
    return _estimate(10, 2, 1000, "verilator", 1, 64, 8, build_dir)


def test_estimate_prefers_this_design_then_an_earlier_one_then_typical(tmp_path):
    assert f"at {NOMINAL_CYCLES_PER_S['verilator']:,.0f} cycles/s per job (typical)" in _line(tmp_path)
    _write(tmp_path / "stale" / "20261201T000000Z" / "verification.json", 40_000)
    _write(tmp_path / "stale" / "20261201T010000Z" / "verification.json", 30_000)       # the newest stale run
    line = _line(tmp_path)
    assert "about 12,000 simulated cycles" in line
    assert "at 30,000 cycles/s per job (the last run of an earlier design in this build)" in line
    _write(tmp_path / "verification.json", 60_000)
    assert "at 60,000 cycles/s per job (this design's last run)" in _line(tmp_path)
