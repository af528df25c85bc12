"""HDL harness of a generated network top: stream source, sink, pause generators and stream checkers.

The per-cycle work of ``verify`` happens in the simulator: :func:`harness_verilog` writes a top
``pleiades_harness`` (from the build's manifest and ``pleiades_top.v``) that instantiates the design with

- ``axis_frame_source``: the clip's frames, loaded in bulk from ``frames.hex`` ($readmemh) at each start;
- a sink that takes the output beats (random back-pressure) and writes them with their cycle stamps to
  ``outputs.txt``; the cycle of every frame's first input beat goes to ``inputs.txt``; with the plusarg
  ``+progress_file=PATH`` every output frame also appends its run id to PATH at once (flushed), so that a
  long run (a 128x128 network simulates ~0.5 M cycles a frame) shows progress frame by frame;
- ``pause_gen`` (xorshift32, seeded) on each side: idle gaps on the input, back-pressure on the output,
  probabilities as runtime inputs (one build serves every setting);
- an ``axis_stream_checker`` on every stream of the top (the input, each layer's output, fork branches),
  bound by hierarchical reference (``dut.<ident>_out_tdata``): AXI-Stream stability, tlast position and
  beats per frame, stall counters; with ``trace_en`` each writes its beats to ``trace_<n>.hex``.

cocotb (``pleiades_fpga.sim.tb.tb_network``) only orchestrates: per clip it copies the frame file, writes
the run settings and ``start`` (a new clip id), waits for ``done`` and reads the counters.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.generate import _ident
from pleiades_fpga.sim.axis import pack_frames

HDL_DIR = Path(__file__).resolve().parent / "hdl"
HDL_FILES = ("pause_gen.v", "axis_frame_source.v", "axis_stream_checker.v")
MEMORY_MODEL = "axi_ram_model.v"   # the top's external memory when the manifest has "external_memory"
MEMORY_FIELDS = ("read_beats", "write_beats", "errors", "unwritten_reads", "axi_error")
HARNESS_TOP = "pleiades_harness"
RESET_CYCLES = 4
PAUSE_ONE = 1 << 16  # pause threshold scale: probability p -> round(p * 65536)
MAX_PAUSE = 0.99  # largest pause probability verify accepts (timeouts grow as 1/(1-p)^2)
CHECK_KINDS = {1: "tvalid dropped while stalled (tvalid && !tready)",
               2: "tdata changed while stalled (tvalid && !tready)",
               3: "tlast changed while stalled (tvalid && !tready)",
               4: "tlast missing on the last beat of a frame",
               5: "tlast on a beat that is not the last of its frame"}
CHECKER_FIELDS = ("errors", "first_kind", "first_frame", "first_beat", "beats", "frames", "stall_cycles", "max_stall")


@dataclass(frozen=True)
class Stream:
    """One AXI-Stream of the generated top: the layer it belongs to, its wire prefix, width, beats per frame."""

    layer: str
    prefix: str
    width: int
    beats: int


def design_streams(build_dir: Path, manifest: dict[str, Any]) -> list[Stream]:
    """Every stream declared in the top (``wire [W-1:0] <prefix>_tdata;``) that belongs to a known layer."""
    top = (Path(build_dir) / "rtl" / f"{manifest['top']}.v").read_text()
    inp = manifest["input"]
    owners: list[tuple[str, str, int]] = [("s_in", "input", inp["height"] * inp["width"])]
    for layer in manifest["layers"]:
        ident = _ident(layer["name"])
        if layer.get("kind") == "fork":
            _, h, w = layer["in_shape"]
            owners.append((f"{ident}_", layer["name"], h * w))
        else:
            _, h, w = layer["out_shape"]
            owners.append((f"{ident}_out", layer["name"], h * w))
    streams = []
    for m in re.finditer(r"wire\s+\[(\d+):0\]\s+(\w+)_tdata\s*[;=]", top):
        width, prefix = int(m.group(1)) + 1, m.group(2)
        owner = next(((name, beats) for p, name, beats in owners
                      if prefix == p or (p.endswith("_") and prefix.startswith(p))), None)
        if owner is not None:
            streams.append(Stream(owner[0], prefix, width, owner[1]))
    return streams


def memory_beats(beats_per_frame: int) -> int:
    """Depth of the source's frame memory: 2**20 words, at least 64 frames."""
    return 1 << max(20, (beats_per_frame - 1).bit_length() + 6)


def max_clip_frames(manifest: dict[str, Any]) -> int:
    """Longest clip (frames) the harness's frame memory holds for this design."""
    beats = manifest["input"]["height"] * manifest["input"]["width"]
    return memory_beats(beats) // beats


def _memory_verilog(ext: dict[str, Any] | None) -> tuple[str, str, str]:
    """Harness pieces of a design with external memory: (ports, the memory model instance, the top's AXI
    connections). The model ``axi_ram_model`` (seeded random latency and back-pressure, rule checks) holds the
    whole region at EXT_BASE_ADDR = 0 and keeps its contents across runs (only its queues reset)."""
    if not ext:
        return "", "", ""
    port = ext["port"]
    sigs = [(x["name"][len(port) + 1:], x["bits"]) for x in ext["signals"]]
    words = -(-int(ext["region_bytes"]) // (int(ext["data_bits"]) // 8))
    ports = ("    input  wire [31:0] mem_seed /*verilator public_flat_rw*/,     // memory model: random sequence\n"
             "    input  wire [15:0] mem_lat_min /*verilator public_flat_rw*/,  // latency range (cycles)\n"
             "    input  wire [15:0] mem_lat_max /*verilator public_flat_rw*/,\n"
             "    input  wire [15:0] mem_stall /*verilator public_flat_rw*/,    // back-pressure probability * 65536\n"
             "    output wire [31:0] read_beats /*verilator public_flat_rd*/,\n"
             "    output wire [31:0] write_beats /*verilator public_flat_rd*/,\n"
             "    output wire [31:0] errors /*verilator public_flat_rd*/,       // AXI rule violations\n"
             "    output wire [31:0] unwritten_reads /*verilator public_flat_rd*/,\n"
             "    output wire        axi_error /*verilator public_flat_rd*/,    // the design saw an error response\n")
    wires = "\n".join(f"    wire {f'[{w - 1}:0] ' if w > 1 else ''}axi_{sig};" for sig, w in sigs)
    conns = ", ".join(f".s_axi_{sig}(axi_{sig})" for sig, _ in sigs)
    model = (f"{wires}\n    axi_ram_model #(.DATA_W({ext['data_bits']}), .ADDR_W({ext['addr_bits']}), "
             f".ID_W({ext['id_bits']}), .DEPTH({words})) u_mem (\n"
             f"        .clk(clk), .rst(dut_rst), .seed(mem_seed), .lat_min(mem_lat_min), .lat_max(mem_lat_max),\n"
             f"        .stall(mem_stall), .read_beats(read_beats), .write_beats(write_beats), .errors(errors),\n"
             f"        .unwritten_reads(unwritten_reads),\n        {conns});")
    dut = ", " + ", ".join(f".{port}_{sig}(axi_{sig})" for sig, _ in sigs) + f", .{ext['error_port']}(axi_error)"
    return ports, model, dut


def harness_verilog(manifest: dict[str, Any], streams: list[Stream]) -> str:
    """Verilog of ``pleiades_harness`` around ``manifest['top']`` (simulation only: clock, files, checkers; the
    AXI memory model on the top's ``m_axi`` when the design has external memory)."""
    mem_ports, mem_model, mem_dut = _memory_verilog(manifest.get("external_memory"))
    inp, out = manifest["input"], manifest["output"]
    in_w, out_w = inp["channels"] * inp["bits"], out["channels"] * out["bits"]
    beats = inp["height"] * inp["width"]
    checkers = []
    for i, s in enumerate(streams):
        p = f"dut.{s.prefix}"
        checkers.append(
            f"    // {s.layer}: {s.prefix}\n"
            f"    axis_stream_checker #(.W({s.width}), .BEATS({s.beats}), .TRACE_FILE(\"trace_{i}.hex\")) chk_{i} (\n"
            f"        .clk(clk), .rst(dut_rst), .trace_en(trace_en), .tdata({p}_tdata), .tvalid({p}_tvalid),\n"
            f"        .tready({p}_tready), .tlast({p}_tlast), .errors(), .first_kind(), .first_frame(), .first_beat(),\n"
            f"        .beats(), .frames(), .stall_cycles(), .max_stall());")
    return f"""// Generated by pleiades_fpga.sim.harness: simulation harness of {manifest['top']} (not synthesizable).
`timescale 1ns/1ps
`default_nettype none
module {HARNESS_TOP} (
    input  wire [31:0] start_id /*verilator public_flat_rw*/,   // a new value starts a run: load frames.hex, reset the design, stream
    input  wire [31:0] n_frames /*verilator public_flat_rw*/,
    input  wire [15:0] in_thresh /*verilator public_flat_rw*/,  // idle probability on the input * 65536
    input  wire [15:0] out_thresh /*verilator public_flat_rw*/, // back-pressure probability on the output * 65536
    input  wire [31:0] in_seed /*verilator public_flat_rw*/,
    input  wire [31:0] out_seed /*verilator public_flat_rw*/,
    input  wire        trace_en /*verilator public_flat_rw*/,
{mem_ports}    output reg         done /*verilator public_flat_rd*/,
    output reg  [31:0] cycle /*verilator public_flat_rd*/,
    output reg         clk /*verilator public_flat_rd*/
);
    localparam integer BEATS = {beats};
    localparam integer OUT_BEATS = 1;
    reg  [31:0] seen_id;
    reg  [2:0]  phase;             // 0 idle, 1 load, 2 reset, 3 run
    reg  [3:0]  rcnt;
    reg         dut_rst;
    reg         first;
    reg  [31:0] out_count;
    integer     out_fd, in_fd, progress_fd;
    reg [8*1024-1:0] progress_file;
    wire        in_pause, out_pause;
    wire [{in_w - 1}:0] s_tdata;
    wire        s_tvalid, s_tready, s_tlast;
    wire [31:0] sent;
    wire [{out_w - 1}:0] m_tdata;
    wire        m_tvalid;
    /* verilator lint_off UNUSEDSIGNAL */
    wire        m_tlast;           // checked by the last layer's stream checker
    /* verilator lint_on UNUSEDSIGNAL */
    wire        m_tready = !out_pause && phase == 3'd3;
    wire        load = phase == 3'd1;
    initial begin
        clk = 1'b0;
        done = 1'b0;
        cycle = 32'd0;
        seen_id = 32'd0;
        phase = 3'd0;
        rcnt = 4'd0;
        dut_rst = 1'b1;
        first = 1'b1;
        out_count = 32'd0;
        out_fd = $fopen("outputs.txt", "w");
        in_fd = $fopen("inputs.txt", "w");
        progress_fd = 0;
        if ($value$plusargs("progress_file=%s", progress_file)) progress_fd = $fopen(progress_file, "a");
    end
    always #5 clk = ~clk;

    pause_gen in_gap (.clk(clk), .load(load), .seed(in_seed), .thresh(in_thresh), .pause(in_pause));
    pause_gen out_bp (.clk(clk), .load(load), .seed(out_seed), .thresh(out_thresh), .pause(out_pause));
    axis_frame_source #(.W({in_w}), .BEATS(BEATS), .DEPTH({memory_beats(beats)}), .FILE("frames.hex")) source (
        .clk(clk), .load(load), .run(phase == 3'd3), .n_beats(n_frames * BEATS), .pause(in_pause),
        .tdata(s_tdata), .tvalid(s_tvalid), .tready(s_tready), .tlast(s_tlast), .sent(sent));
    {manifest['top']} dut (
        .clk(clk), .rst(dut_rst),
        .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready), .s_axis_tlast(s_tlast),
        .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready), .m_axis_tlast(m_tlast){mem_dut});
{mem_model}

    always @(posedge clk) begin
        if (start_id != seen_id) begin  // also abandons a run that did not finish
            seen_id <= start_id;
            done <= 1'b0;
            phase <= 3'd1;
        end else case (phase)
            3'd0: ;
            3'd1: begin
                dut_rst <= 1'b1;
                rcnt <= 4'd0;
                phase <= 3'd2;
            end
            3'd2: begin
                rcnt <= rcnt + 4'd1;
                if (rcnt == {RESET_CYCLES - 1}) begin
                    dut_rst <= 1'b0;
                    cycle <= 32'd0;
                    out_count <= 32'd0;
                    first <= 1'b1;
                    phase <= 3'd3;
                end
            end
            default: begin
                cycle <= cycle + 32'd1;
                if (s_tvalid && s_tready) begin
                    if (first) $fwrite(in_fd, "%0d %0d\\n", seen_id, cycle);
                    first <= s_tlast;
                end
                if (m_tvalid && m_tready) begin
                    $fwrite(out_fd, "%0d %0d %h\\n", seen_id, cycle, m_tdata);
                    if (progress_fd != 0) begin
                        $fwrite(progress_fd, "%0d\\n", seen_id);
                        $fflush(progress_fd);
                    end
                    out_count <= out_count + 32'd1;
                end
                if (out_count == n_frames * OUT_BEATS && sent == n_frames * BEATS) begin
                    $fflush(out_fd);
                    $fflush(in_fd);
                    done <= 1'b1;
                    phase <= 3'd0;
                end
            end
        endcase
    end

    // checker counters are read by hierarchical name (cocotb), not through ports
    /* verilator lint_off PINCONNECTEMPTY */
{chr(10).join(checkers)}
    /* verilator lint_on PINCONNECTEMPTY */
endmodule
`default_nettype wire
"""


def reference_testbench_verilog(manifest: dict[str, Any], n_frames: int, hdl_clock: bool) -> str:
    """A plain HDL-only testbench ``pleiades_ref`` for speed comparisons: ``n_frames`` frames from ``frames.hex``,
    tvalid and tready held high, no checkers; writes the output words to ``ref_outputs.txt`` and finishes.
    ``hdl_clock``: the clock is an HDL delay loop (Icarus); else ``clk`` is an input toggled by a C++ main."""
    inp, out = manifest["input"], manifest["output"]
    in_w, out_w = inp["channels"] * inp["bits"], out["channels"] * out["bits"]
    beats = inp["height"] * inp["width"]
    total = n_frames * beats
    clock = ("    reg clk = 1'b0;\n    always #5 clk = ~clk;\n" if hdl_clock else "")
    port = "" if hdl_clock else "(input wire clk)"
    return f"""// Generated by pleiades_fpga.sim.harness: HDL-only reference testbench of {manifest['top']} (no back-pressure).
`default_nettype none
module pleiades_ref{port};
{clock}    reg [{in_w - 1}:0] mem [0:{total - 1}];
    reg [31:0] idx = 32'd0, cycle = 32'd0, outs = 32'd0;
    reg [3:0]  rcnt = 4'd0;
    wire       rst = rcnt != 4'd{RESET_CYCLES};
    wire       s_tready, m_tvalid, m_tlast;
    wire [{out_w - 1}:0] m_tdata;
    wire       s_tvalid = !rst && idx < {total};
    integer    fd;
    initial begin
        $readmemh("frames.hex", mem);
        fd = $fopen("ref_outputs.txt", "w");
    end
    {manifest['top']} dut (
        .clk(clk), .rst(rst), .s_axis_tdata(mem[idx]), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready),
        .s_axis_tlast(idx % {beats} == {beats - 1}), .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid),
        .m_axis_tready(1'b1), .m_axis_tlast(m_tlast));
    always @(posedge clk) begin
        if (rst) rcnt <= rcnt + 4'd1;
        else cycle <= cycle + 32'd1;
        if (s_tvalid && s_tready) idx <= idx + 32'd1;
        if (m_tvalid) begin
            $fwrite(fd, "%0d %h\\n", cycle, m_tdata);
            outs <= outs + 32'd1;
            if (outs + 32'd1 == {n_frames}) begin
                $fclose(fd);
                $display("cycles %0d", cycle + 32'd1);
                $finish;
            end
        end
    end
endmodule
`default_nettype wire
"""


def write_harness(build_dir: Path, manifest: dict[str, Any], out_dir: Path) -> tuple[list[Path], list[Stream]]:
    """Write ``pleiades_harness.v`` into ``out_dir``; return (harness HDL sources, streams checked)."""
    streams = design_streams(build_dir, manifest)
    path = Path(out_dir) / f"{HARNESS_TOP}.v"
    path.write_text(harness_verilog(manifest, streams))
    (Path(out_dir) / "streams.json").write_text(json.dumps([s.__dict__ for s in streams]))
    memory = [HDL_DIR / MEMORY_MODEL] if manifest.get("external_memory") else []
    return [HDL_DIR / f for f in HDL_FILES] + memory + [path], streams


def pause_threshold(p: float) -> int:
    """Runtime threshold of :mod:`pause_gen` for pause probability ``p`` in [0, 1)."""
    if not 0.0 <= p < 1.0:
        raise PleiadesError(f"pause probability must be in [0, 1), got {p}")
    return min(PAUSE_ONE - 1, int(round(p * PAUSE_ONE)))


def write_frames_hex(path: Path, ints: np.ndarray, bits: int, signed: bool) -> Path:
    """Write the beat words of frames (C, T, H, W) as a $readmemh file."""
    path.write_text("\n".join(format(w, "x") for w in pack_frames(ints, bits, signed)) + "\n")
    return path


__all__ = ["CHECK_KINDS", "CHECKER_FIELDS", "HARNESS_TOP", "MEMORY_FIELDS", "Stream", "design_streams", "harness_verilog",
           "max_clip_frames", "pause_threshold", "reference_testbench_verilog", "write_frames_hex",
           "write_harness"]
