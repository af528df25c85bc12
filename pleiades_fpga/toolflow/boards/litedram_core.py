"""LiteDRAM (LiteX's open SDRAM controller) for the ULX3S's 32 MB SDRAM, generated without a CPU.

LiteDRAM's standalone generator builds the controller, the GENSDRPHY and one AXI4 user port; with ``cpu: None`` it
has no firmware and exposes its control/status registers on a Wishbone port (``wb_ctrl``). The SDRAM
initialization that LiteDRAM's BIOS would run (``litedram.init``: CKE high, precharge, mode register, auto
refresh; SDR needs no leveling) is replayed by ``litedram_init.v`` from a table of Wishbone writes built here
(:func:`init_writes`), so neither a RISC-V compiler nor a soft CPU is needed. LiteX/LiteDRAM are not project
dependencies: they live in their own venv (``.venv-litex``, created on demand: :func:`create_env`, ~1 minute
from PyPI) and run ``litedram_worker.py`` there. docs/EXTERNAL_MEMORY.md "ULX3S (LiteDRAM)".
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from pleiades_fpga.errors import BackendNotInstalledError, PleiadesError
from pleiades_fpga.toolflow.boards import BOARDS_DIR
from pleiades_fpga.toolflow import side_env

#: what the LiteX venv holds (the versions this flow was built and placed with; liteeth and litescope only because
#: LiteX's simulation support, used for LiteDRAM's SDRAM model, imports them)
LITEX_PACKAGES = ("litex==2024.12", "litedram==2024.12", "migen==0.10.0", "pyyaml>=6", "liteeth==2024.12",
                  "litescope==2024.12")
STAMP = ".pleiades-litex-env"
#: the ULX3S SDRAM: one MT48LC16M16A2-compatible chip (16M x 16 bit = 32 MB); ``sdram_module_nb`` counts the bytes
#: of its 16-bit data bus (2), as in litex-boards' radiona_ulx3s platform
ULX3S_SDRAM = {"device": "LFE5U-85F-6BG381C", "cpu": None, "memtype": "SDR", "sdram_module": "MT48LC16M16",
               "sdram_module_nb": 2, "sdram_phy": "GENSDRPHY", "cmd_buffer_depth": 16}
SDRAM_BYTES = 32 * 2**20
SDRAM_ADDR_W = 25
#: the clock range of core + design (one domain): ecppll's lower end; above 100 MHz GENSDRPHY's read capture and
#: LiteDRAM's timing (75.5 MHz placed alone) do not hold on the ECP5-6
CLOCK_MHZ = (10.0, 100.0)
#: the control/status registers the initialization writes (names as in LiteDRAM's csr.csv)
CSRS = ("ddrctrl_init_done", "ddrctrl_init_error", "sdram_dfii_control", "sdram_dfii_pi0_command",
        "sdram_dfii_pi0_command_issue", "sdram_dfii_pi0_address", "sdram_dfii_pi0_baddress")
#: Wishbone word address width of ``wb_ctrl`` and the delay counter of litedram_init.v
WB_ADR_W = 30
DELAY_W = 16


def default_env_dir() -> Path:
    """``$PLEIADES_LITEX_ENV`` or ``<repository>/.venv-litex``."""
    return side_env.env_dir("PLEIADES_LITEX_ENV", ".venv-litex")


def litex_python() -> Path:
    """The LiteX environment's Python (``$PLEIADES_LITEX_PYTHON`` wins), or an error saying how to create it."""
    return side_env.env_python(
        "PLEIADES_LITEX_ENV", "PLEIADES_LITEX_PYTHON", ".venv-litex",
        f"LiteDRAM is not installed: no LiteX environment at {{exe}}. Create it with `{Path(sys.executable).name} "
        "-m pleiades_fpga.toolflow.boards.litedram_core` (a venv with litex, litedram and migen from PyPI, about a "
        "minute) or point PLEIADES_LITEX_ENV / PLEIADES_LITEX_PYTHON at one. docs/EXTERNAL_MEMORY.md")


def create_env(env_dir: Path | None = None, python: str = sys.executable, quiet: bool = False) -> Path:
    """Create (or complete) the LiteX venv; return its Python. Idempotent (a stamp lists the packages)."""
    env_dir = Path(env_dir or default_env_dir())
    exe, wanted = env_dir / "bin" / "python", "\n".join(LITEX_PACKAGES)
    if side_env.is_current(env_dir, STAMP, wanted):
        return exe
    if not exe.is_file():
        side_env.run_step([python, "-m", "venv", str(env_dir)], "LiteX")
    side_env.run_step([str(exe), "-m", "pip", "install", *(["-q"] if quiet else []), *LITEX_PACKAGES], "LiteX")
    (env_dir / STAMP).write_text(wanted)
    return exe


def core_config(data_w: int, id_w: int, clock_mhz: float) -> dict:
    """litedram_gen configuration of the ULX3S controller with one AXI4 user port ``axi_0`` of ``data_w`` bits
    (LiteDRAM converts to its 16-bit native port) and ``id_w``-bit IDs, at ``clock_mhz`` (core and design)."""
    if data_w < 16 or data_w > 256 or data_w & (data_w - 1):
        raise PleiadesError(f"the LiteDRAM AXI port is {data_w} bits wide; it must be a power of two from 16 to 256 "
                            "(the SDRAM's 16-bit port, or a multiple LiteDRAM converts): rebuild with "
                            "`--axi-data-bits 16` or wider")
    if not 1 <= id_w <= 16:
        raise PleiadesError(f"AXI ID width {id_w} is outside 1..16")
    lo, hi = CLOCK_MHZ
    if not lo <= clock_mhz <= hi:
        raise PleiadesError(f"clock {clock_mhz:g} MHz is outside {lo:g}..{hi:g} MHz, where the ECP5 PLL and "
                            "LiteDRAM's SDR PHY work on the ULX3S; choose --clock-mhz in that range (default 50)")
    return {**ULX3S_SDRAM, "sys_clk_freq": clock_mhz * 1e6,
            "user_ports": {"axi_0": {"type": "axi", "id_width": id_w, "data_width": data_w}}}


def generate_core(out_dir: Path | str, config: dict, python: Path | None = None, timeout: float = 900.0) -> dict:
    """Run LiteDRAM's generator (in the LiteX venv) into ``out_dir``; return the init description
    (``litedram_init.json``) with ``verilog`` = the core's file. Reuses a core generated from the same config."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_text = json.dumps(config, sort_keys=True, indent=1)
    cfg_path, init_path = out_dir / "litedram_config.json", out_dir / "litedram_init.json"
    verilog = out_dir / "gateware" / "litedram_core.v"
    digest = hashlib.sha256(cfg_text.encode()).hexdigest()
    stamp = out_dir / ".config-sha256"
    if not (stamp.is_file() and stamp.read_text() == digest and verilog.is_file() and init_path.is_file()):
        exe = python or litex_python()
        cfg_path.write_text(cfg_text + "\n")
        log = out_dir / "litedram_gen.log"
        with log.open("w") as fh:
            res = subprocess.run([str(exe), str(BOARDS_DIR / "litedram_worker.py"), str(cfg_path), str(out_dir)],
                                 stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
        if res.returncode != 0 or not verilog.is_file() or not init_path.is_file():
            tail = log.read_text().strip().splitlines()[-3:]
            raise PleiadesError(f"LiteDRAM generation failed (exit {res.returncode}; log {log}): {' | '.join(tail)}")
        stamp.write_text(digest)
    init = json.loads(init_path.read_text())
    init["verilog"] = str(verilog)
    return init


def init_writes(init: dict) -> list[tuple[int, int, int]]:
    """The Wishbone writes (word address, data, idle cycles after) that initialize the SDRAM: what LiteDRAM's
    ``sdram_init`` does for a PHY without leveling: software control (CKE, ODT, RESET_N), init_done/init_error
    cleared, each step of LiteDRAM's init sequence (address, bank, then the DFII control word, or the command and
    its issue strobe; its delay after the last write, in clock cycles: the BIOS's ``cdelay`` loops take at least
    one cycle per count), hardware control (SEL), init_done = 1. No memory test."""
    try:
        csr = {k: int(init["csr"][k]) >> 2 for k in CSRS}
        ctl = {k: int(v) for k, v in init["dfii_control"].items()}
        steps = [(int(s["address"]), int(s["bank"]), int(s["command"]), int(s["delay"]), bool(s["control"]))
                 for s in init["sequence"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise PleiadesError(f"the LiteDRAM init description lacks {exc!r}; regenerate the core") from exc
    software = ctl["cke"] | ctl["odt"] | ctl["reset_n"]
    writes = [(csr["sdram_dfii_control"], software, 0), (csr["ddrctrl_init_done"], 0, 0),
              (csr["ddrctrl_init_error"], 0, 0)]
    for address, bank, command, delay, control in steps:
        writes += [(csr["sdram_dfii_pi0_address"], address, 0), (csr["sdram_dfii_pi0_baddress"], bank, 0)]
        if control:
            writes.append((csr["sdram_dfii_control"], command, delay))
        else:
            writes += [(csr["sdram_dfii_pi0_command"], command, 0), (csr["sdram_dfii_pi0_command_issue"], 1, delay)]
    writes += [(csr["sdram_dfii_control"], ctl["sel"], 0), (csr["ddrctrl_init_done"], 1, 0)]
    for adr, dat, delay in writes:
        if not (0 <= adr < 2**WB_ADR_W and 0 <= dat < 2**32 and 0 <= delay < 2**DELAY_W):
            raise PleiadesError(f"init write (0x{adr:x}, 0x{dat:x}, delay {delay}) does not fit litedram_init.v's "
                                f"{WB_ADR_W}-bit address, 32-bit data, {DELAY_W}-bit delay")
    return writes


def init_sequencer_params(writes: list[tuple[int, int, int]]) -> dict[str, object]:
    """Parameters of ``litedram_init``: N_WRITES and the flat table WRITES (entry i at bits
    [i*E +: E], E = 30 + 32 + 16: {word address, data, delay})."""
    entry = WB_ADR_W + 32 + DELAY_W
    flat = 0
    for i, (adr, dat, delay) in enumerate(writes):
        flat |= ((adr << (32 + DELAY_W)) | (dat << DELAY_W) | delay) << (i * entry)
    return {"N_WRITES": len(writes), "WRITES": f"{len(writes) * entry}'h{flat:x}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Create the LiteX/LiteDRAM environment used by the ULX3S SDRAM flow.")
    ap.add_argument("--dir", type=Path, default=None, help="venv directory (default: .venv-litex in the repository)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        exe = create_env(args.dir, quiet=args.quiet)
    except BackendNotInstalledError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"LiteX environment OK: {exe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
