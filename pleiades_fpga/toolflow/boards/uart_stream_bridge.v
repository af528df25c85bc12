`timescale 1ns/1ps
`default_nettype none
// pleiades_uart_bridge: UART (8N1) <-> AXI-Stream bridge for the board wrappers.
//
// Byte protocol (host side, documented in docs/BOARDS.md):
//   host -> FPGA: every input pixel is IN_BYTES = ceil(IN_W/8) bytes, least significant byte first;
//     the pixel word is the AXI-Stream beat (channel c at bits [c*BITS +: BITS], unused top bits ignored);
//     pixels in raster order, FRAME_PIXELS = H*W pixels per frame, tlast on the last pixel of a frame.
//   FPGA -> host: every output beat of the network (one logits vector per frame) is OUT_BYTES =
//     ceil(OUT_W/8) bytes, least significant byte first.
//   Resync: a pause of more than IDLE_CYCLES clock cycles between two received bytes (about 1 ms at
//     the defaults) resets the byte and pixel counters, so the next byte starts a new frame.
//   The reset input (button) clears the bridge and the network.
module pleiades_uart_bridge #(
    parameter integer CLK_HZ = 25000000,
    parameter integer BAUD = 115200,
    parameter integer IN_W = 16,
    parameter integer OUT_W = 80,
    parameter integer FRAME_PIXELS = 64,
    parameter integer IDLE_CYCLES = CLK_HZ / 1000,
    // derived: do not override
    parameter integer IN_BYTES = (IN_W + 7) / 8,
    parameter integer OUT_BYTES = (OUT_W + 7) / 8
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             uart_rx,
    output wire             uart_tx,
    // to the network input
    output reg  [IN_W-1:0]  m_axis_tdata,
    output reg              m_axis_tvalid,
    input  wire             m_axis_tready,
    output reg              m_axis_tlast,
    // from the network output
    input  wire [OUT_W-1:0] s_axis_tdata,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    input  wire             s_axis_tlast,
    output reg              frame_in_toggle,
    output reg              frame_out_toggle
);
    localparam integer DIV = (CLK_HZ + BAUD / 2) / BAUD;
    localparam integer DB = $clog2(DIV + 1);
    localparam integer IB = $clog2(IN_BYTES + 1);
    localparam integer OB = $clog2(OUT_BYTES + 1);
    localparam integer PB = $clog2(FRAME_PIXELS + 1);
    localparam integer TB = $clog2(IDLE_CYCLES + 2);

    // ---------------- receiver: 2-FF synchronizer, start-bit detect, sample mid-bit ----------------
    reg [1:0] rx_sync;
    reg [DB-1:0] rx_cnt;
    reg [3:0] rx_bit;
    reg [7:0] rx_shift;
    reg rx_busy;
    reg rx_done;
    always @(posedge clk) begin
        rx_sync <= {rx_sync[0], uart_rx};
        rx_done <= 1'b0;
        if (rst) begin
            rx_sync <= 2'b11;
            rx_busy <= 1'b0;
            rx_cnt <= 0;
            rx_bit <= 0;
        end else if (!rx_busy) begin
            if (!rx_sync[1]) begin
                rx_busy <= 1'b1;
                rx_cnt <= DIV / 2;
                rx_bit <= 0;
            end
        end else if (rx_cnt != 0) begin
            rx_cnt <= rx_cnt - 1'b1;
        end else begin
            rx_cnt <= DIV - 1;
            if (rx_bit == 0) begin
                if (rx_sync[1]) rx_busy <= 1'b0;        // false start bit
                rx_bit <= 1;
            end else if (rx_bit <= 8) begin
                rx_shift <= {rx_sync[1], rx_shift[7:1]};
                rx_bit <= rx_bit + 1'b1;
            end else begin
                rx_busy <= 1'b0;                        // stop bit
                rx_done <= rx_sync[1];
            end
        end
    end

    // ---------------- bytes -> pixel beats ----------------
    reg [IB-1:0] in_byte;
    reg [PB-1:0] in_pixel;
    reg [TB-1:0] idle;
    reg [8*IN_BYTES-1:0] in_word;
    wire [8*IN_BYTES-1:0] full_word;     // in_word with the byte just received on top
    generate
        if (IN_BYTES == 1) begin : g_one_byte
            assign full_word = rx_shift;
        end else begin : g_bytes
            assign full_word = {rx_shift, in_word[8*IN_BYTES-1:8]};
        end
    endgenerate
    // data registers: no reset (m_axis_tvalid qualifies them), so the reset net is not in their clock enables
    always @(posedge clk) begin
        if (rx_done) begin
            in_word <= full_word;
            if (in_byte == IN_BYTES - 1) begin
                m_axis_tdata <= full_word[IN_W-1:0];   // first byte = least significant
                m_axis_tlast <= (in_pixel == FRAME_PIXELS - 1);
            end
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            in_byte <= 0;
            in_pixel <= 0;
            idle <= 0;
            m_axis_tvalid <= 1'b0;
            frame_in_toggle <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (!rx_done && idle <= IDLE_CYCLES) idle <= idle + 1'b1;
            if (!rx_done && idle == IDLE_CYCLES) begin
                in_byte <= 0;                           // resync after a pause
                in_pixel <= 0;
            end
            if (rx_done) begin
                idle <= 0;
                if (in_byte == IN_BYTES - 1) begin
                    in_byte <= 0;
                    m_axis_tvalid <= 1'b1;              // a beat lost here means the host sent too fast
                    if (in_pixel == FRAME_PIXELS - 1) begin
                        in_pixel <= 0;
                        frame_in_toggle <= ~frame_in_toggle;
                    end else begin
                        in_pixel <= in_pixel + 1'b1;
                    end
                end else begin
                    in_byte <= in_byte + 1'b1;
                end
            end
        end
    end

    // ---------------- output beats -> bytes -> transmitter ----------------
    reg [8*OUT_BYTES-1:0] out_word;
    reg [OB-1:0] out_left;
    reg [DB-1:0] tx_cnt;
    reg [3:0] tx_bit;
    reg [9:0] tx_shift;
    reg tx_busy;
    assign s_axis_tready = (out_left == 0) && !rst;
    assign uart_tx = tx_busy ? tx_shift[0] : 1'b1;
    always @(posedge clk) begin
        if (rst) begin
            out_left <= 0;
            tx_busy <= 1'b0;
            tx_cnt <= 0;
            tx_bit <= 0;
            frame_out_toggle <= 1'b0;
        end else begin
            if (s_axis_tvalid && s_axis_tready) begin
                out_word <= s_axis_tdata;                    // zero-extended to whole bytes
                out_left <= OUT_BYTES;
                if (s_axis_tlast) frame_out_toggle <= ~frame_out_toggle;
            end else if (!tx_busy && out_left != 0) begin
                tx_shift <= {1'b1, out_word[7:0], 1'b0};   // stop, data LSB first, start
                out_word <= out_word >> 8;
                out_left <= out_left - 1'b1;
                tx_busy <= 1'b1;
                tx_cnt <= DIV - 1;
                tx_bit <= 0;
            end
            if (tx_busy) begin
                if (tx_cnt != 0) begin
                    tx_cnt <= tx_cnt - 1'b1;
                end else begin
                    tx_cnt <= DIV - 1;
                    tx_shift <= {1'b1, tx_shift[9:1]};
                    if (tx_bit == 9) tx_busy <= 1'b0;
                    else tx_bit <= tx_bit + 1'b1;
                end
            end
        end
    end
endmodule
`default_nettype wire
