"""Host side of the board's UART stream bridge (``uart_stream_bridge.v``, docs/BOARDS.md "Byte protocol").

Each input pixel word goes out as ``ceil(in_width / 8)`` bytes, least significant first, ``height x width`` pixels
per frame; each frame's logits vector comes back as ``ceil(out_width / 8)`` bytes, least significant first.
:class:`BridgeLink` sends one frame and reads its logits word (pyserial; any port name pyserial opens: a USB
serial device, a pseudo-terminal in the tests). Frames are written whole, so the bridge's idle resync (a pause
of more than about 1 ms between two bytes) only ever falls between frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pleiades_fpga.errors import PleiadesError

MAX_BAUD = 3_000_000          # the ULX3S's FT231X USB UART: up to 3 Mbaud
MAX_BAUD_ERROR = 0.025        # 8N1 tolerates a few percent between the two ends


@dataclass(frozen=True)
class BridgeProtocol:
    """Byte framing of one design's stream bridge."""

    in_width: int        # bits of an input pixel word (channels x bits)
    out_width: int       # bits of a logits vector (classes x bits)
    frame_pixels: int    # pixels per frame (height x width)

    @property
    def in_bytes(self) -> int:
        return (self.in_width + 7) // 8

    @property
    def out_bytes(self) -> int:
        return (self.out_width + 7) // 8

    @classmethod
    def from_manifest(cls, manifest: dict) -> "BridgeProtocol":
        """The framing the board wrapper builds for ``manifest`` (the same widths as its bridge parameters)."""
        from pleiades_fpga.toolflow.boards.wrapper import StreamPorts

        ports = StreamPorts.from_manifest(manifest)
        return cls(ports.in_width, ports.out_width, ports.frame_pixels)

    def frame_bytes(self, words: Sequence[int]) -> bytes:
        """The bytes of one frame of pixel words (raster order)."""
        if len(words) != self.frame_pixels:
            raise PleiadesError(f"a frame has {self.frame_pixels} pixels, got {len(words)} words")
        return b"".join(int(w).to_bytes(self.in_bytes, "little") for w in words)

    def logits_word(self, data: bytes) -> int:
        """The logits vector word from its bytes (bits above ``out_width`` cleared)."""
        if len(data) != self.out_bytes:
            raise PleiadesError(f"a logits vector is {self.out_bytes} bytes, got {len(data)}")
        return int.from_bytes(data, "little") & ((1 << self.out_width) - 1)


def check_baud(baud: int, clock_mhz: float | None = None) -> int:
    """Refuse a baud rate the ULX3S's FT231X cannot carry, or (given the bridge's clock) one whose divider
    (clock / baud, rounded, as in the bridge) is off by more than 2.5 %; return it."""
    if isinstance(baud, bool) or not isinstance(baud, int) or not 300 <= baud <= MAX_BAUD:
        raise PleiadesError(f"baud rate {baud!r} is out of range: give 300 .. {MAX_BAUD:,} (the ULX3S's FT231X "
                            "USB UART carries up to 3 Mbaud)")
    if clock_mhz is not None:
        clk = clock_mhz * 1e6
        div = max(1, round(clk / baud))
        actual = clk / div
        if div < 4 or abs(actual / baud - 1) > MAX_BAUD_ERROR:
            raise PleiadesError(f"{baud:,} baud at a {clock_mhz:g} MHz bridge clock: the divider {div} gives "
                                f"{actual:,.0f} baud ({100 * (actual / baud - 1):+.1f} %); pick a baud rate that "
                                f"divides the clock within {100 * MAX_BAUD_ERROR:g} % (e.g. {clk / max(4, div + 1):,.0f})")
    return baud


class BridgeLink:
    """A serial connection to the board's stream bridge: :meth:`frame` sends a frame and returns its logits word."""

    def __init__(self, port: str, baud: int, protocol: BridgeProtocol, timeout: float = 5.0) -> None:
        check_baud(baud)
        try:
            import serial  # pyserial
        except ImportError as exc:
            raise PleiadesError("pyserial is not installed: pip install pyserial") from exc
        self.protocol, self.port, self.timeout = protocol, port, timeout
        try:
            self.serial: Any = serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                             timeout=timeout, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PleiadesError(f"cannot open serial port {port!r} ({exc}); is the board connected (ULX3S: USB port "
                                "US1, usually /dev/ttyUSB0 on Linux, /dev/cu.usbserial-* on macOS, COMn on "
                                "Windows) and may this user open it (group dialout)?") from None
        self.serial.reset_input_buffer()

    def frame(self, words: Sequence[int]) -> int:
        """Send one frame of pixel words; return the logits vector word the board sends back."""
        import serial

        p = self.protocol
        try:
            self.serial.write(p.frame_bytes(words))
            self.serial.flush()
            data = self.serial.read(p.out_bytes)
        except (serial.SerialException, OSError) as exc:
            raise PleiadesError(f"serial port {self.port!r} failed ({exc}); was the board unplugged?") from None
        if len(data) != p.out_bytes:
            raise PleiadesError(
                f"the board sent {len(data)} of {p.out_bytes} logits bytes within {self.timeout:g} s on {self.port}: "
                "is the bitstream of this design loaded (pleiades-fpga synth --program), does --baud match the one "
                "it was built with, and was the board reset (button FIRE1) before the run?")
        return p.logits_word(data)

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> "BridgeLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
