"""Memory planner (hw.rtl.memory_plan): on-chip / external per temporal buffer to fit the part's block RAM with
headroom, per-layer overrides, address map, bandwidth model against the board memory. Expected values are
worked out by hand in the comments (not produced by the planner)."""
from __future__ import annotations

import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import history_layout, prefetch_depth
from pleiades_fpga.hw.rtl.memory_plan import bandwidth, plan_memory
from pleiades_fpga.toolflow.parts import board_memory, get_part


def temporal(name: str, c: int, h: int, w: int, k: int = 10, bits: int = 8, cycles: int | None = None) -> dict:
    """A manifest layer entry of a temporal conv with its circular buffer ((K-1)*H*W words of C*bits)."""
    return {"name": name, "kind": "temporal_conv", "in_shape": [c, h, w], "in_bits": bits, "kernel": k,
            "cycles_per_frame": cycles if cycles is not None else h * w * 4,
            "memories": [{"name": f"{name}_history", "kind": "circular_buffer", "depth": (k - 1) * h * w,
                          "width": c * bits}]}


# the published network's temporal layers at 128x128 (preset dvs128: 2, 16, 48, 80, 112 input channels at 128,
# 64, 32, 16, 8 pixels square; buffers 2.36, 4.72, 3.54, 1.47, 0.52 Mbit at 8 bits, ../shared/REFERENCE.md)
NET128 = [temporal("blocks.0.temporal", 2, 128, 128), temporal("blocks.1.temporal", 16, 64, 64),
          temporal("blocks.2.temporal", 48, 32, 32), temporal("blocks.3.temporal", 80, 16, 16),
          temporal("blocks.4.temporal", 112, 8, 8)]


def test_small_design_stays_on_chip():
    plan = plan_memory([temporal("t0", 4, 8, 8), temporal("t1", 8, 4, 4)], get_part("LFE5U-85F"))
    assert plan["fits"] and all(b["memory"] == "onchip" for b in plan["buffers"])
    assert plan["external_bytes"] == 0


@pytest.mark.parametrize("part_name", ["LFE5U-85F", "xc7z020"])
def test_128x128_network_fits_with_external_buffers(part_name):
    part = get_part(part_name)
    plan = plan_memory(NET128, part, memory=board_memory(part_name))
    assert plan["fits"], plan
    # budget = 90 % of the block RAM: LFE5U-85F 208 x 18,432 x 0.9 = 3,450,470; xc7z020 280 x 18,432 x 0.9 = 4,644,864
    assert plan["budget_bits"] == {"LFE5U-85F": 3_450_470, "xc7z020": 4_644_864}[part_name]
    where = {b["layer"]: b["memory"] for b in plan["buffers"]}
    # the largest buffer (block 1: 4.72 Mbit) cannot stay on chip on either part
    assert where["blocks.1.temporal"] == "external"
    # all on chip would need 12.6 Mbit: at least two buffers go out
    assert sum(m == "external" for m in where.values()) >= 2
    assert plan["onchip_bits"] <= plan["budget_bits"]


def test_address_map_regions_do_not_overlap_and_are_aligned():
    plan = plan_memory(NET128, get_part("LFE5U-85F"), memory=board_memory("ulx3s"), base_addr=0x10000)
    ext = sorted((b for b in plan["buffers"] if b["memory"] == "external"), key=lambda b: b["base_addr"])
    assert ext[0]["base_addr"] == 0x10000
    for a, b in zip(ext, ext[1:]):
        assert b["base_addr"] >= a["base_addr"] + a["region_bytes"] and b["base_addr"] % 4096 == 0
    # block 0 on the 16-bit ULX3S port: 2 x 8-bit = 16-bit pixels, 2 bytes each; 9 slots of 16,384 pixels
    b0 = next(b for b in ext if b["layer"] == "blocks.0.temporal")
    assert b0["region_bytes"] == 9 * 16384 * 2
    assert b0["read_bytes_per_frame"] == 9 * 16384 * 2 and b0["write_bytes_per_frame"] == 16384 * 2


def test_overrides_win_and_are_checked():
    part = get_part("LFE5U-85F")
    plan = plan_memory(NET128, part, overrides={"blocks.3.temporal": "external", "blocks.1.temporal": "onchip"})
    where = {b["layer"]: (b["memory"], b["reason"]) for b in plan["buffers"]}
    assert where["blocks.3.temporal"] == ("external", "override")
    assert where["blocks.1.temporal"] == ("onchip", "override")
    assert not plan["fits"]            # 4.72 Mbit forced on chip cannot fit 3.45 Mbit
    with pytest.raises(PleiadesError, match="blocks.9.temporal"):
        plan_memory(NET128, part, overrides={"blocks.9.temporal": "external"})
    with pytest.raises(PleiadesError, match="'offchip' is not one of onchip, external"):
        plan_memory(NET128, part, overrides={"blocks.0.temporal": "offchip"})
    with pytest.raises(PleiadesError, match="needs a temporal buffer"):
        plan_memory([{"name": "head.fc", "in_shape": [8, 1, 1], "in_bits": 8, "memories": []}], part,
                    overrides={"head.fc": "external"})


def test_bandwidth_model_and_verdicts():
    ulx3s = board_memory("ulx3s")
    plan = plan_memory(NET128, get_part("LFE5U-85F"), memory=ulx3s)
    ext = [b for b in plan["buffers"] if b["memory"] == "external"]
    # K = 10: 9 frames read + 1 written per frame
    per_frame = sum(10 * b["write_bytes_per_frame"] for b in ext)
    bw = bandwidth(plan, fps_required=100.0, fps_achieved=150.0, memory=ulx3s)
    assert bw["bytes_per_frame"] == per_frame
    assert bw["mb_s_required"] == pytest.approx(per_frame * 100 / 1e6)
    assert bw["mb_s_achieved"] == pytest.approx(per_frame * 150 / 1e6)
    # blocks 0 and 1 alone: 10 x (16,384 x 2 + 4,096 x 16) bytes = 983,040 bytes/frame = 98.3 MB/s at 100 fps > 70 usable
    assert per_frame >= 983_040 and bw["verdict"] == "too slow"
    slow = bandwidth(plan, fps_required=10.0, fps_achieved=200.0, memory=ulx3s)
    assert slow["verdict"] == ("memory-bound" if per_frame * 200 / 1e6 > 70 else "ok")
    pynq = bandwidth(plan_memory(NET128, get_part("xc7z020"), memory=board_memory("pynq-z2")),
                     fps_required=100.0, fps_achieved=100.0, memory=board_memory("pynq-z2"))
    assert pynq["verdict"] == "ok" and pynq["usable_mb_s"] == 1600.0
    assert bandwidth(plan_memory([temporal("t", 2, 4, 4)], get_part("LFE5U-85F")), fps_required=1, fps_achieved=1,
                     memory=ulx3s)["verdict"] == "none"


def test_prefetch_depth_covers_latency():
    # K = 3, 1 beat per pixel, 16-pixel bursts, latency 40, 6 cycles per pixel:
    # lead = 40 + 2 x 16 + 8 = 80 cycles = 14 pixels (ceil 80/6), + one burst = 30 -> 32
    assert prefetch_depth(3, 1, 16, 40, 6) == 32
    # a fast engine (1 cycle per pixel) is paced by the read channel, 2 beats per pixel: 16 + 40 = 56 -> 64
    assert prefetch_depth(3, 1, 16, 40, 1) == 64
    # 8 beats per pixel, K = 10: paced at 72 cycles per pixel; lead = 40 + 9 x 4 x 8 + 8 = 336 -> 5 + 4 = 9 -> 16
    assert prefetch_depth(10, 8, 4, 40, 6) == 16
    lay = history_layout(c_in=4, in_w=8, k=3, pixels=256, data_w=32, latency=40, cycles_per_pixel=6)
    # default burst: the largest power of two of <= 256 bytes leaving >= 4 bursts per frame: 64 pixels of 4 bytes
    assert (lay.bpp, lay.burst_pix, lay.n_bursts, lay.slot_bytes, lay.region_bytes) == (1, 64, 4, 1024, 2048)


def test_layout_rejects_bad_input():
    with pytest.raises(PleiadesError, match="K >= 2"):
        history_layout(c_in=4, in_w=8, k=1, pixels=16, data_w=32)
    with pytest.raises(PleiadesError, match="not a multiple of the burst size"):
        history_layout(c_in=4, in_w=8, k=3, pixels=64, data_w=32, burst_pix=16, base_addr=100)
    with pytest.raises(PleiadesError, match="the history region 0x1000 .* does not fit a 12-bit address space"):
        history_layout(c_in=4, in_w=8, k=3, pixels=64, data_w=32, burst_pix=16, base_addr=4096, addr_w=12)
    with pytest.raises(PleiadesError, match="power of two from 8 to 1024"):
        history_layout(c_in=4, in_w=8, k=3, pixels=64, data_w=24)
    with pytest.raises(PleiadesError, match="at most 256 beats"):
        history_layout(c_in=64, in_w=8, k=3, pixels=4096, data_w=16, burst_pix=16)


def test_lower_from_onchip_manifest_fragment():
    import numpy as np

    from pleiades_fpga.hw.rtl.kinds.temporal_conv_external import lower_from_onchip

    p = {"C_IN": 24, "C_OUT": 24, "PE": 1, "SIMD": 1, "IN_W": 8, "IN_SIGNED": 0, "W_W": 8, "ACC_W": 19, "BIAS_W": 13,
         "M_W": 1, "S_W": 4, "OUT_W": 8, "OUT_SIGNED": 0, "K": 10, "PIXELS": 64, "DEPTHWISE": 1}
    lay = history_layout(c_in=24, in_w=8, k=10, pixels=64, data_w=64)
    z = np.zeros(24, dtype=np.int64)
    files, entry = lower_from_onchip("b2", p, np.ones((24, 1, 10), dtype=np.int64), z, z + 1, z, lay)
    assert [n for n, _ in files] == ["b2_mac_wrom", "b2_mac_prom", "b2_mac", "b2"]
    # 192-bit pixels on a 64-bit port: 3 beats, rounded to 4; 9 history FIFOs + 1 write FIFO on chip
    assert lay.bpp == 4 and sum(m["kind"] == "fifo" for m in entry["memories"]) == 10
    # grouped MVU: GROUP_IN = K = 10 inputs per output, SIMD 1, PE 1: 24 x 10 weight words
    assert entry["params"]["GROUP_IN"] == 10 and entry["memories"][-2]["depth"] == 240
    assert entry["external"]["region_bytes"] == 9 * 64 * 32
    with pytest.raises(PleiadesError, match="does not match"):
        lower_from_onchip("b2", {**p, "K": 5}, np.ones((24, 1, 5), dtype=np.int64), z, z + 1, z, lay)


@pytest.fixture(scope="module")
def small_graph(tmp_path_factory):
    from small_qonnx import small_qonnx

    from pleiades_fpga.ir.reader import read_qonnx

    return read_qonnx(small_qonnx(tmp_path_factory.mktemp("small") / "small.onnx"))


def test_external_kind_cost_matches_onchip_when_mac_bound(small_graph):
    """hw kind temporal_conv_external: registered; cycles per frame of the small net's temporal layers equal the
    on-chip kind's when the read channel keeps up ((K-1) x beats per pixel <= MAC cycles per pixel)."""
    from pleiades_fpga.hw.rtl.kinds import HW_KINDS, Fold, hw_kind

    assert "temporal_conv_external" in HW_KINDS
    graph = small_graph
    ext, onchip = hw_kind("temporal_conv_external"), hw_kind("temporal_conv")
    for layer in (l for l in graph.layers if l.kind == "conv" and l.params.temporal):
        fold = Fold(pe=1, simd=1)                     # the slowest folding: one lane of DSP multipliers (the
                                                      # external lowering builds DSP lanes only)
        c_ext, c_on = ext.cost(graph, layer, fold), onchip.cost(graph, layer, fold)
        assert c_ext == c_on, (layer.name, c_ext, c_on)


def test_folding_json_memory_key(small_graph, tmp_path):
    """The folding JSON's optional per-layer "memory" key: read as planner overrides, bad values refused."""
    import json

    from pleiades_fpga.hw.rtl.folding import default_folding, folding_to_json, load_folding, memory_overrides

    cfg = folding_to_json(default_folding(small_graph))
    temporal = [l.name for l in small_graph.layers if l.kind == "conv" and l.params.temporal]
    cfg["layers"][temporal[0]]["memory"] = "external"
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(cfg))
    assert load_folding(path, small_graph) == default_folding(small_graph)
    assert memory_overrides(path, small_graph) == {temporal[0]: "external"}
    cfg["layers"][temporal[0]]["memory"] = "dram"
    path.write_text(json.dumps(cfg))
    with pytest.raises(PleiadesError, match=f"layer {temporal[0]}: memory = 'dram' must be one of 'onchip', 'external'"):
        load_folding(path, small_graph)


def groupnorm(name: str, c: int, h: int, w: int, bits: int = 8) -> dict:
    """A manifest entry of a frame-statistics GroupNorm with its frame buffer (H*W words of C*bits)."""
    return {"name": name, "kind": "groupnorm", "in_shape": [c, h, w], "in_bits": bits, "cycles_per_frame": h * w,
            "memories": [{"name": f"{name}_frame", "kind": "frame_buffer", "depth": h * w, "width": c * bits}]}


def fork(name: str, c: int, h: int, w: int, depth: int, bits: int = 8, join: str | None = None) -> dict:
    """A manifest entry of a fork with its skip FIFO (``depth`` words of C*bits + tlast)."""
    entry = {"name": name, "kind": "fork", "in_shape": [c, h, w], "cycles_per_frame": h * w,
             "memories": [{"name": f"{name}_fifo", "kind": "skip_fifo", "depth": depth, "width": c * bits + 1}]}
    return entry | ({"memory_layer": join} if join else {})


def test_frame_buffers_and_skip_fifos_move_external():
    """Block 1 of the published network at 128x128 with its GroupNorm (16 ch x 64x64 x 8 bits) and a 48-channel
    skip FIFO of 4 frames of 32x32 (4,096 x 385 bits): largest first, the skip FIFO (1.59 Mbit of block RAM) goes
    external before the frame buffer (0.55 Mbit), which then fits; overrides move any kind; each external FIFO
    costs 1 read + 1 write of a frame."""
    layers = [*NET128, groupnorm("blocks.1.temporal_norm", 16, 64, 64), fork("fork_b2", 48, 32, 32, 4096,
                                                                              join="blocks.2.add")]
    plan = plan_memory(layers, get_part("LFE5U-85F"), memory=board_memory("ulx3s"))
    assert plan["fits"], plan
    rows = {b["layer"]: b for b in plan["buffers"]}
    gn, skip = rows["blocks.1.temporal_norm"], rows["fork_b2"]
    assert (gn["kind"], skip["kind"]) == ("frame_buffer", "skip_fifo")
    assert (skip["memory"], skip["reason"]) == ("external", "moved external to fit the block RAM")
    assert gn["memory"] == "onchip"
    forced = plan_memory(layers, get_part("LFE5U-85F"), memory=board_memory("ulx3s"),
                         overrides={"blocks.2.add": "external", "blocks.1.temporal_norm": "external"})
    rows = {b["layer"]: b for b in forced["buffers"]}
    gn = rows["blocks.1.temporal_norm"]
    assert gn["memory"] == "external" and gn["reason"] == "override"
    # 16 x 8 = 128-bit pixels on the 16-bit port: 8 beats = 16 bytes per pixel; 4,096 pixels per frame
    assert gn["read_bytes_per_frame"] == gn["write_bytes_per_frame"] == 4096 * 16
    # ring: (ceil(4,096 / 4,096) + 1) frames of 16-pixel (256-byte) bursts = 2 x 4,096 x 16 bytes
    assert gn["region_bytes"] == 2 * 4096 * 16 and gn["params"]["RING_BURSTS"] == 2 * 256
    # the skip FIFO: 384-bit words -> 24 beats -> padded to 32 beats = 64 bytes; 1,024 words per frame
    forced = plan_memory(layers, get_part("LFE5U-85F"), memory=board_memory("ulx3s"),
                         overrides={"blocks.2.add": "external", "blocks.1.temporal_norm": "external"})
    rows = {b["layer"]: b for b in forced["buffers"]}
    assert rows["fork_b2"]["memory"] == rows["blocks.1.temporal_norm"]["memory"] == "external"
    assert rows["fork_b2"]["reason"] == "override"
    assert rows["fork_b2"]["read_bytes_per_frame"] == rows["fork_b2"]["write_bytes_per_frame"] == 1024 * 64
    # 4,096 words = 4 frames: a ring of 5 frames of 4-word (256-byte) bursts
    assert rows["fork_b2"]["params"]["RING_BURSTS"] == 5 * 256 and rows["fork_b2"]["region_bytes"] == 5 * 1024 * 64
    bw = bandwidth(forced, fps_required=100.0, fps_achieved=100.0, memory=board_memory("ulx3s"))
    kinds = {r["layer"]: r["kind"] for r in bw["layers"]}
    assert kinds["fork_b2"] == "skip_fifo" and kinds["blocks.1.temporal_norm"] == "frame_buffer"


def test_override_on_a_join_without_a_skip_fifo_is_refused():
    """A streaming skip (16-beat FIFO, kind "fifo") has nothing to move: the override names the joining layer."""
    short = {"name": "fork_x", "kind": "fork", "in_shape": [8, 4, 4], "cycles_per_frame": 16, "memory_layer": "add_x",
             "memories": [{"name": "fifo_x", "kind": "fifo", "depth": 16, "width": 65}]}
    add = {"name": "add_x", "kind": "add", "in_shape": [8, 4, 4], "cycles_per_frame": 16, "memories": []}
    with pytest.raises(PleiadesError, match="layer add_x: memory 'external' moves the skip FIFO it joins, but fork_x"):
        plan_memory([short, add], get_part("LFE5U-85F"), overrides={"add_x": "external"})
