`timescale 1ns/1ps
`default_nettype none
// projection_state: recurrent polynomial projection (PLEIADES temporal layer in recurrent form, issue #6).
//
// For each input pixel (one beat = all C_IN input channels) and each channel c, the D states of that
// pixel and channel are updated (pleiades_fpga/hw/projection.py, IR kind "projection"):
//   acc[n]   = sum_m A[n, m] * s_prev[c, m] + B[n] * x[c]
//   s[c, n]  = clamp(round_half_even(acc[n] / 2**F), -2**(OUT_W-1), 2**(OUT_W-1) - 1)   (requant.v, M = 1)
// and the output beat carries the C_IN*D new states, channel c*D + n at bits [(c*D+n)*OUT_W +: OUT_W].
//
// State memory: one word per pixel and channel group (SIMD channels x D states x OUT_W bits, address
// pixel*NCG + group; deep and narrow: block RAM), one synchronous read port (a group's states are read
// one cycle before its first step: at the input handshake for group 0) and one write port (after the
// group's last step). Reset clears it to zeros (PIXELS*NCG cycles with s_axis_tready low): zero state =
// causal zero padding. The pixel index advances per accepted beat and restarts after tlast.
//
// Folding: a step updates SIMD channels x PE states (rows of A); each lane is a (D+1)-term dot product
// (D+1 multipliers, constant coefficients when PE = D), so a pixel takes
// STEPS = ceil(C_IN/SIMD) * ceil(D/PE) cycles; steps run channel group (outer), row group (inner).
// The next pixel is accepted in the cycle of the last step (its first state word is read then; when
// that is the word being written (PIXELS = 1 and NCG = 1) it waits one cycle).
// A, B: signed COEF_W-bit lanes packed in parameters, A_FLAT lane n*D + m = A[n, m], B_FLAT lane n = B[n].
// Output: a 2-entry queue; the last step waits while it is full. s_axis_tready comes from registers only.
module projection_state #(
    parameter integer C_IN = 2,                 // input channels (the output has C_IN*D channels)
    parameter integer D = 5,                    // states per channel (polynomial degree + 1)
    parameter integer PIXELS = 4,               // pixels per frame (H*W)
    parameter integer IN_W = 4,                 // input activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: input is two's complement
    parameter integer OUT_W = 12,               // state (= output) width (bits, signed)
    parameter integer COEF_W = 12,              // width of the A, B coefficients (bits, signed)
    parameter integer F = 8,                    // fraction bits of A, B: the fixed right shift
    parameter integer ACC_W = 24,               // accumulator width that cannot overflow (bits, signed)
    parameter integer PE = 5,                   // state rows per step (<= D)
    parameter integer SIMD = 1,                 // channels per step (<= C_IN)
    parameter [D*D*COEF_W-1:0] A_FLAT = 0,      // A[n, m] at lane n*D + m
    parameter [D*COEF_W-1:0] B_FLAT = 0,        // B[n] at lane n
    // derived (do not override)
    parameter integer NCG = (C_IN + SIMD - 1) / SIMD,
    parameter integer NRG = (D + PE - 1) / PE
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [C_IN*IN_W-1:0]      s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [C_IN*D*OUT_W-1:0]     m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast
);
    // ---------------------------------------------------------------- parameter checks (elaboration)
    generate
        if (C_IN < 1 || D < 1 || PIXELS < 1 || PE < 1 || PE > D || SIMD < 1 || SIMD > C_IN) begin : g_check_fold
            PARAMETER_ERROR_projection_state_needs_C_IN_D_PIXELS_at_least_1_PE_in_1_to_D_SIMD_in_1_to_C_IN u_error ();
        end
        if (IN_W < 1 || OUT_W < 2 || COEF_W < 2 || F < 0 || ACC_W < 1) begin : g_check_widths
            PARAMETER_ERROR_projection_state_needs_IN_W_ACC_W_at_least_1_OUT_W_COEF_W_at_least_2_F_at_least_0 u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- derived sizes
    localparam integer SW = C_IN * D * OUT_W;                         // one pixel's states
    localparam integer GW = SIMD * D * OUT_W;                      // one channel group's states (memory word)
    localparam integer DEPTH = PIXELS * NCG;
    localparam integer CP = NCG * SIMD;                          // channels padded to the channel groups
    localparam integer DP = NRG * PE;                            // rows padded to the row groups
    localparam integer PW_S = OUT_W + COEF_W;                      // exact product widths
    localparam integer PW_X = IN_W + 1 + COEF_W;
    localparam integer AW0 = (ACC_W > PW_S) ? ACC_W : PW_S;
    localparam integer AW = (AW0 > PW_X) ? AW0 : PW_X;          // internal accumulator width
    localparam integer F_W = (F > 0) ? $clog2(F + 1) : 1;
    localparam [31:0] F32 = F;
    localparam integer CG_W = (NCG > 1) ? $clog2(NCG) : 1;
    localparam integer RG_W = (NRG > 1) ? $clog2(NRG) : 1;
    localparam integer PIX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam integer MAW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam [31:0] NCG_LAST32 = NCG - 1;
    localparam [31:0] NRG_LAST32 = NRG - 1;
    localparam [31:0] PIX_LAST32 = PIXELS - 1;
    localparam [31:0] NCG32 = NCG;
    localparam [MAW-1:0] NCG_STEP = NCG32[MAW-1:0];
    localparam [MAW-1:0] MEM_ONE = 1;
    localparam [CG_W-1:0] CG_LAST = NCG_LAST32[CG_W-1:0];
    localparam [RG_W-1:0] RG_LAST = NRG_LAST32[RG_W-1:0];
    localparam [PIX_W-1:0] PIX_LAST = PIX_LAST32[PIX_W-1:0];
    localparam [CG_W-1:0] CG_ONE = 1;
    localparam [RG_W-1:0] RG_ONE = 1;
    localparam [PIX_W-1:0] PIX_ONE = 1;

    // ---------------------------------------------------------------- control
    wire               q_full;                  // output queue full (skid entry used)
    reg                busy;                    // a pixel is being updated
    reg  [C_IN*IN_W-1:0]  x_reg;
    reg                x_last;
    reg  [CG_W-1:0]    cg;
    reg  [RG_W-1:0]    rg;
    reg  [PIX_W-1:0]   pix;                     // index of the next pixel to accept
    reg  [MAW-1:0]     pix_base, cur_base;      // first state word of the next / the current pixel
    wire               clearing;                // state memory clear after reset

    wire last_step = (cg == CG_LAST) && (rg == RG_LAST);
    wire finish = busy && last_step && !q_full;          // last step: write state, queue the beat
    wire advance = busy && (!last_step || !q_full);      // a step completes this cycle
    wire group_end = advance && (rg == RG_LAST);           // write this group's states
    assign s_axis_tready = !clearing && (!busy || (finish && (pix_base != cur_base || NCG > 1)));
    wire accept = s_axis_tvalid && s_axis_tready;
    wire wrap = s_axis_tlast || pix == PIX_LAST;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            x_last <= 1'b0;
            cg <= {CG_W{1'b0}};
            rg <= {RG_W{1'b0}};
            pix <= {PIX_W{1'b0}};
            pix_base <= {MAW{1'b0}};
            cur_base <= {MAW{1'b0}};
        end else begin
            if (accept) begin
                busy <= 1'b1;
                x_reg <= s_axis_tdata;
                x_last <= s_axis_tlast;
                cur_base <= pix_base;
                pix <= wrap ? {PIX_W{1'b0}} : pix + PIX_ONE;
                pix_base <= wrap ? {MAW{1'b0}} : pix_base + NCG_STEP;
            end else if (finish) begin
                busy <= 1'b0;
            end
            if (advance) begin
                if (rg == RG_LAST) begin
                    rg <= {RG_W{1'b0}};
                    cg <= (cg == CG_LAST) ? {CG_W{1'b0}} : cg + CG_ONE;
                end else begin
                    rg <= rg + RG_ONE;
                end
            end
        end
    end

    // ---------------------------------------------------------------- state memory (1 read, 1 write port)
    // word cur_base + cg = the current group; read group 0 at accept, group cg+1 at the end of group cg
    wire [GW-1:0] s_old;                        // states of the current channel group (before the update)
    wire [SW-1:0] s_new;                        // all states after this pixel (valid in its last step)
    wire [GW-1:0] g_new;                        // the current group's new states (valid in its last step)
    wire [MAW-1:0] cg_x = {{(MAW-CG_W){1'b0}}, cg};
    ram_sdp #(.DATA_W(GW), .DEPTH(DEPTH), .CLEAR(1)) u_state (
        .clk(clk), .rst(rst), .clearing(clearing),
        .we(group_end), .waddr(cur_base + cg_x), .wdata(g_new),
        .re(accept || (group_end && !last_step)), .raddr(accept ? pix_base : cur_base + cg_x + MEM_ONE),
        .rdata(s_old)
    );

    // ---------------------------------------------------------------- datapath: SIMD x PE lanes
    // padded views: channels past C_IN and rows past D compute unused values
    wire [CP*IN_W-1:0] x_pad;
    wire [DP*D*COEF_W-1:0] a_pad;
    wire [DP*COEF_W-1:0] b_pad;
    zero_extend #(.IN_W(C_IN*IN_W), .OUT_W(CP*IN_W)) u_xpad (.x(x_reg), .y(x_pad));
    // A, B stay constants of this module (multipliers by constants), so they are padded here, not in a block
    generate
        if (DP > D) begin : g_dpad
            assign a_pad = {{((DP-D)*D*COEF_W){1'b0}}, A_FLAT};
            assign b_pad = {{((DP-D)*COEF_W){1'b0}}, B_FLAT};
        end else begin : g_dnopad
            assign a_pad = A_FLAT;
            assign b_pad = B_FLAT;
        end
    endgenerate

    wire [OUT_W-1:0] rq [0:SIMD*PE-1];            // lane (sc, pr) at index sc*PE + pr
    genvar sc, pr, mm;
    generate
        for (sc = 0; sc < SIMD; sc = sc + 1) begin : g_ch
            wire [IN_W-1:0]  xv = x_pad[(cg*SIMD + sc)*IN_W +: IN_W];
            wire [D*OUT_W-1:0] sv = s_old[sc*D*OUT_W +: D*OUT_W];
            wire signed [IN_W:0] xe = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
            for (pr = 0; pr < PE; pr = pr + 1) begin : g_row
                wire [D*COEF_W-1:0] arow = a_pad[(rg*PE + pr)*D*COEF_W +: D*COEF_W];
                wire signed [COEF_W-1:0] bcoef = b_pad[(rg*PE + pr)*COEF_W +: COEF_W];
                wire signed [AW-1:0] terms [0:D];
                for (mm = 0; mm < D; mm = mm + 1) begin : g_m
                    wire signed [OUT_W-1:0] s_m = sv[mm*OUT_W +: OUT_W];
                    wire signed [COEF_W-1:0] a_m = arow[mm*COEF_W +: COEF_W];
                    wire signed [PW_S-1:0] p = {{COEF_W{s_m[OUT_W-1]}}, s_m} * {{OUT_W{a_m[COEF_W-1]}}, a_m};
                    assign terms[mm] = {{(AW-PW_S){p[PW_S-1]}}, p};
                end
                wire signed [PW_X-1:0] px = {{COEF_W{xe[IN_W]}}, xe} * {{(IN_W+1){bcoef[COEF_W-1]}}, bcoef};
                assign terms[D] = {{(AW-PW_X){px[PW_X-1]}}, px};
                reg signed [AW-1:0] acc;
                integer t;
                always @(*) begin
                    acc = {AW{1'b0}};
                    for (t = 0; t <= D; t = t + 1) begin
                        acc = acc + terms[t];
                    end
                end
                requant #(.ACC_W(AW), .M_W(1), .S_W(F_W), .OUT_W(OUT_W), .OUT_SIGNED(1)) u_rq (
                    .acc(acc), .m(1'b1), .s(F32[F_W-1:0]), .y(rq[sc*PE + pr])
                );
            end
        end
    endgenerate

    // new states: rows finished in earlier steps wait in `part` (per channel, for the output beat) and
    // `gpart` (per lane, for the group's memory word); the current step's lanes join directly
    reg [SW-1:0] part;
    reg [GW-1:0] gpart;
    genvar c, n;
    generate
        for (sc = 0; sc < SIMD; sc = sc + 1) begin : g_gc
            for (n = 0; n < D; n = n + 1) begin : g_gn
                localparam [31:0] GRG32 = n / PE;
                localparam [RG_W-1:0] G_RG = GRG32[RG_W-1:0];
                localparam integer GLANE = sc * PE + (n % PE);
                wire ghere = (rg == G_RG);
                always @(posedge clk) begin
                    if (advance && ghere) gpart[(sc*D + n)*OUT_W +: OUT_W] <= rq[GLANE];
                end
                assign g_new[(sc*D + n)*OUT_W +: OUT_W] = ghere ? rq[GLANE] : gpart[(sc*D + n)*OUT_W +: OUT_W];
            end
        end
        for (c = 0; c < C_IN; c = c + 1) begin : g_oc
            for (n = 0; n < D; n = n + 1) begin : g_on
                localparam [31:0] CG32 = c / SIMD;
                localparam [31:0] RG32 = n / PE;
                localparam [CG_W-1:0] MY_CG = CG32[CG_W-1:0];
                localparam [RG_W-1:0] MY_RG = RG32[RG_W-1:0];
                localparam integer LANE = (c % SIMD) * PE + (n % PE);
                wire here = (cg == MY_CG) && (rg == MY_RG);
                always @(posedge clk) begin
                    if (advance && here) part[(c*D + n)*OUT_W +: OUT_W] <= rq[LANE];
                end
                assign s_new[(c*D + n)*OUT_W +: OUT_W] = here ? rq[LANE] : part[(c*D + n)*OUT_W +: OUT_W];
            end
        end
    endgenerate

    // ---------------------------------------------------------------- output queue (2 entries)
    axis_out_queue #(.DATA_W(SW)) u_queue (
        .clk(clk), .rst(rst), .push(finish), .push_data(s_new), .push_last(x_last), .full(q_full),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
endmodule
`default_nettype wire
