`timescale 1ns/1ps
`default_nettype none
// projection_state: recurrent polynomial projection (PLEIADES temporal layer in recurrent form, issue #6).
//
// For each input pixel (one beat = all C input channels) and each channel c, the D states of that
// pixel and channel are updated (pleiades_fpga/hw/projection.py, IR kind "projection"):
//   acc[n]   = sum_m A[n, m] * s_prev[c, m] + B[n] * x[c]
//   s[c, n]  = clamp(round_half_even(acc[n] / 2**F), -2**(S_W-1), 2**(S_W-1) - 1)   (requant.v, M = 1)
// and the output beat carries the C*D new states, channel c*D + n at bits [(c*D+n)*S_W +: S_W].
//
// State memory: one word per pixel and channel group (SIMD channels x D states x S_W bits, address
// pixel*NCG + group; deep and narrow: block RAM), one synchronous read port (a group's states are read
// one cycle before its first step: at the input handshake for group 0) and one write port (after the
// group's last step). Reset clears it to zeros (PIXELS*NCG cycles with s_axis_tready low): zero state =
// causal zero padding. The pixel index advances per accepted beat and restarts after tlast.
//
// Folding: a step updates SIMD channels x PE states (rows of A); each lane is a (D+1)-term dot product
// (D+1 multipliers, constant coefficients when PE = D), so a pixel takes
// STEPS = ceil(C/SIMD) * ceil(D/PE) cycles; steps run channel group (outer), row group (inner).
// The next pixel is accepted in the cycle of the last step (its first state word is read then; when
// that is the word being written (PIXELS = 1 and NCG = 1) it waits one cycle).
// A, B: signed COEF_W-bit lanes packed in parameters, A_FLAT lane n*D + m = A[n, m], B_FLAT lane n = B[n].
// Output: a 2-entry queue; the last step waits while it is full. s_axis_tready comes from registers only.
module projection_state #(
    parameter integer C = 2,
    parameter integer D = 5,
    parameter integer PIXELS = 4,
    parameter integer IN_W = 4,
    parameter integer IN_SIGNED = 0,
    parameter integer S_W = 12,
    parameter integer COEF_W = 12,
    parameter integer F = 8,
    parameter integer ACC_W = 24,
    parameter integer PE = 5,
    parameter integer SIMD = 1,
    parameter [D*D*COEF_W-1:0] A_FLAT = 0,
    parameter [D*COEF_W-1:0] B_FLAT = 0,
    // derived (do not override)
    parameter integer NCG = (C + SIMD - 1) / SIMD,
    parameter integer NRG = (D + PE - 1) / PE
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [C*IN_W-1:0]      s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [C*D*S_W-1:0]     m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast
);
    // ---------------------------------------------------------------- derived sizes
    localparam integer SW = C * D * S_W;                         // one pixel's states
    localparam integer GW = SIMD * D * S_W;                      // one channel group's states (memory word)
    localparam integer DEPTH = PIXELS * NCG;
    localparam integer CP = NCG * SIMD;                          // channels padded to the channel groups
    localparam integer DP = NRG * PE;                            // rows padded to the row groups
    localparam integer PW_S = S_W + COEF_W;                      // exact product widths
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
    localparam [31:0] MEM_LAST32 = DEPTH - 1;
    localparam [31:0] NCG32 = NCG;
    localparam [MAW-1:0] MEM_LAST = MEM_LAST32[MAW-1:0];
    localparam [MAW-1:0] NCG_STEP = NCG32[MAW-1:0];
    localparam [MAW-1:0] MEM_ONE = 1;
    localparam [CG_W-1:0] CG_LAST = NCG_LAST32[CG_W-1:0];
    localparam [RG_W-1:0] RG_LAST = NRG_LAST32[RG_W-1:0];
    localparam [PIX_W-1:0] PIX_LAST = PIX_LAST32[PIX_W-1:0];
    localparam [CG_W-1:0] CG_ONE = 1;
    localparam [RG_W-1:0] RG_ONE = 1;
    localparam [PIX_W-1:0] PIX_ONE = 1;

    // ---------------------------------------------------------------- control
    reg                q1_valid;                // output queue full (skid entry used)
    reg                busy;                    // a pixel is being updated
    reg  [C*IN_W-1:0]  x_reg;
    reg                x_last;
    reg  [CG_W-1:0]    cg;
    reg  [RG_W-1:0]    rg;
    reg  [PIX_W-1:0]   pix;                     // index of the next pixel to accept
    reg  [MAW-1:0]     pix_base, cur_base;      // first state word of the next / the current pixel
    reg                clr;
    reg  [MAW-1:0]     clr_addr;

    wire last_step = (cg == CG_LAST) && (rg == RG_LAST);
    wire finish = busy && last_step && !q1_valid;          // last step: write state, queue the beat
    wire advance = busy && (!last_step || !q1_valid);      // a step completes this cycle
    wire group_end = advance && (rg == RG_LAST);           // write this group's states
    assign s_axis_tready = !clr && (!busy || (finish && (pix_base != cur_base || NCG > 1)));
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
            clr <= 1'b1;
            clr_addr <= {MAW{1'b0}};
        end else begin
            if (clr) begin
                clr_addr <= clr_addr + MEM_ONE;
                if (clr_addr == MEM_LAST) clr <= 1'b0;
            end
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
    reg  [GW-1:0] mem [0:DEPTH-1];
    reg  [GW-1:0] s_old;                        // states of the current channel group (before the update)
    wire [SW-1:0] s_new;                        // all states after this pixel (valid in its last step)
    wire [GW-1:0] g_new;                        // the current group's new states (valid in its last step)
    wire [MAW-1:0] cg_x = {{(MAW-CG_W){1'b0}}, cg};
    wire          mem_we = clr || group_end;
    wire [MAW-1:0] mem_wa = clr ? clr_addr : cur_base + cg_x;
    wire [GW-1:0] mem_wd = clr ? {GW{1'b0}} : g_new;
    wire          mem_re = accept || (group_end && !last_step);
    wire [MAW-1:0] mem_ra = accept ? pix_base : cur_base + cg_x + MEM_ONE;
    always @(posedge clk) begin
        if (mem_we) mem[mem_wa] <= mem_wd;
        if (mem_re) s_old <= mem[mem_ra];
    end

    // ---------------------------------------------------------------- datapath: SIMD x PE lanes
    // padded views: channels past C and rows past D compute unused values
    wire [CP*IN_W-1:0] x_pad;
    wire [DP*D*COEF_W-1:0] a_pad;
    wire [DP*COEF_W-1:0] b_pad;
    generate
        if (CP > C) begin : g_cpad
            assign x_pad = {{((CP-C)*IN_W){1'b0}}, x_reg};
        end else begin : g_cnopad
            assign x_pad = x_reg;
        end
        if (DP > D) begin : g_dpad
            assign a_pad = {{((DP-D)*D*COEF_W){1'b0}}, A_FLAT};
            assign b_pad = {{((DP-D)*COEF_W){1'b0}}, B_FLAT};
        end else begin : g_dnopad
            assign a_pad = A_FLAT;
            assign b_pad = B_FLAT;
        end
    endgenerate

    wire [S_W-1:0] rq [0:SIMD*PE-1];            // lane (sc, pr) at index sc*PE + pr
    genvar sc, pr, mm;
    generate
        for (sc = 0; sc < SIMD; sc = sc + 1) begin : g_ch
            wire [IN_W-1:0]  xv = x_pad[(cg*SIMD + sc)*IN_W +: IN_W];
            wire [D*S_W-1:0] sv = s_old[sc*D*S_W +: D*S_W];
            wire signed [IN_W:0] xe = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
            for (pr = 0; pr < PE; pr = pr + 1) begin : g_row
                wire [D*COEF_W-1:0] arow = a_pad[(rg*PE + pr)*D*COEF_W +: D*COEF_W];
                wire signed [COEF_W-1:0] bcoef = b_pad[(rg*PE + pr)*COEF_W +: COEF_W];
                wire signed [AW-1:0] terms [0:D];
                for (mm = 0; mm < D; mm = mm + 1) begin : g_m
                    wire signed [S_W-1:0] s_m = sv[mm*S_W +: S_W];
                    wire signed [COEF_W-1:0] a_m = arow[mm*COEF_W +: COEF_W];
                    wire signed [PW_S-1:0] p = {{COEF_W{s_m[S_W-1]}}, s_m} * {{S_W{a_m[COEF_W-1]}}, a_m};
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
                requant #(.ACC_W(AW), .M_W(1), .S_W(F_W), .OUT_W(S_W), .OUT_SIGNED(1)) u_rq (
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
                    if (advance && ghere) gpart[(sc*D + n)*S_W +: S_W] <= rq[GLANE];
                end
                assign g_new[(sc*D + n)*S_W +: S_W] = ghere ? rq[GLANE] : gpart[(sc*D + n)*S_W +: S_W];
            end
        end
        for (c = 0; c < C; c = c + 1) begin : g_oc
            for (n = 0; n < D; n = n + 1) begin : g_on
                localparam [31:0] CG32 = c / SIMD;
                localparam [31:0] RG32 = n / PE;
                localparam [CG_W-1:0] MY_CG = CG32[CG_W-1:0];
                localparam [RG_W-1:0] MY_RG = RG32[RG_W-1:0];
                localparam integer LANE = (c % SIMD) * PE + (n % PE);
                wire here = (cg == MY_CG) && (rg == MY_RG);
                always @(posedge clk) begin
                    if (advance && here) part[(c*D + n)*S_W +: S_W] <= rq[LANE];
                end
                assign s_new[(c*D + n)*S_W +: S_W] = here ? rq[LANE] : part[(c*D + n)*S_W +: S_W];
            end
        end
    endgenerate

    // ---------------------------------------------------------------- output queue (2 entries)
    reg  [SW-1:0] q0_data, q1_data;
    reg           q0_valid, q0_last, q1_last;
    wire pop = q0_valid && m_axis_tready;
    always @(posedge clk) begin
        if (rst) begin
            q0_valid <= 1'b0;
            q1_valid <= 1'b0;
        end else if (finish) begin              // q1 is empty here
            if (!q0_valid || pop) begin
                q0_valid <= 1'b1;
                q0_data <= s_new;
                q0_last <= x_last;
            end else begin
                q1_valid <= 1'b1;
                q1_data <= s_new;
                q1_last <= x_last;
            end
        end else if (pop) begin
            q0_valid <= q1_valid;
            q0_data <= q1_data;
            q0_last <= q1_last;
            q1_valid <= 1'b0;
        end
    end

    assign m_axis_tdata = q0_data;
    assign m_axis_tvalid = q0_valid;
    assign m_axis_tlast = q0_last;
endmodule
`default_nettype wire
