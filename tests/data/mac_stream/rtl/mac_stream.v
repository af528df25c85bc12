`timescale 1ns/1ps
`default_nettype none
// Test design for the report/synthesis tools (not part of the generated network):
// mac_tconv: 2-tap temporal convolution per pixel with a block-RAM circular buffer holding the previous
//   frame (depth H*W, width C*IN_BITS), C -> K channels, 2*C*K constant-weight 8-bit multipliers,
//   ReLU, >> SHIFT, clamp to OUT_BITS. One pixel per cycle.
// mac_frame_sum: per-channel sum over a frame; one output vector per frame (tlast).
// mac_stream_top: mac_tconv -> mac_frame_sum with the network top's AXI-Stream port convention.
module mac_tconv #(
    parameter integer C = 2, parameter integer K = 4, parameter integer H = 16, parameter integer W = 16,
    parameter integer IN_BITS = 8, parameter integer OUT_BITS = 8, parameter integer SHIFT = 6
) (
    input  wire clk, input wire rst,
    input  wire [C*IN_BITS-1:0] s_tdata, input wire s_tvalid, input wire s_tlast,
    output reg  [K*OUT_BITS-1:0] m_tdata, output reg m_tvalid, output reg m_tlast
);
    localparam integer N = H * W;
    localparam integer AW = (N > 1) ? $clog2(N) : 1;
    localparam integer PB = IN_BITS + 9;
    localparam integer SB = PB + $clog2(2 * C) + 1;
    function integer weight(input integer k, input integer c, input integer t);
        integer mag;
        begin
            mag = 3 + 2 * ((k * 5 + c * 3 + t * 7) % 6);
            weight = ((k + c + t) % 2) ? -mag : mag;
        end
    endfunction
    reg [C*IN_BITS-1:0] cbuf [0:N-1];
    reg [AW-1:0] pix;
    reg [C*IN_BITS-1:0] x1, prev1;
    reg v1, last1, v2, last2;
    reg signed [PB-1:0] prod [0:2*C*K-1];
    integer k, c, t;
    reg signed [SB-1:0] s;
    reg signed [SB-1:0] y;
    always @(posedge clk) begin
        v1 <= s_tvalid;
        if (s_tvalid) begin
            x1 <= s_tdata;
            prev1 <= cbuf[pix];
            cbuf[pix] <= s_tdata;
            last1 <= s_tlast || pix == N - 1;
            pix <= (s_tlast || pix == N - 1) ? 0 : pix + 1'b1;
        end
        v2 <= v1;
        last2 <= last1;
        for (k = 0; k < K; k = k + 1)
            for (c = 0; c < C; c = c + 1) begin
                prod[(k * C + c) * 2 + 0] <= weight(k, c, 0) * $signed({1'b0, prev1[c*IN_BITS +: IN_BITS]});
                prod[(k * C + c) * 2 + 1] <= weight(k, c, 1) * $signed({1'b0, x1[c*IN_BITS +: IN_BITS]});
            end
        m_tvalid <= v2;
        m_tlast <= last2;
        for (k = 0; k < K; k = k + 1) begin
            s = 0;
            for (t = 0; t < 2 * C; t = t + 1) s = s + prod[k * 2 * C + t];
            y = (s < 0) ? 0 : (s >>> SHIFT);
            m_tdata[k*OUT_BITS +: OUT_BITS] <= (y > (1 << OUT_BITS) - 1) ? {OUT_BITS{1'b1}} : y[OUT_BITS-1:0];
        end
        if (rst) begin
            pix <= 0;
            v1 <= 1'b0;
            v2 <= 1'b0;
            m_tvalid <= 1'b0;
        end
    end
endmodule

module mac_frame_sum #(
    parameter integer K = 4, parameter integer IN_BITS = 8, parameter integer OUT_BITS = 16
) (
    input  wire clk, input wire rst,
    input  wire [K*IN_BITS-1:0] s_tdata, input wire s_tvalid, input wire s_tlast,
    output reg  [K*OUT_BITS-1:0] m_tdata, output reg m_tvalid, input wire m_tready
);
    reg [K*OUT_BITS-1:0] acc;
    integer k;
    always @(posedge clk) begin
        if (m_tvalid && m_tready) m_tvalid <= 1'b0;
        if (s_tvalid) begin
            for (k = 0; k < K; k = k + 1) begin
                if (s_tlast) begin
                    m_tdata[k*OUT_BITS +: OUT_BITS] <= acc[k*OUT_BITS +: OUT_BITS] + s_tdata[k*IN_BITS +: IN_BITS];
                    acc[k*OUT_BITS +: OUT_BITS] <= 0;
                end else begin
                    acc[k*OUT_BITS +: OUT_BITS] <= acc[k*OUT_BITS +: OUT_BITS] + s_tdata[k*IN_BITS +: IN_BITS];
                end
            end
            if (s_tlast) m_tvalid <= 1'b1;
        end
        if (rst) begin
            acc <= 0;
            m_tvalid <= 1'b0;
        end
    end
endmodule

module mac_stream_top #(
    parameter integer C = 2, parameter integer K = 4, parameter integer H = 16, parameter integer W = 16,
    parameter integer IN_BITS = 8, parameter integer MID_BITS = 8, parameter integer OUT_BITS = 16
) (
    input  wire clk,
    input  wire rst,
    input  wire [C*IN_BITS-1:0] s_axis_tdata,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire s_axis_tlast,
    output wire [K*OUT_BITS-1:0] m_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire m_axis_tlast
);
    wire [K*MID_BITS-1:0] mid;
    wire mid_valid, mid_last;
    // input stalls while a frame result waits (result is taken long before the next frame ends)
    assign s_axis_tready = !(m_axis_tvalid && !m_axis_tready);
    assign m_axis_tlast = 1'b1;
    mac_tconv #(.C(C), .K(K), .H(H), .W(W), .IN_BITS(IN_BITS), .OUT_BITS(MID_BITS)) u_tconv (
        .clk(clk), .rst(rst), .s_tdata(s_axis_tdata), .s_tvalid(s_axis_tvalid && s_axis_tready),
        .s_tlast(s_axis_tlast), .m_tdata(mid), .m_tvalid(mid_valid), .m_tlast(mid_last));
    mac_frame_sum #(.K(K), .IN_BITS(MID_BITS), .OUT_BITS(OUT_BITS)) u_sum (
        .clk(clk), .rst(rst), .s_tdata(mid), .s_tvalid(mid_valid), .s_tlast(mid_last),
        .m_tdata(m_axis_tdata), .m_tvalid(m_axis_tvalid), .m_tready(m_axis_tready));
endmodule
`default_nettype wire
