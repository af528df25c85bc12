`timescale 1ns/1ps
`default_nettype none
// axis_add: join two AXI-Streams of the same shape beat by beat and add them channel-wise.
//   y[c] = clamp((a[c] << SHIFT_A) + (b[c] << SHIFT_B), lo, hi)
// The shifts align the two integer scales (scale_a / 2**SHIFT_A == scale_b / 2**SHIFT_B == scale_y);
// the sum is exact (internal width large enough, no saturation before the clamp); no rounding.
// lo, hi = 0, 2**OUT_W - 1 when OUT_SIGNED == 0 (ReLU fused), else -2**(OUT_W-1), 2**(OUT_W-1) - 1.
// Inputs: C channels of A_W / B_W (signed if A_SIGNED / B_SIGNED), channel c at [c*BITS +: BITS].
// A beat is consumed from both inputs at once (when both are valid); the result is registered.
// Output tlast = tlast_a | tlast_b (equal for aligned streams).
module axis_add #(
    parameter integer C = 4,                    // channels (in = out)
    parameter integer A_W = 8,                  // input a width (bits)
    parameter integer A_SIGNED = 0,             // 1: input a is two's complement
    parameter integer SHIFT_A = 0,              // left shift of input a (scale alignment)
    parameter integer B_W = 8,                  // input b width (bits)
    parameter integer B_SIGNED = 0,             // 1: input b is two's complement
    parameter integer SHIFT_B = 0,              // left shift of input b (scale alignment)
    parameter integer OUT_W = 8,                // output width (bits)
    parameter integer OUT_SIGNED = 0            // 0: unsigned output (ReLU fused), 1: signed
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [C*A_W-1:0]   s_a_axis_tdata,
    input  wire                  s_a_axis_tvalid,
    output wire                  s_a_axis_tready,
    input  wire                  s_a_axis_tlast,
    input  wire [C*B_W-1:0]   s_b_axis_tdata,
    input  wire                  s_b_axis_tvalid,
    output wire                  s_b_axis_tready,
    input  wire                  s_b_axis_tlast,
    output wire [C*OUT_W-1:0] m_axis_tdata,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready,
    output wire                  m_axis_tlast
);
    generate
        if (C < 1 || A_W < 1 || B_W < 1 || OUT_W < 1 || SHIFT_A < 0 || SHIFT_B < 0) begin : g_check
            PARAMETER_ERROR_axis_add_C_A_W_B_W_OUT_W_must_be_at_least_1_and_shifts_at_least_0 u_error ();
        end
    endgenerate

    localparam integer WA = A_W + 1 + SHIFT_A;
    localparam integer WB = B_W + 1 + SHIFT_B;
    localparam integer WAB = ((WA > WB) ? WA : WB) + 1;
    localparam integer SW = (WAB > OUT_W + 2) ? WAB : OUT_W + 2;   // exact sum width (signed)
    localparam integer ZU = SW - OUT_W;
    localparam integer ZS = SW - OUT_W + 1;
    localparam signed [SW-1:0] HI = (OUT_SIGNED != 0) ? {{ZS{1'b0}}, {(OUT_W-1){1'b1}}}
                                                      : {{ZU{1'b0}}, {OUT_W{1'b1}}};
    localparam signed [SW-1:0] LO = (OUT_SIGNED != 0) ? {{ZS{1'b1}}, {(OUT_W-1){1'b0}}} : {SW{1'b0}};

    reg [C*OUT_W-1:0] out_data;
    reg out_valid, out_last;
    wire out_free = !out_valid || m_axis_tready;
    wire both = s_a_axis_tvalid && s_b_axis_tvalid;
    wire take = !rst && out_free && both;
    assign s_a_axis_tready = take;
    assign s_b_axis_tready = take;

    wire [C*OUT_W-1:0] y;
    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            wire [A_W-1:0] av = s_a_axis_tdata[c*A_W +: A_W];
            wire [B_W-1:0] bv = s_b_axis_tdata[c*B_W +: B_W];
            wire as = (A_SIGNED != 0) ? av[A_W-1] : 1'b0;
            wire bs = (B_SIGNED != 0) ? bv[B_W-1] : 1'b0;
            wire signed [SW-1:0] ae = $signed({{(SW-A_W){as}}, av}) <<< SHIFT_A;
            wire signed [SW-1:0] be = $signed({{(SW-B_W){bs}}, bv}) <<< SHIFT_B;
            wire signed [SW-1:0] s = ae + be;
            assign y[c*OUT_W +: OUT_W] = (s > HI) ? HI[OUT_W-1:0]
                                             : ((s < LO) ? LO[OUT_W-1:0] : s[OUT_W-1:0]);
        end
    endgenerate

    always @(posedge clk) begin
        if (take) begin
            out_data <= y;
            out_last <= s_a_axis_tlast | s_b_axis_tlast;
        end
        if (rst) out_valid <= 1'b0;
        else if (take) out_valid <= 1'b1;
        else if (m_axis_tready) out_valid <= 1'b0;
    end

    assign m_axis_tdata = out_data;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast = out_last;
endmodule
`default_nettype wire
