`timescale 1ns/1ps
`default_nettype none
// mac_lane: one output lane of a MAC engine (block library; temporal_conv_buffer and conv3x3_stream):
// MS products x[s] * w[s] per step, summed by a pipelined adder tree and accumulated from the bias.
//   stage M : each multiplier's own operands, registered (a register drives one multiplier only, so the
//             placer can put it next to its DSP block, which may sit far from the engine's logic)
//   stage P : the NP multiplier outputs, registered (NP = MS, or ceil(MS/2) packed)
//   stage Q : the stage-P products registered again (the route back from a far DSP block gets its own cycle)
//   stage T1: groups of 4 multiplier outputs summed, registered
//   stage T2: groups of 4 stage-T1 sums summed, registered
//   acc     : acc <= (first ? bias : acc) + the ceil(NP/16) stage-T2 sums    (when acc_load)
// MAC_MODE (same ports, same latency, same results):
//   0 "dsp"   : p[s] = x[s] * w[s], one product per multiplier (a DSP block each).
//   1 "packed": two products per multiplier (an 18x18 DSP block): for the pair (x0, w0), (x1, w1)
//               A = x0 + x1 * 2**S, B = w1 + w0 * 2**S, A*B = x0*w1 + 2**S (x0*w0 + x1*w1) + 2**(2S) x1*w0;
//               the middle field x0*w0 + x1*w1 = A*B[2S-1:S] + A*B[S-1] (mod 2**S; the added bit undoes the
//               borrow of a negative low field x0*w1), S = PW = IN_W + 1 + W_W bits hold it and the low field
//               exactly; A (S + IN_W + 1 bits) and B (S + W_W + 1 bits) must fit 18 bits signed (e.g. both
//               <= 5 bits). An odd MS leaves the last product on its own multiplier.
//   2 "lut"   : p[s] = x[s] * w[s] as shift-add partial products of the weight bits (no DSP block; weights
//               <= 4 bits: at most 4 partial products, activations <= 8 bits).
// MUL_CELL (same ports, same latency, same results; only the multipliers' mapping differs):
//   0: the multipliers are inferred from `*` between fabric registers (stage M, stage P); any family.
//   1: ECP5: each multiplier (modes 0 and 1) is an instantiated MULT18X18D whose A/B input registers are stage M and
//      whose output register is stage P (clock enable CE0 = en; a packed pair's middle field is taken after it,
//      before stage Q). Yosys's synth_ecp5 leaves the inferred multiplier's internal registers off; the cell keeps
//      its registers, so no fabric register and route sits next to the multiplier. Only where both operands fit
//      the cell's 18 x 18 signed inputs (else, and for mode 2, the inferred path). Simulation needs the model
//      ../sim_models/MULT18X18D.v (absent under SYNTHESIS); the generator sets 1 for ECP5 parts.
// Every stage advances while `en` is high. The caller delays its step flags by the STAGES = 5 stages M, P, Q, T1,
// T2: `first` and `acc_load` (with `en`) belong to the step whose sums are in T2, as does `bias`. Pure data
// registers (every stage's) have no reset.
// Arithmetic is modulo 2**ACC_W (exact whenever the true sum fits in ACC_W signed bits).
module mac_lane #(
    parameter integer MS = 4,                   // products per step
    parameter integer IN_W = 8,                 // activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: activations are two's complement
    parameter integer W_W = 8,                  // weight width (bits, signed)
    parameter integer BIAS_W = 8,               // bias width (bits, signed)
    parameter integer ACC_W = 18,               // accumulator width (bits, signed; >= IN_W + 1 + W_W and BIAS_W)
    parameter integer MAC_MODE = 0,             // 0: one product per multiplier (DSP), 1: two packed, 2: LUT (see below)
    parameter integer MUL_CELL = 0,             // 0: inferred multipliers (`*`), 1: ECP5 MULT18X18D cells (see below)
    // derived (do not override)
    parameter integer NP = (MAC_MODE == 1) ? (MS + 1) / 2 : MS,  // multiplier outputs per step
    parameter integer N1 = (NP + 3) / 4,        // partial sums after stage T1
    parameter integer N2 = (N1 + 3) / 4         // partial sums after stage T2
) (
    input  wire                     clk,
    input  wire                     en,         // every stage advances
    input  wire [MS*IN_W-1:0]       x,          // activations of this step (registered by the caller)
    input  wire [MS*W_W-1:0]        w,          // weights of this step (registered by the caller)
    input  wire                     acc_load,   // the step in stage T2 is valid: accumulate it
    input  wire                     first,      // the step in stage T2 is the first of an output: start from bias
    input  wire signed [BIAS_W-1:0] bias,       // bias of the output in stage T2
    output wire signed [ACC_W-1:0]  acc         // accumulator (final one edge after the last step's acc_load)
);
    localparam integer PW = IN_W + 1 + W_W;     // exact product width (packed: also the field width S)
    localparam integer PA_W = 2*PW - W_W;       // packed operand A = x0 + x1 * 2**PW (bits, signed)
    localparam integer PB_W = 2*PW - IN_W;      // packed operand B = w1 + w0 * 2**PW (bits, signed)
    localparam integer MUL_MAX_W = 18;          // an ECP5 / 7-series multiplier's signed operand width
    localparam integer LUT_MAX_W = 4;           // widest weight of a LUT multiplier (its partial products)
    localparam integer LUT_MAX_IN_W = 8;        // widest activation of a LUT multiplier
    generate
        if (MS < 1 || IN_W < 1 || W_W < 1 || BIAS_W < 1) begin : g_check_sizes
            PARAMETER_ERROR_mac_lane_MS_IN_W_W_W_BIAS_W_must_be_at_least_1 u_error ();
        end
        if (MAC_MODE < 0 || MAC_MODE > 2) begin : g_check_mode
            PARAMETER_ERROR_mac_lane_MAC_MODE_must_be_0_1_or_2 u_error ();
        end
        if (MUL_CELL < 0 || MUL_CELL > 1) begin : g_check_cell
            PARAMETER_ERROR_mac_lane_MUL_CELL_must_be_0_or_1 u_error ();
        end
        if (MAC_MODE == 1 && (PA_W > MUL_MAX_W || PB_W > MUL_MAX_W)) begin : g_check_packed
            PARAMETER_ERROR_mac_lane_packed_needs_2xIN_W_plus_W_W_and_IN_W_plus_2xW_W_at_most_16 u_error ();
        end
        if (MAC_MODE == 2 && (IN_W > LUT_MAX_IN_W || W_W > LUT_MAX_W)) begin : g_check_lut
            PARAMETER_ERROR_mac_lane_lut_needs_W_W_at_most_4_and_IN_W_at_most_8 u_error ();
        end
        if (ACC_W < PW || ACC_W < BIAS_W) begin : g_check_acc
            PARAMETER_ERROR_mac_lane_ACC_W_must_hold_a_product_and_the_bias u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- stages M, P, Q: operands, products
    // xe[s]: activation s as a signed IN_W+1-bit value
    wire [MS*(IN_W+1)-1:0] xe;
    genvar s;
    generate
        for (s = 0; s < MS; s = s + 1) begin : g_ext_x
            wire [IN_W-1:0] xv = x[s*IN_W +: IN_W];
            assign xe[s*(IN_W+1) +: IN_W+1] = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
        end
    endgenerate
    wire [NP*ACC_W-1:0] prods;
    genvar q;
    generate
        for (q = 0; q < NP; q = q + 1) begin : g_mul
            localparam integer PACKED = (MAC_MODE == 1 && 2*q + 1 < MS) ? 1 : 0;   // this multiplier takes a pair
            localparam integer S0 = (MAC_MODE == 1) ? 2*q : q;                     // its (first) product's index
            localparam integer OA_W = (PACKED != 0) ? PA_W : IN_W + 1;             // its operand widths (signed)
            localparam integer OB_W = (PACKED != 0) ? PB_W : W_W;
            localparam integer PM_W = OA_W + OB_W;                                  // its exact product width
            // the ECP5 cell multiplies 18 x 18 signed: wider operands (IN_W > 17 or W_W > 18) and the LUT
            // multipliers keep the inferred path
            localparam integer USE_CELL = (MUL_CELL == 1 && MAC_MODE != 2 && OA_W <= MUL_MAX_W && OB_W <= MUL_MAX_W)
                                          ? 1 : 0;
            wire signed [OA_W-1:0] oa;          // operands, before stage M
            wire signed [OB_W-1:0] ob;
            if (PACKED != 0) begin : g_pack
                wire signed [IN_W:0]  x0 = xe[(2*q)*(IN_W+1) +: IN_W+1];
                wire signed [IN_W:0]  x1 = xe[(2*q+1)*(IN_W+1) +: IN_W+1];
                wire signed [W_W-1:0] w0 = w[(2*q)*W_W +: W_W];
                wire signed [W_W-1:0] w1 = w[(2*q+1)*W_W +: W_W];
                assign oa = {x1, {PW{1'b0}}} + {{(PA_W-IN_W-1){x0[IN_W]}}, x0};
                assign ob = {w0[W_W-1], w0, {PW{1'b0}}} + {{(PB_W-W_W){w1[W_W-1]}}, w1};
            end else begin : g_one
                assign oa = xe[S0*(IN_W+1) +: IN_W+1];
                assign ob = w[S0*W_W +: W_W];
            end
            wire [PM_W-1:0] pm;                 // the product (cell: already in its output register, stage P)
            wire [PW-1:0] fld;                  // the lane's product, or the packed pair's middle field
            if (PACKED != 0) begin : g_mid
                assign fld = pm[2*PW-1:PW] + {{(PW-1){1'b0}}, pm[PW-1]};
                wire unused_pm = &{1'b0, pm[PM_W-1:2*PW], pm[PW-2:0]};
            end else begin : g_low
                assign fld = pm;                // PM_W = PW
            end
            wire [PW-1:0] p_out;                // stage-P output
            if (USE_CELL != 0) begin : g_cell
                // stage M = the cell's A/B input registers, stage P = its output register (CLK0, CE0 = en): the
                // same cycles as the inferred path, with no fabric register and route inside the multiplier.
                // RST0..3 tied 0 (pure data registers), GSR off, cascade (SOURCEA/B) off.
                wire [17:0] da;                 // the operands sign-extended to the cell's 18 bits
                wire [17:0] db;
                if (OA_W < MUL_MAX_W) begin : g_ext_a
                    assign da = {{(MUL_MAX_W-OA_W){oa[OA_W-1]}}, oa};
                end else begin : g_full_a
                    assign da = oa;
                end
                if (OB_W < MUL_MAX_W) begin : g_ext_b
                    assign db = {{(MUL_MAX_W-OB_W){ob[OB_W-1]}}, ob};
                end else begin : g_full_b
                    assign db = ob;
                end
                wire [35:0] pd;
                MULT18X18D #(
                    .REG_INPUTA_CLK("CLK0"), .REG_INPUTB_CLK("CLK0"), .REG_PIPELINE_CLK("NONE"),
                    .REG_OUTPUT_CLK("CLK0"), .GSR("DISABLED")
                ) u_mul (
                    .A17(da[17]), .A16(da[16]), .A15(da[15]), .A14(da[14]), .A13(da[13]), .A12(da[12]),
                    .A11(da[11]), .A10(da[10]), .A9(da[9]), .A8(da[8]), .A7(da[7]), .A6(da[6]), .A5(da[5]),
                    .A4(da[4]), .A3(da[3]), .A2(da[2]), .A1(da[1]), .A0(da[0]),
                    .B17(db[17]), .B16(db[16]), .B15(db[15]), .B14(db[14]), .B13(db[13]), .B12(db[12]),
                    .B11(db[11]), .B10(db[10]), .B9(db[9]), .B8(db[8]), .B7(db[7]), .B6(db[6]), .B5(db[5]),
                    .B4(db[4]), .B3(db[3]), .B2(db[2]), .B1(db[1]), .B0(db[0]),
                    .C17(1'b0), .C16(1'b0), .C15(1'b0), .C14(1'b0), .C13(1'b0), .C12(1'b0), .C11(1'b0),
                    .C10(1'b0), .C9(1'b0), .C8(1'b0), .C7(1'b0), .C6(1'b0), .C5(1'b0), .C4(1'b0), .C3(1'b0),
                    .C2(1'b0), .C1(1'b0), .C0(1'b0),
                    .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),
                    .CLK3(1'b0), .CLK2(1'b0), .CLK1(1'b0), .CLK0(clk), .CE3(1'b0), .CE2(1'b0), .CE1(1'b0), .CE0(en),
                    .RST3(1'b0), .RST2(1'b0), .RST1(1'b0), .RST0(1'b0),
                    .P35(pd[35]), .P34(pd[34]), .P33(pd[33]), .P32(pd[32]), .P31(pd[31]), .P30(pd[30]),
                    .P29(pd[29]), .P28(pd[28]), .P27(pd[27]), .P26(pd[26]), .P25(pd[25]), .P24(pd[24]),
                    .P23(pd[23]), .P22(pd[22]), .P21(pd[21]), .P20(pd[20]), .P19(pd[19]), .P18(pd[18]),
                    .P17(pd[17]), .P16(pd[16]), .P15(pd[15]), .P14(pd[14]), .P13(pd[13]), .P12(pd[12]),
                    .P11(pd[11]), .P10(pd[10]), .P9(pd[9]), .P8(pd[8]), .P7(pd[7]), .P6(pd[6]), .P5(pd[5]),
                    .P4(pd[4]), .P3(pd[3]), .P2(pd[2]), .P1(pd[1]), .P0(pd[0])
                );
                assign pm = pd[PM_W-1:0];
                if (PM_W < 36) begin : g_unused_pd
                    wire unused_pd = &{1'b0, pd[35:PM_W]};
                end
                assign p_out = fld;
            end else begin : g_fabric
                reg signed [OA_W-1:0] oa_reg;   // stage M: this multiplier's operands
                reg signed [OB_W-1:0] ob_reg;
                always @(posedge clk) begin
                    if (en) begin
                        oa_reg <= oa;
                        ob_reg <= ob;
                    end
                end
                reg signed [PW-1:0] p_reg;      // stage P
                if (MAC_MODE == 2) begin : g_lut
                    // shift-add: the weight's bits select shifted activations (the sign bit's is subtracted)
                    wire signed [PW-1:0] xe_x = {{(PW-IN_W-1){oa_reg[IN_W]}}, oa_reg};
                    reg signed [PW-1:0] lp;
                    integer b;
                    always @(*) begin
                        lp = {PW{1'b0}};
                        for (b = 0; b < W_W - 1; b = b + 1) begin
                            if (ob_reg[b]) lp = lp + (xe_x <<< b);
                        end
                        if (ob_reg[W_W-1]) lp = lp - (xe_x <<< (W_W - 1));
                    end
                    assign pm = lp;
                end else begin : g_dsp
                    wire signed [PM_W-1:0] pp = oa_reg * ob_reg;
                    assign pm = pp;
                end
                always @(posedge clk) begin
                    if (en) p_reg <= fld;
                end
                assign p_out = p_reg;
            end
            reg signed [PW-1:0] q_reg;           // stage Q: the product again
            always @(posedge clk) begin
                if (en) q_reg <= p_out;
            end
            if (ACC_W > PW) begin : g_ext
                assign prods[q*ACC_W +: ACC_W] = {{(ACC_W-PW){q_reg[PW-1]}}, q_reg};
            end else begin : g_same
                assign prods[q*ACC_W +: ACC_W] = q_reg;
            end
        end
    endgenerate

    // ---------------------------------------------------------------- stages T1, T2: adder tree
    // level l + 1 holds the registered sums of groups of 4 values of level l (level 0: the stage-Q products);
    // values past a level's count are zero
    wire [NP*ACC_W-1:0] lvl [0:2];
    assign lvl[0] = prods;
    genvar l, g;
    generate
        for (l = 0; l < 2; l = l + 1) begin : g_lvl
            localparam integer NIN = (l == 0) ? NP : N1;         // values summed at this level
            localparam integer NOUT = (NIN + 3) / 4;            // registered sums it makes
            for (g = 0; g < NOUT; g = g + 1) begin : g_sum
                localparam integer NG = (NIN - 4*g < 4) ? NIN - 4*g : 4;
                reg [ACC_W-1:0] sum;
                reg [ACC_W-1:0] sum_reg;
                integer u;
                always @(*) begin
                    sum = {ACC_W{1'b0}};
                    for (u = 0; u < NG; u = u + 1) sum = sum + lvl[l][(4*g + u)*ACC_W +: ACC_W];
                end
                always @(posedge clk) begin
                    if (en) sum_reg <= sum;
                end
                assign lvl[l + 1][g*ACC_W +: ACC_W] = sum_reg;
            end
            if (NOUT < NP) begin : g_pad
                assign lvl[l + 1][NP*ACC_W-1:NOUT*ACC_W] = {((NP - NOUT)*ACC_W){1'b0}};
            end
        end
    endgenerate
    wire [N2*ACC_W-1:0] sums2 = lvl[2][N2*ACC_W-1:0];
    generate
        if (N2 < NP) begin : g_unused
            wire unused_pad = &{1'b0, lvl[2][NP*ACC_W-1:N2*ACC_W]};
        end
    endgenerate

    // ---------------------------------------------------------------- accumulator
    wire [ACC_W-1:0] bias_x;                    // bias sign-extended to the accumulator
    generate
        if (ACC_W > BIAS_W) begin : g_bext
            assign bias_x = {{(ACC_W-BIAS_W){bias[BIAS_W-1]}}, bias};
        end else begin : g_bsame
            assign bias_x = bias;
        end
    endgenerate
    reg  [ACC_W-1:0] acc_reg;
    wire [ACC_W-1:0] base = first ? bias_x : acc_reg;
    reg  [ACC_W-1:0] acc_sum;
    integer t;
    always @(*) begin
        acc_sum = base;
        for (t = 0; t < N2; t = t + 1) acc_sum = acc_sum + sums2[t*ACC_W +: ACC_W];
    end
    always @(posedge clk) begin
        if (en && acc_load) acc_reg <= acc_sum;
    end
    assign acc = acc_reg;
endmodule
`default_nettype wire
