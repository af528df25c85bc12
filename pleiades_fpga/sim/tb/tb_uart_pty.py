"""cocotb bench: the ULX3S board top (UART stream bridge + network) behind a pseudo-terminal.

The host code (``pleiades_fpga.toolflow.boards.host``, in another process) opens the pty's slave side like a
USB serial port; this bench reads the bytes it writes from the master side and drives them onto the board's
``ftdi_txd`` pin as 8N1 frames (``div`` clock cycles per bit), and decodes what the bridge sends on ``ftdi_rxd``
back into bytes for the host. Vectors: ``div``, ``slave_path_file`` (where the pty's slave name is written),
``out_bytes`` (bytes to hand back before the run ends), ``max_cycles``. Result: ``rx_bytes``, ``tx_bytes``,
``cycles``.
"""
from __future__ import annotations

import os
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from pleiades_fpga.sim.tb import load_vectors, write_result


@cocotb.test()
async def board_over_pty(dut) -> None:
    vec = load_vectors()
    div, want, max_cycles = int(vec["div"]), int(vec["out_bytes"]), int(vec["max_cycles"])
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    tmp = vec["slave_path_file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(os.ttyname(slave))
    os.replace(tmp, vec["slave_path_file"])

    clk = dut.clk_25mhz
    cocotb.start_soon(Clock(clk, 40, "ns").start())
    dut.btn_fire1.value = 0
    dut.ftdi_txd.value = 1
    counts = {"rx": 0, "tx": 0}

    async def board_to_host() -> None:
        """Decode 8N1 frames on ftdi_rxd (sampled mid-bit) and write the bytes to the host."""
        while True:
            await FallingEdge(dut.ftdi_rxd)
            await ClockCycles(clk, div // 2)
            if int(dut.ftdi_rxd.value) != 0:
                continue                       # a glitch, not a start bit
            byte = 0
            for bit in range(8):
                await ClockCycles(clk, div)
                byte |= int(dut.ftdi_rxd.value) << bit
            await ClockCycles(clk, div)
            assert int(dut.ftdi_rxd.value) == 1, "missing stop bit from the bridge"
            os.write(master, bytes([byte]))
            counts["tx"] += 1

    cocotb.start_soon(board_to_host())
    pending = bytearray()
    cycles = 0
    while counts["tx"] < want and cycles < max_cycles:
        if not pending:
            try:
                pending.extend(os.read(master, 4096))
            except (BlockingIOError, OSError):
                await ClockCycles(clk, 8 * div)   # idle line while the host is quiet
                cycles += 8 * div
                continue
        byte = pending.pop(0)
        for level in [0, *((byte >> i) & 1 for i in range(8)), 1]:   # start, data LSB first, stop
            dut.ftdi_txd.value = level
            await ClockCycles(clk, div)
        cycles += 10 * div
        counts["rx"] += 1
    await ClockCycles(clk, 4 * div)
    os.close(master)
    os.close(slave)
    write_result({"rx_bytes": counts["rx"], "tx_bytes": counts["tx"], "cycles": cycles})
    assert counts["tx"] == want, f"the board sent {counts['tx']} of {want} bytes within {max_cycles} cycles"
