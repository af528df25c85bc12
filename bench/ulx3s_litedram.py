"""ULX3S with LiteDRAM (issue 15): the demo net with every temporal layer's history in the 32 MB SDRAM, the whole
board design (network + axi_arbiter + LiteDRAM controller + CPU-less SDRAM init + UART bridge + PLL) synthesized,
placed and routed with the open flow at a 50 MHz board clock (core and network in one domain).

Runs ``pleiades-fpga build build/demo/model.onnx --out build/ulx3s_litedram --folding F --axi-data-bits 16``, F =
the demo's folding with ``"memory": "external"`` on every temporal layer, then ``pleiades-fpga synth
build/ulx3s_litedram --target ulx3s-85f --clock-mhz 50`` (the board flow picks the LiteDRAM top for a design with
external memory; the core is generated in the LiteX venv, `python -m pleiades_fpga.toolflow.boards.litedram_core`),
unless build/ulx3s_litedram already holds a current report of that design. Needs build/demo (``make demo``).
Writes bench/results/ulx3s_litedram.json. No board here: nothing is run on hardware. ~20-40 min on 2 busy cores.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_result

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "build" / "demo"
OUT = ROOT / "build" / "ulx3s_litedram"
CLOCK_MHZ = 50.0
KEYS = ("lut", "ff", "dsp", "bram_bits")


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pleiades_fpga.cli", *args], check=True, cwd=ROOT)


def _folding() -> Path:
    """The demo's folding with every temporal layer's memory external."""
    fold = json.loads((DEMO / "folding.json").read_text())
    for name, layer in fold["layers"].items():
        if name.endswith(".temporal"):
            layer["memory"] = "external"
    path = ROOT / "build" / "ulx3s_litedram_folding.json"
    path.write_text(json.dumps(fold, indent=1) + "\n")
    return path


def _current_report() -> dict | None:
    from pleiades_fpga.artifacts import design_hash

    path = OUT / "report.json"
    if not path.is_file():
        return None
    rep = json.loads(path.read_text())
    clock = rep.get("board_clock_mhz")
    if rep.get("design_hash") != design_hash(OUT) or clock is None or abs(clock - CLOCK_MHZ) > 0.01 * CLOCK_MHZ:
        return None
    return rep


def main() -> dict:
    if not (DEMO / "model.onnx").is_file():
        raise SystemExit(f"{DEMO / 'model.onnx'} is missing: run `make demo` first")
    rep, seconds = _current_report(), None
    reused = rep is not None
    if rep is None:
        start = time.time()
        _cli("build", str(DEMO / "model.onnx"), "--out", str(OUT), "--folding", str(_folding()),
             "--axi-data-bits", "16")
        _cli("synth", str(OUT), "--target", "ulx3s-85f", "--clock-mhz", f"{CLOCK_MHZ:g}")
        seconds = time.time() - start
        rep = json.loads((OUT / "report.json").read_text())
    manifest = json.loads((OUT / "manifest.json").read_text())
    ext = manifest["external_memory"]
    board = OUT / "board" / "ulx3s-85f"
    config = json.loads((board / "litedram" / "litedram_config.json").read_text())
    pnr = rep.get("pnr") or {}
    syn = (rep.get("synth") or {}).get("utilization") or {}
    result = {
        "model": str(DEMO / "model.onnx"), "build": str(OUT), "reused_existing_build": reused,
        "build_seconds": seconds,
        "external_layers": [m["layer"] for m in ext["masters"]], "axi": {k: ext[k] for k in
                                                                         ("data_bits", "id_bits", "arbiter")},
        "external_region_bytes": ext["region_bytes"], "external_bytes_per_frame": ext["bytes_per_frame"],
        "litedram_config": config,
        "sdram_init": "litedram_init.v replays LiteDRAM's init sequence on wb_ctrl (no CPU)",
        "board_clock_mhz": rep.get("board_clock_mhz"),
        "fmax_mhz": rep.get("fmax_mhz"), "fmax_source": rep.get("fmax_source"),
        "fmax_by_clock": pnr.get("fmax_by_clock"),
        "timing_met_at_board_clock": rep.get("timing_met_at_board_clock"),
        "board_resources_placed": rep.get("board_resources"),
        "board_resources_source": "nextpnr-ecp5 (placed and routed): network + LiteDRAM + init + bridge + PLL",
        "network_resources_synth": {k: syn.get(k) for k in KEYS},
        "network_resources_source": "Yosys synth_ecp5 of the network module inside the board top",
        "utilization_percent": rep.get("utilization_percent"),
        "cycles_per_frame": rep.get("cycles_per_frame"), "verdict": rep.get("verdict"),
        "bitstream": pnr.get("bitstream"),
        "not_run": "no ULX3S here: the bitstream was not loaded; LiteDRAM was simulated with its own SDRAM model "
                   "(tests/test_board_litedram.py), not against the board's SDRAM chip",
    }
    write_result("ulx3s_litedram", result)
    return result


if __name__ == "__main__":
    main()
