"""The board wrappers' UART <-> AXI-Stream bridge, simulated with Icarus: byte protocol of docs/BOARDS.md."""
import shutil
import subprocess

import pytest

from pleiades_fpga.toolflow.boards import BOARDS_DIR

DIV = 8            # clock cycles per UART bit (CLK_HZ / BAUD)

TB = r"""
`timescale 1ns/1ps
module tb;
    reg clk = 0, rst = 1, rx = 1;
    always #5 clk = ~clk;
    wire tx;
    wire [@IN_W@-1:0] in_tdata; wire in_tvalid, in_tlast;
    reg [@OUT_W@-1:0] out_tdata = 0; reg out_tvalid = 0; wire out_tready;
    wire fin, fout;
    pleiades_uart_bridge #(.CLK_HZ(800), .BAUD(100), .IN_W(@IN_W@), .OUT_W(@OUT_W@), .FRAME_PIXELS(3), .IDLE_CYCLES(200)) dut (
        .clk(clk), .rst(rst), .uart_rx(rx), .uart_tx(tx),
        .m_axis_tdata(in_tdata), .m_axis_tvalid(in_tvalid), .m_axis_tready(1'b1), .m_axis_tlast(in_tlast),
        .s_axis_tdata(out_tdata), .s_axis_tvalid(out_tvalid), .s_axis_tready(out_tready), .s_axis_tlast(1'b1),
        .frame_in_toggle(fin), .frame_out_toggle(fout));
    always @(posedge clk) if (in_tvalid) $display("BEAT %h %0d", in_tdata, in_tlast);
    task send_byte(input [7:0] b); integer i; begin
        rx = 0; repeat (8) @(posedge clk);
        for (i = 0; i < 8; i = i + 1) begin rx = b[i]; repeat (8) @(posedge clk); end
        rx = 1; repeat (8) @(posedge clk);
    end endtask
    // UART receiver on tx: sample mid-bit
    reg [7:0] rb; integer j;
    initial begin
        forever begin
            @(negedge tx);
            repeat (4) @(posedge clk);
            for (j = 0; j < 8; j = j + 1) begin repeat (8) @(posedge clk); rb[j] = tx; end
            repeat (8) @(posedge clk);
            $display("TXBYTE %h stop=%0d", rb, tx);
        end
    end
    initial begin
        repeat (5) @(posedge clk); rst = 0; repeat (5) @(posedge clk);
        send_byte(8'h23); send_byte(8'h01);          // pixel 0x123
        send_byte(8'hBC); send_byte(8'hFA);          // pixel 0xABC (top 4 bits of the 2nd byte dropped)
        send_byte(8'h56); send_byte(8'h04);          // pixel 0x456, last of the frame
        send_byte(8'h77);                            // a lone byte, then a pause: resync
        repeat (300) @(posedge clk);
        send_byte(8'h89); send_byte(8'h07);          // pixel 0x789 = first of a new frame
        @(posedge clk); out_tdata <= @OUT_W@'h@OUT_HEX@; out_tvalid <= 1;
        @(posedge clk); while (!out_tready) @(posedge clk);
        out_tvalid <= 0;
        repeat (400) @(posedge clk);
        $display("DONE");
        $finish;
    end
endmodule
"""


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
@pytest.mark.parametrize("in_w,out_w,out_hex,beats,tx", [
    # 12-bit pixels = 2 bytes each (top 4 bits of the 2nd byte dropped); 20-bit output = 3 bytes
    (12, 20, "ABCDE", [["123", "0"], ["abc", "0"], ["456", "1"], ["789", "0"]], ["de", "bc", "0a"]),
    # 8-bit pixels = 1 byte each: every byte is a pixel, tlast on every 3rd; 16-bit output = 2 bytes
    (8, 16, "BCDE", [["23", "0"], ["01", "0"], ["bc", "1"], ["fa", "0"], ["56", "0"], ["04", "1"], ["77", "0"],
                     ["89", "0"], ["07", "0"]], ["de", "bc"]),
])
def test_uart_bridge_byte_protocol(tmp_path, in_w, out_w, out_hex, beats, tx):
    tb = tmp_path / "tb.v"
    tb.write_text(TB.replace("@IN_W@", str(in_w)).replace("@OUT_W@", str(out_w)).replace("@OUT_HEX@", out_hex))
    exe = tmp_path / "sim"
    subprocess.run(["iverilog", "-g2012", "-o", str(exe), str(tb), str(BOARDS_DIR / "uart_stream_bridge.v")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", str(exe)], capture_output=True, text=True, timeout=60).stdout.splitlines()
    got_beats = [l.split()[1:] for l in out if l.startswith("BEAT")]
    got_tx = [l.split()[1:] for l in out if l.startswith("TXBYTE")]
    assert "DONE" in out
    assert got_beats == beats
    # output vector least significant byte first, each with a valid stop bit
    assert got_tx == [[b, "stop=1"] for b in tx]
