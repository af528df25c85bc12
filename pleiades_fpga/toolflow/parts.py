"""FPGA parts database: resource totals, block-RAM aspect ratios, DSP operand widths, tool options.

Figures (checked against the vendor tables and the nextpnr-ecp5 device database):
- xc7z020 (PYNQ-Z2, xc7z020clg400-1): 53,200 LUT6, 106,400 FF, 220 DSP48E1 (25x18), 140 RAMB36 =
  280 RAMB18 (18 kbit each, 4.9 Mbit).
- xczu7ev (ZCU104, xczu7ev-ffvc1156-2-e, Zynq UltraScale+): 230,400 LUT6, 460,800 FF, 1,728 DSP48E2 (27x18),
  312 RAMB36 = 624 RAMB18 (11 Mbit) and 96 UltraRAM (URAM288: 4096 x 72, 288 kbit each, 27 Mbit).
- ECP5 LFE5U-25F / -45F / -85F: 24,288 / 43,848 / 83,640 LUT4 (one FF per LUT), 28 / 72 / 156
  MULT18X18D, 56 / 108 / 208 EBR (DP16KD, 18 kbit each: 1,008 / 1,944 / 3,744 kbit).

Block RAM is counted in blocks of ``bram_block_bits``. Like Yosys's ``memory_libmap``, a memory may be
split by depth into parts of different aspect ratios (2304 x 128 = 2048 x 128 in 2K x 9 blocks + 256 x 128
in 512 x 36 blocks = 19 blocks, where one aspect ratio needs 20); see :func:`bram_blocks`.

UltraRAM is a memory class of its own (resource key ``uram_bits``): a RAM goes there when its URAM288 blocks
cost Yosys less than its block RAM (``synth_xilinx -family xcup -uram``, costs from Yosys's memory library:
1,024 per URAM288, 129 per RAMB18); see :func:`memory_class`. ROMs never go to UltraRAM (it has no initial
contents). UltraScale+ logic, LUT RAM and DSP mapping follow the 7-series rules (``Part.fabric``), and the
estimator uses the constants fitted on xc7z020 for it (not refitted on an UltraScale+ synthesis). Known
difference: Yosys's UltraScale+ LUT-RAM library has deeper cells (RAM256X1S, RAM64M8); the mac_stream test
design's 256 x 16 buffer became 16 RAM256X1S (64 LUTs) on xcup where the 7-series rule counts one RAMB18
(measured: 64 x 32 -> 5 RAM64M8, 256 x 8 -> 8 RAM64M8, 64 x 256 -> 37 RAM64M8, 128 x 32 -> 1 RAMB18E2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from pleiades_fpga.errors import DoesNotFitError, PleiadesError

#: Aspect ratios (depth, width) of an 18 kbit block (ECP5 DP16KD/PDPW16KD, Xilinx RAMB18E1/SDP).
BRAM18_ASPECTS: tuple[tuple[int, int], ...] = (
    (16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36),
)

#: Resource keys every utilization / estimate dictionary uses.
RESOURCES = ("lut", "ff", "dsp", "bram_bits", "uram_bits")

#: UltraRAM block (URAM288): rows x bits, and Yosys's memory_libmap cost of one block (xilinx/urams.txt).
URAM_DEPTH, URAM_WIDTH, URAM_COST = 4096, 72, 1024
URAM_BLOCK_BITS = URAM_DEPTH * URAM_WIDTH
URAM_SLICES = (8, 9, 16, 18, 24, 36, 72)   # slice widths of a 72-bit row in 8- or 9-bit byte lanes


@dataclass(frozen=True)
class Part:
    """One FPGA part: totals and the facts the estimator and the tools need."""

    name: str                      # canonical name, e.g. "LFE5U-85F"
    family: str                    # "ecp5", "xc7" (7-series) or "xcup" (UltraScale+)
    lut: int                       # logic LUTs (LUT4 on ECP5, LUT6 on 7-series and UltraScale+)
    lut_inputs: int
    ff: int
    dsp: int                       # multiplier blocks (MULT18X18D / DSP48E1 / DSP48E2)
    dsp_a_bits: int                # signed operand widths one DSP block multiplies
    dsp_b_bits: int
    bram_blocks: int               # in 18 kbit blocks
    bram_block_bits: int = 18432
    bram_aspects: tuple[tuple[int, int], ...] = BRAM18_ASPECTS
    bram_cost: int = 128           # Yosys memory_libmap cost of one 18 kbit block (brams_16kd.txt; xc7: 129)
    rom_bit_cost: float = 1 / 16   # Yosys cost of one ROM bit in logic (a LUT4 holds 16; xc7 LUT6: 1/64)
    lutram_max_bits: int = 1024    # memories up to this size go to LUT RAM (what Yosys does) ...
    lutram_max_depth: int = 32     # ... and so do shallow memories (measured: ECP5 32 x 128 -> DPR16X4)
    uram_blocks: int = 0           # UltraRAM blocks (URAM288, UltraScale+ only)
    package: str = ""
    board: str = ""
    vivado_part: str = ""          # full Vivado part name (Xilinx only)
    nextpnr_device: str = ""       # nextpnr-ecp5 device flag (ECP5 only), e.g. "--85k"
    aliases: tuple[str, ...] = field(default=())

    @property
    def bram_bits(self) -> int:
        """Total block-RAM bits (blocks x block size)."""
        return self.bram_blocks * self.bram_block_bits

    @property
    def uram_bits(self) -> int:
        """Total UltraRAM bits (0 on parts without UltraRAM)."""
        return self.uram_blocks * URAM_BLOCK_BITS

    @property
    def fabric(self) -> str:
        """The family whose logic, LUT-RAM and DSP rules (and fitted estimator constants) apply: UltraScale+
        has the 7-series LUT6/CLB structure ("xc7"); every other family is its own."""
        return "xc7" if self.family == "xcup" else self.family

    def totals(self) -> dict[str, int]:
        """Available resources under the keys of :data:`RESOURCES`."""
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram_bits": self.bram_bits,
                "uram_bits": self.uram_bits}


PARTS: dict[str, Part] = {
    p.name.lower(): p
    for p in (
        Part("xc7z020", "xc7", 53200, 6, 106400, 220, 25, 18, 280, bram_cost=129, rom_bit_cost=1 / 64,
             lutram_max_bits=2048, lutram_max_depth=64, package="clg400", board="pynq-z2", vivado_part="xc7z020clg400-1",
             aliases=("pynq-z2", "pynq", "xc7z020clg400-1", "zynq7020")),
        Part("xczu7ev", "xcup", 230400, 6, 460800, 1728, 27, 18, 624, bram_cost=129, rom_bit_cost=1 / 64,
             lutram_max_bits=2048, lutram_max_depth=64, uram_blocks=96, package="ffvc1156",
             vivado_part="xczu7ev-ffvc1156-2-e", aliases=("zcu104", "xczu7ev-ffvc1156-2-e", "zynqmp-7ev")),
        Part("LFE5U-25F", "ecp5", 24288, 4, 24288, 28, 18, 18, 56, package="CABGA381",
             nextpnr_device="--25k", aliases=("ecp5-25", "ulx3s-25f")),
        Part("LFE5U-45F", "ecp5", 43848, 4, 43848, 72, 18, 18, 108, package="CABGA381",
             nextpnr_device="--45k", aliases=("ecp5-45", "ulx3s-45f")),
        Part("LFE5U-85F", "ecp5", 83640, 4, 83640, 156, 18, 18, 208, package="CABGA381",
             board="ulx3s-85f", nextpnr_device="--85k", aliases=("ecp5-85", "ulx3s-85f", "ulx3s")),
    )
}


def get_part(name: str) -> Part:
    """Look a part up by name or alias (case-insensitive), e.g. ``"ulx3s-85f"`` or ``"xc7z020"``."""
    key = name.strip().lower()
    if key in PARTS:
        return PARTS[key]
    for part in PARTS.values():
        if key in part.aliases:
            return part
    known = ", ".join(sorted([p.name for p in PARTS.values()] + [a for p in PARTS.values() for a in p.aliases]))
    raise PleiadesError(f"unknown target part {name!r}; choose one of: {known}")


#: The part ``report`` targets by default; ``build`` without folding options folds within its multipliers.
DEFAULT_PART = "LFE5U-85F"


def multiplier_budget(part: Part) -> int:
    """Multipliers a design may use on ``part``: 90 % of its multiplier blocks (the rest is left for the
    board wrapper and products wider than one block)."""
    return int(part.dsp * 0.9)


def part_arg(text: str) -> str:
    """argparse ``type=``: a known part or board name (kept as given), rejected at parse time otherwise."""
    import argparse

    try:
        get_part(text)
    except PleiadesError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def bram_blocks(depth: int, width: int, part: Part) -> int:
    """Blocks a depth x width memory occupies: the cheapest split by depth into parts of one aspect
    ratio each (whole multiples of the aspect's depth, the rest recursively), as Yosys maps it.

    Measured with Yosys 0.70 synth_ecp5 (one write, one read port): 2304x128 -> 19, 2304x64 -> 10,
    4608x128 -> 34, 9216x16 -> 9, 3000x40 -> 8, 1152x96 -> 9, 576x192 -> 11, 144x384 -> 11 blocks; all equal
    this rule (tests/test_report_parts.py).
    """
    return bram_split(depth, width, part)[0]


def bram_split(depth: int, width: int, part: Part) -> tuple[int, int]:
    """(blocks, depth segments) of :func:`bram_blocks`' split; each segment beyond the first costs Yosys
    an output multiplexer across the rows of blocks."""
    if depth <= 0 or width <= 0:
        return 0, 0
    return _split_blocks(depth, width, part.bram_aspects)


@lru_cache(maxsize=4096)
def _split_blocks(depth: int, width: int, aspects: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    if depth <= 0:
        return 0, 0
    best = min((math.ceil(depth / d) * math.ceil(width / w), math.ceil(depth / d)) for d, w in aspects)
    for d, w in aspects:
        if d < depth:
            blocks, segments = _split_blocks(depth % d, width, aspects)
            best = min(best, ((depth // d) * math.ceil(width / w) + blocks, depth // d + segments))
    return best


def uses_bram(depth: int, width: int, part: Part) -> bool:
    """True if Yosys maps a memory of this shape to block RAM: more bits than the part's LUT-RAM limit
    and deeper than ``lutram_max_depth`` (32 on ECP5, 64 on 7-series; measured with Yosys 0.70)."""
    return depth * width > part.lutram_max_bits and depth > part.lutram_max_depth


def memory_bram_bits(depth: int, width: int, part: Part) -> int:
    """Block-RAM bits a memory occupies on ``part`` (0 when it stays in LUT RAM or goes to UltraRAM)."""
    if memory_class(depth, width, part) != "bram":
        return 0
    return bram_blocks(depth, width, part) * part.bram_block_bits


def uram_blocks(depth: int, width: int) -> int:
    """URAM288 blocks a depth x width RAM occupies (Yosys 0.70 ``synth_xilinx -family xcup -uram``).

    The cheapest split of the width into slices of ``URAM_SLICES`` bits, each slice packing 72 // slice words
    into a 72-bit row (8-bit slices: 9 words, 36,864 per block). Measured: 16384 x 72 -> 4, 4096 x 72 -> 1,
    2048 x 72 -> 1, 2304 x 128 -> 2, 9216 x 64 -> 3, 36864 x 8 -> 1, 147456 x 8 -> 4, 18432 x 16 -> 2,
    147456 x 16 -> 8, 36864 x 128 -> 16, 9216 x 384 -> 16, 2304 x 640 -> 9, 8192 x 24 -> 1, 4096 x 36 -> 1
    (tests/test_report_parts.py)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(width / s) * math.ceil(depth / (URAM_DEPTH * (URAM_WIDTH // s))) for s in URAM_SLICES)


def memory_class(depth: int, width: int, part: Part) -> str:
    """Where Yosys puts a RAM of this shape on ``part``: "lutram", "bram" or "uram" (UltraRAM when the part has
    it and its blocks cost less than the block RAM: URAM_COST per URAM288 vs ``bram_cost`` per 18 kbit block;
    measured: 1024 x 72 -> 2 RAMB36E2, 2048 x 72 -> 1 URAM288)."""
    if not uses_bram(depth, width, part):
        return "lutram"
    if part.uram_blocks and uram_blocks(depth, width) * URAM_COST < bram_blocks(depth, width, part) * part.bram_cost:
        return "uram"
    return "bram"


def rom_uses_bram(depth: int, width: int, part: Part) -> bool:
    """True if Yosys puts a constant ROM of this shape into block RAM: when its blocks cost less than the
    ROM's address space as logic (blocks x ``bram_cost`` < 2**address bits x width x ``rom_bit_cost``; a tie
    stays in logic). Measured on the generated case-statement ROMs: ECP5 36 x 128, 40 x 256, 480 x 4,
    54 x 192, 240 x 8 -> logic, 128 x 24, 640 x 4, 144 x 96, 60 x 384, 40 x 512 -> DP16KD; xc7z020 60 x 384,
    216 x 128, 640 x 8 -> logic, 4096 x 8 -> RAMB18."""
    words = 1 << max(1, math.ceil(math.log2(max(depth, 1))))
    return bram_blocks(depth, width, part) * part.bram_cost < words * width * part.rom_bit_cost


def rom_luts(depth: int, width: int, part: Part) -> int:
    """LUTs of a constant ROM built from logic: one LUT per output bit per LUT-sized slice of the depth."""
    if depth <= 0 or width <= 0:
        return 0
    return width * math.ceil(depth / (1 << part.lut_inputs))


def lutram_luts(depth: int, width: int, part: Part) -> int:
    """LUTs a LUT-RAM memory uses: storage (ECP5: 2 per 16x4 DPR16X4; 7-series: 4 per RAM64M 64x3 or
    RAM32M 32x6) plus the read multiplexer across storage banks (one LUT per bit per extra bank)."""
    if depth <= 0 or width <= 0:
        return 0
    if part.fabric == "ecp5":
        return 2 * math.ceil(depth / 16) * math.ceil(width / 4) + (math.ceil(depth / 16) - 1) * width
    # 7-series: RAM64M = 4 LUTs for 64 x 3 (simple dual port); RAM32M = 4 LUTs for 32 x 6.
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    return 4 * math.ceil(depth / 64) * math.ceil(width / 3) + (math.ceil(depth / 64) - 1) * width


def dsp_blocks(a_bits: int, b_bits: int, part: Part) -> int:
    """DSP blocks one a x b multiplier uses (0 when Yosys would build it from LUTs).

    Yosys maps a multiplier to DSP blocks when both operands have >= 2 bits and, on 7-series, the
    product has >= 9 bits; wider operands are split into ceil(a/A) * ceil(b/B) blocks.
    """
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    if b < 2:
        return 0
    if part.fabric == "xc7" and a + b < 9:
        return 0
    return math.ceil(a / part.dsp_a_bits) * math.ceil(b / part.dsp_b_bits)


def check_fit(used: dict[str, float], part: Part) -> None:
    """Raise :class:`DoesNotFitError` naming every resource of ``used`` that exceeds ``part``."""
    totals = part.totals()
    over = [
        f"{key}: {int(round(used[key])):,} used > {totals[key]:,} available"
        + (f" ({100 * used[key] / totals[key]:.0f} %)" if totals[key] else f" ({part.name} has none)")
        for key in RESOURCES
        if key in used and used[key] > totals[key]
    ]
    if over:
        hints = []
        if any(o.startswith(("lut", "ff", "dsp")) for o in over):
            hints.append(f"fold more (smaller PE/SIMD) to save multipliers and logic: rebuild with `pleiades-fpga "
                         f"build MODEL.onnx --out BUILD --target {part.name}` (folds within {multiplier_budget(part)} "
                         "multipliers) or a smaller --max-multipliers")
        if any(o.startswith(("bram_bits", "uram_bits")) for o in over):
            hints.append("use the recurrent temporal mode (N+1 polynomial states per channel and pixel instead of "
                         "a K-1 frame circular buffer; it saves memory only for kernels longer than the report's "
                         "temporal_memory crossover_k) or a lower input resolution to save on-chip memory")
        hints.append("or pick a larger part")
        raise DoesNotFitError(f"design does not fit {part.name}: " + "; ".join(over) + ". To fix: "
                              + "; ".join(hints) + ".")


def utilization_percent(used: dict[str, float], part: Part) -> dict[str, float]:
    """Percentage of each resource of ``part`` that ``used`` takes (None for a resource the part lacks)."""
    totals = part.totals()
    return {k: round(100.0 * used.get(k, 0) / totals[k], 2) if totals[k] else None for k in RESOURCES}


@dataclass(frozen=True)
class BoardMemory:
    """A board's external memory as a design's AXI4 master sees it (the temporal buffers planned external)."""

    board: str
    part: str                      # key of PARTS
    kind: str
    size_bytes: int
    data_bits: int                 # width of the design's AXI port to it
    peak_mb_s: float               # peak of the path (memory bus or port, the lower), MB/s = 1e6 bytes/s
    usable_mb_s: float             # sustained read + write bandwidth budgeted for long sequential bursts
    source: str                    # where the figures come from


BOARD_MEMORIES: dict[str, BoardMemory] = {
    m.board: m for m in (
        BoardMemory("pynq-z2", "xc7z020", "DDR3 (Zynq PS, through an AXI HP port)", 512 * 2**20, 64, 2133.0, 1600.0,
                    "DDR3-1066 on a 16-bit bus (PYNQ-Z2 reference manual: 512 MB, 16-bit) = 2,133 MB/s peak; one "
                    "HP port is 64-bit AXI3 at 150 MHz = 1,200 MB/s per direction (Zynq-7000 TRM UG585); usable "
                    "= 75 % of the DDR peak (estimated: refresh, bank and read/write turnaround)"),
        BoardMemory("ulx3s-85f", "lfe5u-85f", "SDR SDRAM through LiteDRAM (GENSDRPHY 1:1)", 32 * 2**20, 16, 100.0,
                    70.0,
                    "16-bit SDR SDRAM at the LiteX ULX3S target's default 50 MHz system clock (litex-boards "
                    "radiona_ulx3s: MT48LC16M16, sdram_rate 1:1) = 100 MB/s peak; usable = 70 % (estimated: "
                    "refresh, row activate/precharge, read/write turnaround)"),
    )
}


def board_memory(name: str) -> BoardMemory:
    """The external memory of a board, by board name or by its part (name or alias)."""
    key = name.strip().lower()
    if key in BOARD_MEMORIES:
        return BOARD_MEMORIES[key]
    part = get_part(name)
    for mem in BOARD_MEMORIES.values():
        if mem.part == part.name.lower():
            return mem
    raise PleiadesError(f"no external memory known for {name!r}; boards with one: {', '.join(BOARD_MEMORIES)}")
