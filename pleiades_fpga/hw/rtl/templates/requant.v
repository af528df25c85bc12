`timescale 1ns/1ps
`default_nettype none
// requant: per-channel requantization of an exact signed accumulator (combinational).
//   y = clamp(round_half_even(acc * m / 2**s), LO, HI)
//   LO, HI = 0, 2**OUT_W - 1            (OUT_SIGNED = 0: unsigned output, ReLU fused)
//          = -2**(OUT_W-1), 2**(OUT_W-1) - 1   (OUT_SIGNED = 1)
// m is an unsigned multiplier (>= 1), s an unsigned right shift; s must be < ACC_W + M_W + 1.
// Callers register the output (one instance per PE lane).
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

    localparam integer PW = ACC_W + M_W + 1;  // exact product width (m extended to signed)
    localparam [PW-1:0] ONE = {{(PW-1){1'b0}}, 1'b1};
    localparam integer PAD = (PW > OUT_W) ? PW - OUT_W : 1;  // = PW - OUT_W for a legal parameter set
    localparam [PW-1:0] HI_U = {{PAD{1'b0}}, {OUT_W{1'b1}}};
    localparam [PW-1:0] HI_S = {{(PAD+1){1'b0}}, {(OUT_W-1){1'b1}}};
    localparam [PW-1:0] LO_S = {{(PAD+1){1'b1}}, {(OUT_W-1){1'b0}}};
    localparam signed [PW-1:0] HI = (OUT_SIGNED != 0) ? HI_S : HI_U;
    localparam signed [PW-1:0] LO = (OUT_SIGNED != 0) ? LO_S : {PW{1'b0}};

    wire signed [PW-1:0] acc_x = {{(PW-ACC_W){acc[ACC_W-1]}}, acc};
    wire signed [PW-1:0] m_x   = {{(PW-M_W){1'b0}}, m};
    // M_W == 1 means m is 0 or 1 (power-of-two scales): no multiplier is needed
    wire signed [PW-1:0] prod;
    generate
        if (M_W == 1) begin : g_no_mult
            assign prod = m[0] ? acc_x : {PW{1'b0}};
            wire unused_m = &{1'b0, m_x};
        end else begin : g_mult
            assign prod = acc_x * m_x;
        end
    endgenerate
    wire signed [PW-1:0] q     = prod >>> s;                 // floor(prod / 2**s)
    wire        [PW-1:0] low_mask = ~({PW{1'b1}} << s);      // bits below the shift
    wire        [PW-1:0] rem   = prod & low_mask;
    wire        [PW-1:0] half  = (ONE << s) >> 1;            // 2**(s-1), 0 when s == 0
    wire round_up = (s != {S_W{1'b0}}) && ((rem > half) || ((rem == half) && q[0]));
    wire signed [PW-1:0] r     = q + (round_up ? ONE : {PW{1'b0}});
    wire signed [PW-1:0] c     = (r > HI) ? HI : ((r < LO) ? LO : r);
    assign y = c[OUT_W-1:0];

    // Only the low OUT_W bits of the clamped value are used.
    wire unused_ok = &{1'b0, c[PW-1:OUT_W]};
endmodule
`default_nettype wire
