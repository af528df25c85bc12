`timescale 1ns/1ps
`default_nettype none
// requant: per-channel requantization of an exact signed accumulator (combinational).
//   y = clamp(round_half_even(acc * m / 2**s), LO, HI)
//   LO, HI = 0, 2**OUT_W - 1            (OUT_SIGNED = 0: unsigned output, ReLU fused)
//          = -2**(OUT_W-1), 2**(OUT_W-1) - 1   (OUT_SIGNED = 1)
// m is an unsigned multiplier (>= 1), s an unsigned right shift; s must be < ACC_W + M_W + 1.
// It is requant_pipe with PIPELINED = 0 (the engines use the pipelined form). Callers register the output.
module requant #(
    parameter integer ACC_W = 16,               // accumulator width (bits, signed)
    parameter integer M_W = 8,                  // multiplier width (bits, unsigned)
    parameter integer S_W = 5,                  // shift width (bits, unsigned)
    parameter integer OUT_W = 8,                // output width (bits)
    parameter integer OUT_SIGNED = 0            // 0: unsigned output (ReLU fused), 1: signed
) (
    input  wire signed [ACC_W-1:0] acc,
    input  wire        [M_W-1:0]   m,
    input  wire        [S_W-1:0]   s,
    output wire        [OUT_W-1:0] y
);
    generate
        if (ACC_W < 1 || M_W < 1 || S_W < 1 || OUT_W < 1 || OUT_W > ACC_W + M_W) begin : g_check
            PARAMETER_ERROR_requant_widths_must_be_at_least_1_and_OUT_W_at_most_ACC_W_plus_M_W u_error ();
        end
    endgenerate

    requant_pipe #(.ACC_W(ACC_W), .M_W(M_W), .S_W(S_W), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .PIPELINED(0)) u_rq (
        .clk(1'b0), .en(1'b0), .acc(acc), .m(m), .s(s), .y(y)
    );
endmodule
`default_nettype wire
