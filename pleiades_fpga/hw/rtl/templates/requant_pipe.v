`timescale 1ns/1ps
`default_nettype none
// requant_pipe: per-channel requantization of an exact signed accumulator, combinational or pipelined
// (block library; the one implementation: requant.v is this module with PIPELINED = 0).
//   y = clamp(round_half_even(acc * m / 2**s), LO, HI)
//   LO, HI = 0, 2**OUT_W - 1            (OUT_SIGNED = 0: unsigned output, ReLU fused)
//          = -2**(OUT_W-1), 2**(OUT_W-1) - 1   (OUT_SIGNED = 1)
// m is an unsigned multiplier (>= 1), s an unsigned right shift; s must be < ACC_W + M_W + 1.
// Rounding is one addition before the shift: floor((p + 2**(s-1) - 1 + p[s]) / 2**s) equals
// round_half_even(p / 2**s) for s >= 1 (p[s] is the lowest bit kept: ties go up only when it is odd).
// PIPELINED = 1: five register stages (STAGES = 5), each advancing while `en` is high, each one carry chain or a
// few LUT levels deep (a layer's requant lanes sit next to its output queue in a large design, so no stage may need
// a long route and much logic both):
//   1 product (acc * m; the masks 2**s and 2**(s-1) - 1 of s decoded beside it)
//   2 rounding constant (the kept bit p[s] selects 2**(s-1) or 2**(s-1) - 1; the product registered again)
//   3 rounding sum (one adder)   4 shifted value (the barrel shifter)   5 clamped output y (registered here)
// so y belongs to the acc/m/s sampled five enabled edges earlier. Callers delay their flags by the same five
// stages (the RQ_STAGES localparam of each template; pleiades_fpga.hw.rtl.cycles.REQUANT_STAGES).
module requant_pipe #(
    parameter integer ACC_W = 16,               // accumulator width (bits, signed)
    parameter integer M_W = 8,                  // multiplier width (bits, unsigned)
    parameter integer S_W = 5,                  // shift width (bits, unsigned)
    parameter integer OUT_W = 8,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output (ReLU fused), 1: signed
    parameter integer PIPELINED = 1             // 1: five register stages (see above), 0: combinational
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
    wire signed [PW-1:0] p_q, p2_q;             // product, stages 1 and 2
    wire        [S_W-1:0] s_q2, s_q3;            // shift at stages 2, 3
    wire        [TW-1:0] bit_d, bit_q;          // 2**s (the lowest bit kept), decoded from s; stage 1
    wire        [TW-1:0] hm1_d, hm1_q;          // 2**(s-1) - 1 (0 when s == 0); stage 1
    wire        [TW-1:0] rnd_d, rnd_q;          // rounding constant, stage 2
    wire signed [TW-1:0] t_d, t_q;              // rounding sum, stage 3
    wire signed [TW-1:0] r_d, r_q;              // shifted value, stage 4
    wire        [OUT_W-1:0] y_d;                // clamped value (stage 5: y)
    generate
        if (PIPELINED != 0) begin : g_pipe
            reg signed [PW-1:0] p_reg, p2_reg;
            reg signed [TW-1:0] t_reg, r_reg;
            reg        [S_W-1:0] s1_reg, s2_reg, s3_reg;
            reg        [TW-1:0] bit_reg, hm1_reg, rnd_reg;
            reg        [OUT_W-1:0] y_reg;
            always @(posedge clk) begin
                if (en) begin
                    p_reg <= prod;
                    s1_reg <= s;
                    bit_reg <= bit_d;
                    hm1_reg <= hm1_d;
                    p2_reg <= p_reg;
                    rnd_reg <= rnd_d;
                    s2_reg <= s1_reg;
                    t_reg <= t_d;
                    s3_reg <= s_q2;
                    r_reg <= r_d;
                    y_reg <= y_d;
                end
            end
            assign p_q = p_reg;
            assign bit_q = bit_reg;
            assign hm1_q = hm1_reg;
            assign p2_q = p2_reg;
            assign rnd_q = rnd_reg;
            assign s_q2 = s2_reg;
            assign t_q = t_reg;
            assign s_q3 = s3_reg;
            assign r_q = r_reg;
            assign y = y_reg;
        end else begin : g_comb
            assign p_q = prod;
            assign bit_q = bit_d;
            assign hm1_q = hm1_d;
            assign p2_q = p_q;
            assign rnd_q = rnd_d;
            assign s_q2 = s;
            assign t_q = t_d;
            assign s_q3 = s_q2;
            assign r_q = r_d;
            assign y = y_d;
            wire unused_clk = &{1'b0, clk, en};
        end
    endgenerate

    // ---------------------------------------------------------------- rounding constant, sum, shift, clamp
    assign bit_d = ONE << s;                                        // 2**s
    wire        [TW-1:0] half_d = bit_d >> 1;                       // 2**(s-1), 0 when s == 0
    assign hm1_d = (s == {S_W{1'b0}}) ? {TW{1'b0}} : half_d - ONE;
    wire signed [TW-1:0] p_x = {p_q[PW-1], p_q};
    wire                 p_s = |(p_x & bit_q);                      // lowest bit kept by the shift
    wire        [TW-1:0] half_q = bit_q >> 1;                       // 2**(s-1) (0 when s == 0: hm1 is 0 too)
    assign rnd_d = p_s ? half_q : hm1_q;
    assign t_d = {p2_q[PW-1], p2_q} + $signed(rnd_q);
    assign r_d = t_q >>> s_q3;                                      // floor: round half to even
    wire signed [TW-1:0] c = (r_q > HI) ? HI : ((r_q < LO) ? LO : r_q);
    assign y_d = c[OUT_W-1:0];

    // Only the low OUT_W bits of the clamped value are used.
    wire unused_ok = &{1'b0, c[TW-1:OUT_W]};
endmodule
`default_nettype wire
