"""Generate a standalone LiteDRAM core; runs in the LiteX environment (``.venv-litex``), not in the project's.

Usage: ``python litedram_worker.py CONFIG.json OUT_DIR``. CONFIG is a litedram_gen core configuration (JSON,
the same keys as LiteDRAM's YAML files; ``"sim": true``: LiteDRAM's SDRAM model inside the core instead of the
SDRAM pins, for simulation). Writes ``OUT_DIR/gateware/litedram_core.v`` (LiteDRAM's own
generator: ``litedram.gen.LiteDRAMCore`` + LiteX's ``Builder``, no gateware compilation), ``OUT_DIR/csr.csv``
and ``OUT_DIR/litedram_init.json``: the SDRAM initialization LiteDRAM's software would run (its
``get_sdram_phy_py_header`` sequence, commands as numbers) and the CSR byte addresses of the DFII and of the
init_done/init_error registers, for a hardware sequencer on the core's ``wb_ctrl`` port (no CPU).
Imports only LiteX/LiteDRAM/the standard library: this file is executed by path (its directory first on sys.path,
so no module next to it may be named like a LiteX package), never imported by pleiades_fpga.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(config_path: str, out_dir: str) -> None:
    from litedram import modules as litedram_modules
    from litedram import phy as litedram_phys
    from litedram.gen import LiteDRAMCore
    from litedram.init import get_sdram_phy_init_sequence, get_sdram_phy_py_header
    from litex.build.lattice import LatticePlatform
    from litex.build.sim import SimPlatform
    from litex.soc.integration.builder import Builder

    config = json.loads(Path(config_path).read_text())
    out_dir = str(Path(out_dir).resolve())      # LiteX's sim toolchain changes the working directory
    if config.get("sdram_phy") != "GENSDRPHY" or config.get("cpu") is not None:
        raise SystemExit("litedram_worker builds SDR cores (GENSDRPHY) without a CPU only")
    core_config = dict(config)
    sim = bool(core_config.pop("sim", False))   # LiteDRAM's SDRAM model (SDRAMPHYModel) instead of the pins
    core_config["sys_clk_freq"] = float(core_config["sys_clk_freq"])
    core_config["sdram_module"] = getattr(litedram_modules, core_config["sdram_module"])
    core_config["sdram_phy"] = getattr(litedram_phys, core_config["sdram_phy"])

    platform = SimPlatform("", io=[]) if sim else LatticePlatform(core_config["device"], io=[], toolchain="trellis")
    soc = LiteDRAMCore(platform, core_config)
    builder = Builder(soc, output_dir=out_dir, compile_gateware=False, compile_software=False,
                      csr_csv=str(Path(out_dir) / "csr.csv"))
    try:
        builder.build(build_name="litedram_core", regular_comb=False)
    except ImportError as exc:
        # the sim toolchain writes the Verilog, then wants pythondata-misc-tapcfg for its C++ harness (not used)
        if not (sim and "tapcfg" in str(exc) and (Path(out_dir) / "gateware" / "litedram_core.v").is_file()):
            raise

    phy, timing = (soc.ddrphy if sim else soc.sdrphy).settings, soc.sdram.controller.settings.timing
    header: dict = {}
    exec(get_sdram_phy_py_header(phy, timing), header)        # the DFII constants (dfii_control_*, dfii_command_*)
    sequence, _ = get_sdram_phy_init_sequence(phy, timing)
    names = ("ddrctrl_init_done", "ddrctrl_init_error", "sdram_dfii_control", "sdram_dfii_pi0_command",
             "sdram_dfii_pi0_command_issue", "sdram_dfii_pi0_address", "sdram_dfii_pi0_baddress")
    csrs = {}
    for line in (Path(out_dir) / "csr.csv").read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0] == "csr_register" and fields[1] in names:
            csrs[fields[1]] = int(fields[2], 0)
    missing = sorted(set(names) - set(csrs))
    if missing:
        raise SystemExit(f"csr.csv lacks {missing}")
    init = {
        "dfii_control": {k[len("dfii_control_"):]: header[k] for k in header if k.startswith("dfii_control_")},
        # a step writes the DFII control register (DFII_CONTROL_*) or issues a DFII command (DFII_COMMAND_*)
        "sequence": [{"comment": c, "address": a, "bank": ba, "control": cmd.startswith("DFII_CONTROL"),
                      "command": eval(cmd.lower(), dict(header)), "delay": delay} for c, a, ba, cmd, delay in sequence],
        "csr": csrs,
        "phy": {"cl": phy.cl, "memtype": phy.memtype, "databits": phy.dfi_databits},
        "sys_clk_freq": core_config["sys_clk_freq"],
    }
    (Path(out_dir) / "litedram_init.json").write_text(json.dumps(init, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
