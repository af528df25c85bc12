`timescale 1ns/1ps
`default_nettype none
// requant_pipe: per-channel requantization of an exact signed accumulator, combinational or pipelined
// (block library; the one implementation: requant.v is this module with PIPELINED = 0).
//   y = clamp(round_half_even(acc * m / 2**s), LO, HI)
//   LO, HI = 0, 2**OUT_W - 1            (OUT_SIGNED = 0: unsigned output, ReLU fused)
//          = -2**(OUT_W-1), 2**(OUT_W-1) - 1   (OUT_SIGNED = 1)
// m is an unsigned multiplier (>= 1), s an unsigned right shift; s must be < ACC_W + M_W + 1.
// Rounding: t = p + 2**(s-1) (p = acc * m), r = floor(t / 2**s) rounds half up; an exact tie (s >= 1 and the s low
// bits of t all zero) that rounded up to an odd r goes back to the even r - 1, which is r with bit 0 cleared
// (r is odd, so r - 1 differs from r in bit 0 only). Clearing bit 0 never changes the clamp's decision: the
// output's bounds LO and HI + 1 are even (OUT_SIGNED = 1 needs OUT_W >= 2), so r and r - 1 fall on the same side
// of both.
// PIPELINED = 1: four register stages (STAGES = 4), each advancing while `en` is high, each one carry chain or a
// few LUT levels deep (a layer's requant lanes sit next to its output queue in a large design, so no stage may need
// a long route and much logic both):
//   1 product p = acc * m, beside it 2**(s-1) and the mask 2**s - 1 decoded from s
//   2 t = p + 2**(s-1) (one adder, straight from registers)
//   3 r = t >>> s (the barrel shifter), beside it the tie flag (the masked low bits of t all zero, s >= 1)
//   4 y = clamp(r with bit 0 cleared on a tie), registered here
// so y belongs to the acc/m/s sampled four enabled edges earlier. Callers delay their flags by the same four
// stages (the RQ_STAGES localparam of each template; pleiades_fpga.hw.rtl.cycles.REQUANT_STAGES).
module requant_pipe #(
    parameter integer ACC_W = 16,               // accumulator width (bits, signed)
    parameter integer M_W = 8,                  // multiplier width (bits, unsigned)
    parameter integer S_W = 5,                  // shift width (bits, unsigned)
    parameter integer OUT_W = 8,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output (ReLU fused), 1: signed
    parameter integer PIPELINED = 1             // 1: four register stages (see above), 0: combinational
) (
    input  wire                    clk,
    input  wire                    en,          // the pipeline registers advance (PIPELINED = 1)
    input  wire signed [ACC_W-1:0] acc,
    input  wire        [M_W-1:0]   m,
    input  wire        [S_W-1:0]   s,
    output wire        [OUT_W-1:0] y
);
    generate
        if (ACC_W < 1 || M_W < 1 || S_W < 1 || OUT_W < 1 || OUT_W > ACC_W + M_W) begin : g_check
            PARAMETER_ERROR_requant_pipe_widths_must_be_at_least_1_and_OUT_W_at_most_ACC_W_plus_M_W u_error ();
        end
        if (OUT_SIGNED != 0 && OUT_W < 2) begin : g_check_signed
            PARAMETER_ERROR_requant_pipe_a_signed_output_needs_OUT_W_at_least_2 u_error ();
        end
        if (PIPELINED != 0 && PIPELINED != 1) begin : g_check_pipelined
            PARAMETER_ERROR_requant_pipe_PIPELINED_must_be_0_or_1 u_error ();
        end
    endgenerate

    localparam integer PW = ACC_W + M_W + 1;  // exact product width (m extended to signed)
    localparam integer TW = PW + 1;           // product + rounding constant (< 2**(PW-2)): cannot overflow
    localparam [TW-1:0] ONE = {{(TW-1){1'b0}}, 1'b1};
    localparam integer PAD = (TW > OUT_W) ? TW - OUT_W : 1;  // = TW - OUT_W for a legal parameter set
    localparam [TW-1:0] HI_U = {{PAD{1'b0}}, {OUT_W{1'b1}}};
    localparam [TW-1:0] HI_S = {{(PAD+1){1'b0}}, {(OUT_W-1){1'b1}}};
    localparam [TW-1:0] LO_S = {{(PAD+1){1'b1}}, {(OUT_W-1){1'b0}}};
    localparam signed [TW-1:0] HI = (OUT_SIGNED != 0) ? HI_S : HI_U;
    localparam signed [TW-1:0] LO = (OUT_SIGNED != 0) ? LO_S : {TW{1'b0}};

    // ---------------------------------------------------------------- product
    wire signed [PW-1:0] acc_x = {{(PW-ACC_W){acc[ACC_W-1]}}, acc};
    wire signed [PW-1:0] m_x   = {{(PW-M_W){1'b0}}, m};
    wire signed [PW-1:0] prod;
    generate
        if (M_W == 1) begin : g_no_mult         // m is 0 or 1 (power-of-two scales): no multiplier
            assign prod = m[0] ? acc_x : {PW{1'b0}};
            wire unused_m = &{1'b0, m_x};
        end else begin : g_mult
            assign prod = acc_x * m_x;
        end
    endgenerate

    // ---------------------------------------------------------------- stage registers (or wires)
    wire signed [PW-1:0] p_q;                   // product, stage 1
    wire        [TW-1:0] half_d, half_q;        // 2**(s-1) (0 when s == 0), stage 1
    wire        [TW-1:0] low_d, low_q, low2_q;  // 2**s - 1: the bits below the lowest kept bit; stages 1, 2
    wire        [S_W-1:0] s_q1, s_q2;           // shift at stages 1, 2
    wire signed [TW-1:0] t_d, t_q;              // rounded-up sum, stage 2
    wire signed [TW-1:0] r_d, r_q;              // shifted value, stage 3
    wire                 tie_d, tie_q;          // exact tie (round half to even), stage 3
    wire        [OUT_W-1:0] y_d;                // clamped value (stage 4: y)
    generate
        if (PIPELINED != 0) begin : g_pipe
            reg signed [PW-1:0] p_reg;
            reg signed [TW-1:0] t_reg, r_reg;
            reg        [TW-1:0] half_reg, low_reg, low2_reg;
            reg        [S_W-1:0] s1_reg, s2_reg;
            reg                  tie_reg;
            reg        [OUT_W-1:0] y_reg;
            always @(posedge clk) begin
                if (en) begin
                    p_reg <= prod;
                    half_reg <= half_d;
                    low_reg <= low_d;
                    s1_reg <= s;
                    t_reg <= t_d;
                    low2_reg <= low_q;
                    s2_reg <= s_q1;
                    r_reg <= r_d;
                    tie_reg <= tie_d;
                    y_reg <= y_d;
                end
            end
            assign p_q = p_reg;
            assign half_q = half_reg;
            assign low_q = low_reg;
            assign s_q1 = s1_reg;
            assign t_q = t_reg;
            assign low2_q = low2_reg;
            assign s_q2 = s2_reg;
            assign r_q = r_reg;
            assign tie_q = tie_reg;
            assign y = y_reg;
        end else begin : g_comb
            assign p_q = prod;
            assign half_q = half_d;
            assign low_q = low_d;
            assign s_q1 = s;
            assign t_q = t_d;
            assign low2_q = low_q;
            assign s_q2 = s_q1;
            assign r_q = r_d;
            assign tie_q = tie_d;
            assign y = y_d;
            wire unused_clk = &{1'b0, clk, en};
        end
    endgenerate

    // ---------------------------------------------------------------- rounding, shift, tie, clamp
    wire        [TW-1:0] bit_d = ONE << s;                          // 2**s
    assign half_d = bit_d >> 1;                                     // 2**(s-1), 0 when s == 0
    assign low_d = bit_d - ONE;                                     // 2**s - 1
    assign t_d = {p_q[PW-1], p_q} + $signed(half_q);
    assign r_d = t_q >>> s_q2;                                      // floor: rounds half up
    assign tie_d = (s_q2 != {S_W{1'b0}}) && ((t_q & low2_q) == {TW{1'b0}});
    wire signed [TW-1:0] r_e = {r_q[TW-1:1], r_q[0] & !tie_q};     // half to even: a tie's odd r -> r - 1
    wire signed [TW-1:0] c = (r_q > HI) ? HI : ((r_q < LO) ? LO : r_e);
    assign y_d = c[OUT_W-1:0];

    // Only the low OUT_W bits of the clamped value are used.
    wire unused_ok = &{1'b0, c[TW-1:OUT_W]};
endmodule
`default_nettype wire
