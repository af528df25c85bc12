"""ULX3S with LiteDRAM (issue 15): whole board designs (network + LiteDRAM controller + CPU-less SDRAM init + UART
bridge + PLL) synthesized, placed and routed with the open flow at a 50 MHz board clock (core and network in one
domain).

- ``standin``: a network of one external temporal history (temporal_history_axi, K = 3, 2 x 8-bit channels, 32x32,
  16-bit AXI: a real AXI4 master) on the LiteDRAM board top (``standin_design``; also the tests' design).
- ``demo`` (when build/demo exists and ``demo`` is not False): the demo net with every temporal layer's history in
  the SDRAM. Builds like ``pleiades-fpga build build/demo/model.onnx --out build/ulx3s_litedram --folding F
  --axi-data-bits 16 --target LFE5U-85F`` without that command's synthesis (F = the demo's folding with
  ``"memory": "external"`` on every temporal layer; the part gives the MULT18X18D cells), then
  ``pleiades-fpga synth build/ulx3s_litedram --target ulx3s-85f --clock-mhz 50`` (the board flow picks the
  LiteDRAM top for a design with external memory; the core is generated in the LiteX venv, ``python -m
  pleiades_fpga.toolflow.boards.litedram_core``), unless build/ulx3s_litedram already holds a current report of
  that design. Needs build/demo (``make demo``); ~40 min to hours on 2 busy cores.

Writes bench/results/ulx3s_litedram.json. No board here: nothing is run on hardware.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_result
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import (HistoryLayout, axi_connections, axi_ports,
                                                                history_layout)
from pleiades_fpga.hw.rtl.lint import template_sources
from pleiades_fpga.hw.rtl.verilog import Port, instance, layer_ports, module, stream_connections

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "build" / "demo"
OUT = ROOT / "build" / "ulx3s_litedram"
CLOCK_MHZ = 50.0
KEYS = ("lut", "ff", "dsp", "bram_bits")


def standin_layout(height: int, width: int) -> HistoryLayout:
    """The stand-in's history: K = 3, two 8-bit channels, 16-bit AXI."""
    return history_layout(c_in=2, in_w=8, k=3, pixels=height * width, data_w=16, base_addr=0, latency=64,
                          cycles_per_pixel=4, name="standin")


def standin_design(out: Path, height: int, width: int) -> tuple[dict, list[Path]]:
    """Write ``standin_net`` (one external temporal history: stream in, window stream out, ``m_axi_*``,
    ``axi_error``) into ``out``; return its manifest (``external_memory`` as docs/EXTERNAL_MEMORY.md) and sources."""
    lay = standin_layout(height, width)
    body = [instance("temporal_history_axi", "u_hist", {"clk": "clk", "rst": "rst",
                     **stream_connections("s_axis", "s_axis"), **stream_connections("m_axis", "m_axis"),
                     **axi_connections("m_axi", "m_axi"), "axi_error": "axi_error"},
                     {**lay.params(), "BASE_ADDR": "EXT_BASE_ADDR"})]
    ports = layer_ports(16, 16 * lay.k) + axi_ports(lay) + [Port("axi_error", "output")]
    out.mkdir(parents=True, exist_ok=True)
    (out / "standin_net.v").write_text(module("standin_net", ports, body, parameters={"EXT_BASE_ADDR": "64'h0"}))
    ext = {"protocol": "AXI4", "port": "m_axi", "error_port": "axi_error", "base_addr_parameter": "EXT_BASE_ADDR",
           "data_bits": lay.data_w, "addr_bits": lay.addr_w, "id_bits": lay.id_w, "region_bytes": lay.region_bytes,
           "signals": [{"name": p.name, "direction": p.direction, "bits": p.width} for p in axi_ports(lay)]}
    manifest = {"top": "standin_net", "input": {"channels": 2, "bits": 8, "height": height, "width": width},
                "output": {"channels": 2 * lay.k, "bits": 8}, "external_memory": ext}
    return manifest, [out / "standin_net.v", *template_sources("temporal_history_axi")]


def _by_module(syn, names: tuple[str, ...]) -> dict:
    """Yosys figures of the modules whose names contain one of ``names`` (a module with its submodules)."""
    return {name.split("\\")[-1]: {k: v.get(k) for k in KEYS} for name, v in syn.modules.items()
            if any(m in name for m in names)}


def record_demo_synthesis(build: Path) -> dict:
    """Add the Yosys figures of a demo board synthesis (``build``/synth/lfe5u-85f[.partial], place and route not
    finished) to bench/results/ulx3s_litedram.json as ``demo_synthesis``."""
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.toolflow.synth import load_synth

    synth_dir = next(d for d in (build / "synth" / "lfe5u-85f", build / "synth" / "lfe5u-85f.partial")
                     if (d / "stat.json").is_file())
    syn = load_synth(synth_dir, "ulx3s_top", get_part("LFE5U-85F"))
    manifest = json.loads((build / "manifest.json").read_text())
    result = json.loads((ROOT / "bench" / "results" / "ulx3s_litedram.json").read_text())
    for key in ("benchmark", "date", "machine"):
        result.pop(key, None)
    result["demo_synthesis"] = {
        "build": str(build), "external_layers": [m["layer"] for m in manifest["external_memory"]["masters"]],
        "axi": {k: manifest["external_memory"][k] for k in ("data_bits", "id_bits", "arbiter")},
        "whole_board_design": {k: syn.utilization.get(k) for k in KEYS},
        "by_module": _by_module(syn, ("litedram_core", "litedram_init", "axi_arbiter", "pleiades_uart_bridge",
                                      "temporal_history_axi", "_temporal")),
        "source": "Yosys synth_ecp5 of ulx3s_top (network + LiteDRAM + init + arbiter + bridge); place and route "
                  "was not finished in the session (nextpnr still placing after 6 min at load ~20)",
        "yosys_seconds": syn.seconds or None}
    write_result("ulx3s_litedram", result)
    return result


def run_standin(out: Path = ROOT / "build" / "ulx3s_litedram_standin") -> dict:
    """The stand-in on the LiteDRAM board top: Yosys synth_ecp5 + nextpnr-ecp5 at 50 MHz."""
    from pleiades_fpga.toolflow.boards.ulx3s_litedram import write_ulx3s_litedram
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.toolflow.pnr import run_nextpnr
    from pleiades_fpga.toolflow.synth import run_synth

    manifest, net = standin_design(out / "net", 32, 32)
    info = write_ulx3s_litedram(manifest, out / "board", clock_mhz=CLOCK_MHZ)
    part = get_part("LFE5U-85F")
    start = time.time()
    syn = run_synth([*net, *info["files"]], "ulx3s_top", part, out / "synth", instances_of="standin_net")
    pnr = run_nextpnr(syn.netlist, info["constraints"], part, out / "synth", freq_mhz=info["clock_mhz"])
    util = pnr.utilization
    return {"design": "standin_net: temporal_history_axi K=3, 2x8-bit, 32x32, 16-bit AXI, on LiteDRAM",
            "board_clock_mhz": info["clock_mhz"], "fmax_mhz": pnr.fmax_mhz, "fmax_source": "place-and-route",
            "timing_met_at_board_clock": pnr.fmax_mhz is not None and pnr.fmax_mhz >= info["clock_mhz"],
            "board_resources_placed": pnr.resources,
            "cells_placed": {k: util[k]["used"] for k in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D",
                                                           "TRELLIS_RAMW", "IOLOGIC", "TRELLIS_IO", "EHXPLLL")},
            "board_resources_source": "nextpnr-ecp5 (placed and routed): stand-in + LiteDRAM + init + bridge + PLL",
            "synth_utilization": syn.utilization,
            "synth_by_module": _by_module(syn, ("litedram_core", "litedram_init", "standin_net",
                                                "pleiades_uart_bridge")),
            "synth_source": "Yosys synth_ecp5 (before place and route), per module with its submodules",
            "litedram_config": info["litedram"]["config"],
            "seconds": time.time() - start}


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


def run_demo() -> dict:
    """The demo net with every temporal layer external (see the module docstring)."""
    rep, seconds = _current_report(), None
    reused = rep is not None
    if rep is None:
        start = time.time()
        from pleiades_fpga.hw.build import build_rtl

        build_rtl(DEMO / "model.onnx", OUT, folding=_folding(), axi_data_bits=16, part="LFE5U-85F")
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
    }
    return result


def main(demo: bool | None = None) -> dict:
    """Stand-in always; the demo when build/demo exists (``demo`` None) or when asked."""
    demo = (DEMO / "model.onnx").is_file() if demo is None else demo
    if demo and not (DEMO / "model.onnx").is_file():
        raise SystemExit(f"{DEMO / 'model.onnx'} is missing: run `make demo` first")
    result = {"standin": run_standin(), "demo": run_demo() if demo else None,
              "not_run": "no ULX3S here: no bitstream was loaded; LiteDRAM was simulated with its own SDRAM model "
                         "(tests/test_board_litedram.py), not against the board's SDRAM chip"}
    write_result("ulx3s_litedram", result)
    return result


if __name__ == "__main__":
    if "--record-demo-synthesis" in sys.argv[1:]:
        record_demo_synthesis(Path(sys.argv[sys.argv.index("--record-demo-synthesis") + 1]))
    else:
        main(demo=None if "--no-demo" not in sys.argv[1:] else False)
