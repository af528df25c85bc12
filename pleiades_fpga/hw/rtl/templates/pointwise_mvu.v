`timescale 1ns/1ps
`default_nettype none
// pointwise_mvu: pointwise (1x1) convolution / fully connected layer as a folded matrix-vector unit.
//   y[o] = requant(bias[o] + sum_i w[o, i] * x[i])  per input pixel (one beat in, one beat out)
// PE output channels x SIMD input channels per cycle: ceil(C_OUT/PE) * ceil(C_IN/SIMD) cycles per
// pixel, pixels accepted back to back. Unsigned (IN_SIGNED = 0) or signed input; unsigned (ReLU
// fused) or signed output. It is temporal_conv_buffer with K = 1 (no history buffer), so the ROM
// layouts are the same: weight ROM word o*NI + i, lane j*SIMD + s = w[o*PE + j, i*SIMD + s];
// parameter ROM word o, lane j = {s, m, bias} of channel o*PE + j.
module pointwise_mvu #(
    parameter integer C_IN = 8,                 // input channels
    parameter integer C_OUT = 8,                // output channels
    parameter integer PE = 2,                   // output channels per step
    parameter integer SIMD = 2,                 // input channels per step
    parameter integer GROUP_IN = 0,             // > 0: grouped, output o reads inputs o*GROUP_IN.. (temporal_conv_buffer)
    parameter integer IN_W = 4,                 // input activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: input is two's complement
    parameter integer W_W = 4,                  // weight width (bits, signed)
    parameter integer ACC_W = 16,               // accumulator width that cannot overflow (bits, signed)
    parameter integer BIAS_W = 8,               // bias width (bits, signed)
    parameter integer M_W = 8,                  // requant multiplier width (bits, unsigned)
    parameter integer S_W = 5,                  // requant shift width (bits, unsigned)
    parameter integer OUT_W = 4,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output (ReLU fused), 1: signed
    parameter integer MAC_MODE = 0,             // mac_lane multipliers: 0 one product each (DSP), 1 two packed products each, 2 LUT shift-add
    parameter integer MUL_CELL = 0,             // mac_lane multipliers: 0 inferred, 1 ECP5 MULT18X18D cells with their registers
    // (parameter checks: temporal_conv_buffer)
    // derived (do not override)
    parameter integer NO = (C_OUT + PE - 1) / PE,
    parameter integer NI = (GROUP_IN > 0) ? (GROUP_IN + SIMD - 1) / SIMD : (C_IN + SIMD - 1) / SIMD,
    parameter integer STEPS = NO * NI,
    parameter integer WROM_AW = (STEPS > 1) ? $clog2(STEPS) : 1,
    parameter integer PROM_AW = (NO > 1) ? $clog2(NO) : 1,
    parameter integer FW = BIAS_W + M_W + S_W
) (
    input  wire                      clk,
    input  wire                      rst,
    input  wire [C_IN*IN_W-1:0]      s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    input  wire                      s_axis_tlast,
    output wire [C_OUT*OUT_W-1:0]    m_axis_tdata,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    output wire                      m_axis_tlast,
    output wire                      wrom_en,
    output wire [WROM_AW-1:0]        wrom_addr,
    input  wire [PE*SIMD*W_W-1:0]    wrom_data,
    output wire                      prom_en,
    output wire [PROM_AW-1:0]        prom_addr,
    input  wire [PE*FW-1:0]          prom_data
);
    temporal_conv_buffer #(
        .C_IN(C_IN), .C_OUT(C_OUT), .K(1), .PIXELS(1), .DEPTHWISE(0), .GROUP_IN(GROUP_IN), .PE(PE), .SIMD(SIMD),
        .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .W_W(W_W), .ACC_W(ACC_W), .BIAS_W(BIAS_W), .M_W(M_W),
        .S_W(S_W), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .MAC_MODE(MAC_MODE),
        .MUL_CELL(MUL_CELL)
    ) u_mac (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast),
        .wrom_en(wrom_en), .wrom_addr(wrom_addr), .wrom_data(wrom_data),
        .prom_en(prom_en), .prom_addr(prom_addr), .prom_data(prom_data)
    );
endmodule
`default_nettype wire
