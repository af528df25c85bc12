`timescale 1ns/1ps
`default_nettype none
// groupnorm_stream: causal GroupNorm over a stream of frames, exact integers (docs/GROUPNORM.md, the reference is
// pleiades_fpga.ir.integers.groupnorm_int). Per frame and group g (CG = C/G channels, N = CG*H*W elements):
//   S1 = sum x,  S2 = sum x*x,  D = N*S2 - S1*S1,  V = max(D + E, 1),  k = ceil(bitlen(V)/2),
//   R = the largest integer with R*R*V <= 4**(P+k)
//   y = clamp(round_half_even((d*R*M[c] + (B[c] << (P+k))) / 2**(P+k+S[c])), lo, hi),  d = N*x - S1
//   (lo = 0 when RELU = 1 or the output is unsigned).
// STATS = 0 ("frame"): each frame is normalized with its own statistics. Its pixels go into a one-frame buffer
//   (ram_sdp, PIXELS words of C*IN_W bits) while S1/S2 accumulate; after its last pixel the per-group constants
//   are computed; then the buffer is replayed through the normalization. Pixel p of frame t+1 is written only
//   after pixel p of frame t was read (the buffer is a PIXELS-deep FIFO), so the frames overlap.
// STATS = 1 ("previous"): no buffer; frame t is normalized on the fly with the statistics of frame t-1 (the first
//   frame after reset has none: d = 0). Its first pixel waits until the constants of frame t-1 are ready.
// Streams: one beat = one pixel with all C channels (channel c at [c*IN_W +: IN_W], signed if IN_SIGNED),
//   a frame is exactly PIXELS beats (s_axis_tlast is not used); the output carries tlast on each frame's last
//   pixel. A pixel takes CF = C/PE cycles on each side (PE channels per cycle).
// Statistics: PE squares per cycle, lane sums per group, accumulated in a ring of G registers that rotates
//   with the group order of the slices; at a frame end the ring moves to a hold bank.
// Constants per group (sequential, shift and add only): D by shift-add over the bits of N and |S1|
//   (NB + S1_W cycles), V, k by normalizing V to 2*KMAX bits (KMAX - 1 cycles), then the bitwise restoring
//   rsqrt: P+2 steps of 3 cycles (candidate Q + (T << (b+1)) + (V << 2b) against 4**(P+KMAX), kept registered).
//   hw.rtl.kinds.groupnorm.frame_cycles models the cycles per frame.
// Normalization pipeline (every stage holds while the 2-beat output queue is full): slice and operands
//   (buffer word, group constants, parameter ROM word) -> d = N*x - S1 -> d*M -> (d*M)*R' (R' = R - 2**P, P+1
//   bits) -> d*M*R = (d*M)*R' + (d*M << P) -> z = 2*floor(acc/2**P) + sticky (acc's bits below P), with the bias
//   entering as B << k -> requant (z / 2**(S+k+1), round half even, clamp; equal to the rounding of
//   acc / 2**(P+k+S); requant_pipe, 4 stages) -> ReLU -> output vector -> queue.
// Param ROM read port (1-cycle synchronous read with enable): address = slice f (CF words), lane j at
//   [j*FW +: FW], FW = B_W + M_W + S_W, holding {S (unsigned), M (signed), B (signed)} from MSB to LSB of channel
//   f*PE + j (rom.groupnorm_layer_files builds it).
module groupnorm_stream #(
    // (small defaults keep template-level lint/synthesis quick; the generator sets every parameter)
    parameter integer H = 2,                    // frame height (pixels)
    parameter integer W = 3,                    // frame width (pixels)
    parameter integer C = 4,                    // channels (in = out)
    parameter integer G = 2,                    // groups (C % G == 0)
    parameter integer PE = 2,                   // channels per cycle (C % PE == 0; PE divides C/G or C/G divides PE)
    parameter integer STATS = 0,                // 0: statistics of the frame itself (frame buffer), 1: previous frame's
    parameter integer IN_W = 4,                 // input width (bits)
    parameter integer IN_SIGNED = 0,            // 1: input is two's complement
    parameter integer P = 4,                    // rsqrt precision (fraction bits of R / 2**k)
    parameter integer S1_W = 9,                 // width of S1 (bits, signed; > IN_W, at most IN_W + NB + 1)
    parameter integer S2_W = 12,                // width of S2 (bits, unsigned; >= 2*IN_W)
    parameter integer D_W = 15,                 // width of D and of V = D + E (bits, unsigned)
    parameter integer ACC_W = 30,               // width of acc = d*R*M + (B << (P+k)) (bits, signed; from analysis)
    parameter [D_W-1:0] E = 0,                  // variance offset E (eps in integer units, >= 0)
    parameter integer M_W = 16,                 // per-channel multiplier M width (bits, signed)
    parameter integer S_W = 6,                  // per-channel shift S width (bits, unsigned)
    parameter integer B_W = 16,                 // per-channel bias B width (bits, signed)
    parameter integer OUT_W = 4,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output, 1: signed
    parameter integer RELU = 0,                 // 1: lo = 0 (ReLU fused)
    parameter integer EXT_FRAME = 0,            // 1 (STATS = 0 only): the frame buffer is outside, on the fb_* streams
    // derived (do not override)
    parameter integer PIXELS = H * W,           // pixels per frame
    parameter integer CF = C / PE,              // slices (cycles) per pixel
    parameter integer PROM_AW = (CF > 1) ? $clog2(CF) : 1,
    parameter integer FW = B_W + M_W + S_W
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [C*IN_W-1:0]    s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    input  wire                 s_axis_tlast,
    output wire [C*OUT_W-1:0]   m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready,
    output wire                 m_axis_tlast,
    output wire                 prom_en,
    output wire [PROM_AW-1:0]   prom_addr,
    input  wire [PE*FW-1:0]     prom_data,
    // EXT_FRAME = 1: the frame buffer is an external FIFO (e.g. axi_stream_fifo of PIXELS-word frames): every
    // accepted pixel leaves on fb_m_axis (tlast on a frame's last pixel) and the replay reads it back, in order,
    // from fb_s_axis. EXT_FRAME = 0: unused (tie fb_s_axis_tvalid and fb_m_axis_tready low).
    output wire [C*IN_W-1:0]    fb_m_axis_tdata,
    output wire                 fb_m_axis_tvalid,
    input  wire                 fb_m_axis_tready,
    output wire                 fb_m_axis_tlast,
    input  wire [C*IN_W-1:0]    fb_s_axis_tdata,
    input  wire                 fb_s_axis_tvalid,
    output wire                 fb_s_axis_tready,
    input  wire                 fb_s_axis_tlast
);
    // ---------------------------------------------------------------- derived sizes
    localparam integer CG = (G > 0) ? C / G : 1;            // channels per group
    localparam integer N = CG * PIXELS;                      // elements per group and frame
    localparam integer NB = $clog2(N + 1);                   // bits of N
    localparam integer LC = (PE < CG) ? PE : CG;             // lanes of one group within a slice
    localparam integer LG = (PE > 0 && LC > 0) ? PE / LC : 1;  // groups touched by one slice
    localparam integer SPG = (CG > PE && PE > 0) ? CG / PE : 1;  // slices per group
    localparam integer DX_W = IN_W + NB + 1;                 // d = N*x - S1 (signed)
    localparam integer KMAX = (D_W + 1) / 2;                 // largest k
    localparam integer K_W = $clog2(KMAX + 1);
    localparam integer RW = P + 2;                           // R <= 2**(P+1) (unsigned)
    localparam integer VN_W = 2 * KMAX;                      // V normalized to [4**(KMAX-1), 4**KMAX)
    localparam integer QW = 2 * P + 2 * KMAX + 4;            // rsqrt candidate (< 4**(P+KMAX+2))
    localparam integer MR_W = (NB > S1_W) ? NB : S1_W;       // shift-add multiplier register
    localparam integer DM_W = DX_W + M_W;                    // d*M (signed)
    localparam integer RPW = P + 1;                          // R' = R - 2**P in [0, 2**P] (unsigned)
    localparam integer QP_W = DM_W + RPW + 1;                // d*M*R' natural width (signed)
    localparam integer UW = ACC_W - P;                       // floor(acc / 2**P) (signed)
    localparam integer ZW = UW + 1;                          // z = 2*floor(acc / 2**P) + sticky
    localparam integer ST_W = $clog2(ZW + 2);                // requant shift, clamped to ZW + 1
    localparam integer SR_W = ((S_W > K_W) ? S_W : K_W) + 2; // S + k + 1 before the clamp
    localparam integer BK_W = B_W + KMAX;                    // B << k
    localparam integer PIX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam integer CF_W = (CF > 1) ? $clog2(CF) : 1;
    localparam integer SG_W = (SPG > 1) ? $clog2(SPG) : 1;
    localparam integer GI_W = (G > 1) ? $clog2(G) : 1;
    localparam integer CNT_W = $clog2(QW + MR_W + 4);      // step counter of the constants engine
    localparam integer SQ_W = 2 * IN_W;                      // x*x (unsigned)
    localparam integer XE_W = IN_W + 1;                      // x extended to signed

    // ---------------------------------------------------------------- parameter checks (elaboration)
    generate
        if (H < 1 || W < 1 || C < 1 || G < 1 || PE < 1) begin : g_check_sizes
            PARAMETER_ERROR_groupnorm_stream_H_W_C_G_PE_must_be_at_least_1 u_error ();
        end
        if (C % G != 0) begin : g_check_groups
            PARAMETER_ERROR_groupnorm_stream_G_must_divide_C u_error ();
        end
        if (C % PE != 0 || (CG % PE != 0 && PE % CG != 0)) begin : g_check_fold
            PARAMETER_ERROR_groupnorm_stream_PE_must_divide_C_and_divide_or_be_a_multiple_of_C_over_G u_error ();
        end
        if (STATS != 0 && STATS != 1) begin : g_check_stats
            PARAMETER_ERROR_groupnorm_stream_STATS_must_be_0_or_1 u_error ();
        end
        if ((EXT_FRAME != 0 && EXT_FRAME != 1) || (EXT_FRAME == 1 && STATS != 0)) begin : g_check_ext
            PARAMETER_ERROR_groupnorm_stream_EXT_FRAME_must_be_0_or_1_and_1_only_with_STATS_0 u_error ();
        end
        if ((IN_SIGNED != 0 && IN_SIGNED != 1) || (OUT_SIGNED != 0 && OUT_SIGNED != 1) || (RELU != 0 && RELU != 1))
        begin : g_check_flags
            PARAMETER_ERROR_groupnorm_stream_IN_SIGNED_OUT_SIGNED_RELU_must_be_0_or_1 u_error ();
        end
        if (IN_W < 1 || M_W < 2 || S_W < 1 || B_W < 1 || OUT_W < 1 || P < 0 || D_W < 1 || N > 32'h3fffffff)
        begin : g_check_widths
            PARAMETER_ERROR_groupnorm_stream_IN_W_S_W_B_W_OUT_W_D_W_at_least_1_M_W_at_least_2_P_at_least_0 u_error ();
        end
        if (S1_W <= IN_W || S1_W > DX_W || S2_W < SQ_W || ACC_W < P + 2 || OUT_W > ZW + 1) begin : g_check_analysis
            PARAMETER_ERROR_groupnorm_stream_S1_W_above_IN_W_at_most_IN_W_NB_1_S2_W_at_least_2_IN_W_ACC_W_above_P_1 u_error ();
        end
    endgenerate

    localparam [31:0] CF_LAST32 = CF - 1;
    localparam [31:0] SPG_LAST32 = SPG - 1;
    localparam [31:0] PIX_LAST32 = PIXELS - 1;
    localparam [31:0] G_LAST32 = G - 1;
    localparam [CF_W-1:0] CF_LAST = CF_LAST32[CF_W-1:0];
    localparam [SG_W-1:0] SG_LAST = SPG_LAST32[SG_W-1:0];
    localparam [PIX_W-1:0] PIX_LAST = PIX_LAST32[PIX_W-1:0];
    localparam [GI_W-1:0] G_LAST = G_LAST32[GI_W-1:0];
    localparam [CF_W-1:0] CF_ONE = 1;
    localparam [SG_W-1:0] SG_ONE = 1;
    localparam [PIX_W-1:0] PIX_ONE = 1;

    // ---------------------------------------------------------------- stall control
    wire q_full;                                // skid entry of the output queue in use
    wire en = !q_full;                          // the normalization pipeline advances

    // ---------------------------------------------------------------- input engine: pixel register, slices
    reg                  in_busy_reg;           // x_reg holds a pixel whose slices are being issued
    reg  [C*IN_W-1:0]    x_reg;
    reg                  x_eof_reg;             // x_reg is the frame's last pixel
    reg  [CF_W-1:0]      in_f_reg;              // slice of x_reg issued next
    reg  [SG_W-1:0]      in_sg_reg;             // slice within its group
    reg  [PIX_W-1:0]     in_pix_reg;            // index of the next pixel to accept
    reg                  hold_full_reg;         // the hold bank has statistics not yet taken
    wire                 in_go;                 // slices may issue this cycle
    wire                 accept_ok;             // mode: buffer space / constants of the previous frame ready
    wire in_f_last = (in_f_reg == CF_LAST);
    wire in_gl = (in_sg_reg == SG_LAST);
    wire in_issue = in_go && in_busy_reg;
    wire in_pix_last = (in_pix_reg == PIX_LAST);
    wire                 fb_ok;                 // EXT_FRAME: the external frame buffer takes the pixel
    wire in_ready = !rst && (!in_busy_reg || (in_issue && in_f_last)) && accept_ok &&
                    (!in_pix_last || !hold_full_reg);  // s_axis_tready but for the external buffer
    assign s_axis_tready = in_ready && fb_ok;
    wire accept = s_axis_tvalid && s_axis_tready;
    wire unused_tlast = &{1'b0, s_axis_tlast};

    always @(posedge clk) begin
        if (accept) begin
            x_reg <= s_axis_tdata;
            x_eof_reg <= in_pix_last;
        end
        if (rst) begin
            in_busy_reg <= 1'b0;
            in_f_reg <= {CF_W{1'b0}};
            in_sg_reg <= {SG_W{1'b0}};
            in_pix_reg <= {PIX_W{1'b0}};
        end else begin
            if (accept) begin
                in_busy_reg <= 1'b1;
                in_pix_reg <= in_pix_last ? {PIX_W{1'b0}} : in_pix_reg + PIX_ONE;
            end else if (in_issue && in_f_last) begin
                in_busy_reg <= 1'b0;
            end
            if (in_issue) begin
                in_f_reg <= in_f_last ? {CF_W{1'b0}} : in_f_reg + CF_ONE;
                in_sg_reg <= in_gl ? {SG_W{1'b0}} : in_sg_reg + SG_ONE;
            end
        end
    end

    // ---------------------------------------------------------------- statistics pipeline
    // st1: slice lanes; st2: values and squares; st3: sums per touched group; then the accumulator ring.
    reg                  st1_v_reg, st1_gl_reg, st1_eof_reg;
    reg  [PE*IN_W-1:0]   st1_x_reg;
    reg                  st2_v_reg, st2_gl_reg, st2_eof_reg;
    reg  [PE*S1_W-1:0]   st2_x_reg;
    reg  [PE*S2_W-1:0]   st2_sq_reg;
    reg                  st3_v_reg, st3_gl_reg, st3_eof_reg;
    reg  [LG*S1_W-1:0]   st3_s1_reg;
    reg  [LG*S2_W-1:0]   st3_s2_reg;
    always @(posedge clk) begin
        st1_x_reg <= x_reg[in_f_reg*PE*IN_W +: PE*IN_W];
        st1_gl_reg <= in_gl;
        st1_eof_reg <= x_eof_reg && in_f_last;
        st2_gl_reg <= st1_gl_reg;
        st2_eof_reg <= st1_eof_reg;
        st3_gl_reg <= st2_gl_reg;
        st3_eof_reg <= st2_eof_reg;
        if (rst) begin
            st1_v_reg <= 1'b0;
            st2_v_reg <= 1'b0;
            st3_v_reg <= 1'b0;
        end else begin
            st1_v_reg <= in_issue;
            st2_v_reg <= st1_v_reg;
            st3_v_reg <= st2_v_reg;
        end
    end

    genvar j, i;
    generate
        for (j = 0; j < PE; j = j + 1) begin : g_sq
            wire [IN_W-1:0] xv = st1_x_reg[j*IN_W +: IN_W];
            wire signed [XE_W-1:0] xe = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
            wire signed [2*XE_W-1:0] sq = xe * xe;              // >= 0, < 2**SQ_W
            wire [S1_W-1:0] xs;
            sign_resize #(.IN_W(XE_W), .OUT_W(S1_W)) u_xs (.x(xe), .y(xs));
            wire [S2_W-1:0] sqz;
            zero_extend #(.IN_W(SQ_W), .OUT_W(S2_W)) u_sqz (.x(sq[SQ_W-1:0]), .y(sqz));
            wire unused_sq = &{1'b0, sq[2*XE_W-1:SQ_W]};
            always @(posedge clk) begin
                st2_x_reg[j*S1_W +: S1_W] <= xs;
                st2_sq_reg[j*S2_W +: S2_W] <= sqz;
            end
        end
        for (i = 0; i < LG; i = i + 1) begin : g_lsum
            reg [S1_W-1:0] s1;
            reg [S2_W-1:0] s2;
            integer l;
            always @(*) begin
                s1 = {S1_W{1'b0}};
                s2 = {S2_W{1'b0}};
                for (l = 0; l < LC; l = l + 1) begin
                    s1 = s1 + st2_x_reg[(i*LC + l)*S1_W +: S1_W];
                    s2 = s2 + st2_sq_reg[(i*LC + l)*S2_W +: S2_W];
                end
            end
            always @(posedge clk) begin
                st3_s1_reg[i*S1_W +: S1_W] <= s1;
                st3_s2_reg[i*S2_W +: S2_W] <= s2;
            end
        end
    endgenerate

    // accumulator ring: entry 0 .. LG-1 are the groups of the slice in st3; it rotates by LG entries after a
    // group's last slice, so after a pixel (CF slices = G groups) it is back in group order.
    reg  [G*S1_W-1:0] a1_reg;
    reg  [G*S2_W-1:0] a2_reg;
    reg  [G*S1_W-1:0] h1_reg;                   // hold bank (one frame's statistics, group order)
    reg  [G*S2_W-1:0] h2_reg;
    wire [LG*S1_W-1:0] a1_head;
    wire [LG*S2_W-1:0] a2_head;
    wire [G*S1_W-1:0]  a1_rot;
    wire [G*S2_W-1:0]  a2_rot;
    generate
        for (i = 0; i < LG; i = i + 1) begin : g_head
            assign a1_head[i*S1_W +: S1_W] = a1_reg[i*S1_W +: S1_W] + st3_s1_reg[i*S1_W +: S1_W];
            assign a2_head[i*S2_W +: S2_W] = a2_reg[i*S2_W +: S2_W] + st3_s2_reg[i*S2_W +: S2_W];
        end
        if (G > LG) begin : g_rot
            assign a1_rot = {a1_head, a1_reg[G*S1_W-1:LG*S1_W]};
            assign a2_rot = {a2_head, a2_reg[G*S2_W-1:LG*S2_W]};
        end else begin : g_rot_all
            assign a1_rot = a1_head;
            assign a2_rot = a2_head;
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            a1_reg <= {(G*S1_W){1'b0}};
            a2_reg <= {(G*S2_W){1'b0}};
        end else if (st3_v_reg) begin
            if (st3_eof_reg) begin
                a1_reg <= {(G*S1_W){1'b0}};
                a2_reg <= {(G*S2_W){1'b0}};
            end else if (st3_gl_reg) begin
                a1_reg <= a1_rot;
                a2_reg <= a2_rot;
            end else begin
                a1_reg[LG*S1_W-1:0] <= a1_head;
                a2_reg[LG*S2_W-1:0] <= a2_head;
            end
        end
    end

    // ---------------------------------------------------------------- per-group constants (shift and add)
    localparam [3:0] C_IDLE = 4'd0, C_LOAD = 4'd1, C_DN = 4'd2, C_DS = 4'd3, C_VADD = 4'd4, C_VMAX = 4'd5,
                     C_NORM = 4'd6, C_RINIT = 4'd7, C_RS = 4'd8, C_STORE = 4'd9;
    localparam [31:0] NB_LAST32 = NB - 1;
    localparam [31:0] S1_LAST32 = S1_W - 1;
    localparam [31:0] NORM_LAST32 = (KMAX > 1) ? KMAX - 2 : 0;
    localparam [31:0] RS_LAST32 = P + 1;
    localparam [31:0] KMAX32 = KMAX;
    localparam [31:0] N32 = N;
    localparam [CNT_W-1:0] NB_LAST = NB_LAST32[CNT_W-1:0];
    localparam [CNT_W-1:0] S1_LAST = S1_LAST32[CNT_W-1:0];
    localparam [CNT_W-1:0] NORM_LAST = NORM_LAST32[CNT_W-1:0];
    localparam [CNT_W-1:0] RS_LAST = RS_LAST32[CNT_W-1:0];
    localparam [CNT_W-1:0] CNT_ONE = 1;
    localparam [K_W-1:0] K_START = KMAX32[K_W-1:0];
    localparam [K_W-1:0] K_ONE = 1;
    localparam [GI_W-1:0] GI_ONE = 1;
    localparam [QW-1:0] LIM = {{(QW-1){1'b0}}, 1'b1} << (2 * (P + KMAX));   // 4**(P+KMAX)
    localparam [MR_W-1:0] N_MR = N32[MR_W-1:0];

    reg  [3:0]        cs_reg;                   // state
    reg  [CNT_W-1:0]  cnt_reg;                  // step within the state
    reg  [1:0]        sub_reg;                  // rsqrt step phase (0, 1, 2)
    reg  [GI_W-1:0]   cg_reg;                   // group being computed
    reg  [S1_W-1:0]   cs1_reg;                  // its S1
    reg  [D_W-1:0]    dd_reg;                   // D (modulo 2**D_W during the shift-add, exact at the end)
    reg  [D_W-1:0]    mc_reg;                   // shifted multiplicand
    reg  [MR_W-1:0]   mr_reg;                   // multiplier bits, LSB first
    reg  [VN_W-1:0]   vn_reg;                   // V, then V * 4**(KMAX-k)
    reg  [K_W-1:0]    k_reg;
    reg  [QW-1:0]     q_reg, ts_reg, vs_reg, tv_reg, tsv_reg, cand_reg;
    reg  [RW-1:0]     r_reg;
    reg               next_full_reg;            // the next bank holds a frame's constants not yet taken
    wire              cur_load;                 // the current bank takes the next bank (mode-specific)
    reg  [G*S1_W-1:0] n1_reg;                   // next bank: S1, R' = R - 2**P, k per group (group order)
    reg  [G*RPW-1:0]  nr_reg;
    reg  [G*K_W-1:0]  nk_reg;

    wire [S1_W-1:0] h1_head = h1_reg[S1_W-1:0];
    wire [S1_W-1:0] abs_s1 = cs1_reg[S1_W-1] ? (~cs1_reg + {{(S1_W-1){1'b0}}, 1'b1}) : cs1_reg;
    wire [D_W-1:0]  s2_d, abs_s1_d;
    zero_extend #(.IN_W(S2_W > D_W ? D_W : S2_W), .OUT_W(D_W)) u_s2d (
        .x(h2_reg[(S2_W > D_W ? D_W : S2_W)-1:0]), .y(s2_d));
    zero_extend #(.IN_W(S1_W > D_W ? D_W : S1_W), .OUT_W(D_W)) u_s1d (
        .x(abs_s1[(S1_W > D_W ? D_W : S1_W)-1:0]), .y(abs_s1_d));
    wire [MR_W-1:0] abs_s1_mr;
    zero_extend #(.IN_W(S1_W), .OUT_W(MR_W)) u_s1mr (.x(abs_s1), .y(abs_s1_mr));
    wire [VN_W-1:0] v_sum;
    zero_extend #(.IN_W(D_W), .OUT_W(VN_W)) u_vsum (.x(dd_reg + E), .y(v_sum));
    wire accept_r = (cand_reg <= LIM);
    localparam [RW-1:0] R_ONE = {{(RW-1){1'b0}}, 1'b1} << P;
    wire [RW-1:0] r_sub = r_reg - R_ONE;        // R' = R - 2**P in [0, 2**P]: R' is what the banks hold
    wire [RPW-1:0] r_prime = r_sub[RPW-1:0];
    wire unused_r_sub = &{1'b0, r_sub[RW-1]};
    // hold bank rotated by one group; next bank with the finished group shifted in at the top
    wire [G*S1_W-1:0] h1_rot, n1_in;
    wire [G*S2_W-1:0] h2_rot;
    wire [G*RPW-1:0]  nr_in;
    wire [G*K_W-1:0]  nk_in;
    generate
        if (G > 1) begin : g_bank_shift
            assign h1_rot = {h1_head, h1_reg[G*S1_W-1:S1_W]};
            assign h2_rot = {h2_reg[S2_W-1:0], h2_reg[G*S2_W-1:S2_W]};
            assign n1_in = {cs1_reg, n1_reg[G*S1_W-1:S1_W]};
            assign nr_in = {r_prime, nr_reg[G*RPW-1:RPW]};
            assign nk_in = {k_reg, nk_reg[G*K_W-1:K_W]};
        end else begin : g_bank_one
            assign h1_rot = h1_reg;
            assign h2_rot = h2_reg;
            assign n1_in = cs1_reg;
            assign nr_in = r_prime;
            assign nk_in = k_reg;
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            cs_reg <= C_IDLE;
            next_full_reg <= 1'b0;
            hold_full_reg <= 1'b0;
        end else begin
            if (st3_v_reg && st3_eof_reg) begin
                h1_reg <= a1_rot;
                h2_reg <= a2_rot;
                hold_full_reg <= 1'b1;
            end
            if (cur_load) next_full_reg <= 1'b0;
            case (cs_reg)
                C_IDLE: begin
                    cg_reg <= {GI_W{1'b0}};
                    if (hold_full_reg && !next_full_reg) cs_reg <= C_LOAD;
                end
                C_LOAD: begin                           // take the hold bank's head group, rotate
                    cs1_reg <= h1_head;
                    mc_reg <= s2_d;
                    mr_reg <= N_MR;
                    dd_reg <= {D_W{1'b0}};
                    cnt_reg <= {CNT_W{1'b0}};
                    h1_reg <= h1_rot;
                    h2_reg <= h2_rot;
                    if (cg_reg == G_LAST) hold_full_reg <= 1'b0;
                    cs_reg <= C_DN;
                end
                C_DN: begin                             // D = N * S2 (shift-add over the bits of N)
                    if (mr_reg[0]) dd_reg <= dd_reg + mc_reg;
                    mc_reg <= mc_reg << 1;
                    mr_reg <= mr_reg >> 1;
                    cnt_reg <= cnt_reg + CNT_ONE;
                    if (cnt_reg == NB_LAST) begin
                        mc_reg <= abs_s1_d;
                        mr_reg <= abs_s1_mr;
                        cnt_reg <= {CNT_W{1'b0}};
                        cs_reg <= C_DS;
                    end
                end
                C_DS: begin                             // D -= |S1| * |S1|
                    if (mr_reg[0]) dd_reg <= dd_reg - mc_reg;
                    mc_reg <= mc_reg << 1;
                    mr_reg <= mr_reg >> 1;
                    cnt_reg <= cnt_reg + CNT_ONE;
                    if (cnt_reg == S1_LAST) cs_reg <= C_VADD;
                end
                C_VADD: begin
                    vn_reg <= v_sum;
                    k_reg <= K_START;
                    cs_reg <= C_VMAX;
                end
                C_VMAX: begin                           // V = max(D + E, 1)
                    if (vn_reg == {VN_W{1'b0}}) vn_reg <= {{(VN_W-1){1'b0}}, 1'b1};
                    cnt_reg <= {CNT_W{1'b0}};
                    cs_reg <= (KMAX > 1) ? C_NORM : C_RINIT;
                end
                C_NORM: begin                           // shift V up by 4 while its top two bits are 0: k
                    if (vn_reg[VN_W-1:VN_W-2] == 2'b00) begin
                        vn_reg <= vn_reg << 2;
                        k_reg <= k_reg - K_ONE;
                    end
                    cnt_reg <= cnt_reg + CNT_ONE;
                    if (cnt_reg == NORM_LAST) cs_reg <= C_RINIT;
                end
                C_RINIT: begin
                    q_reg <= {QW{1'b0}};
                    ts_reg <= {QW{1'b0}};
                    vs_reg <= {{(QW-VN_W){1'b0}}, vn_reg} << (2 * (P + 1));
                    r_reg <= {RW{1'b0}};
                    cnt_reg <= {CNT_W{1'b0}};
                    sub_reg <= 2'd0;
                    cs_reg <= C_RS;
                end
                C_RS: begin                             // bit b = P+1-cnt of R: Q = R*R*V, Ts = R*V << (b+1), Vs = V << 2b
                    case (sub_reg)
                        2'd0: begin
                            tv_reg <= ts_reg + vs_reg;
                            tsv_reg <= (ts_reg >> 1) + vs_reg;
                            sub_reg <= 2'd1;
                        end
                        2'd1: begin
                            cand_reg <= q_reg + tv_reg;
                            sub_reg <= 2'd2;
                        end
                        default: begin
                            if (accept_r) q_reg <= cand_reg;
                            ts_reg <= accept_r ? tsv_reg : (ts_reg >> 1);
                            vs_reg <= vs_reg >> 2;
                            r_reg <= {r_reg[RW-2:0], accept_r};
                            sub_reg <= 2'd0;
                            cnt_reg <= cnt_reg + CNT_ONE;
                            if (cnt_reg == RS_LAST) cs_reg <= C_STORE;
                        end
                    endcase
                end
                C_STORE: begin                          // shift the group's constants into the next bank
                    n1_reg <= n1_in;
                    nr_reg <= nr_in;
                    nk_reg <= nk_in;
                    cg_reg <= cg_reg + GI_ONE;
                    if (cg_reg == G_LAST) begin
                        next_full_reg <= 1'b1;
                        cs_reg <= C_IDLE;
                    end else begin
                        cs_reg <= C_LOAD;
                    end
                end
                default: cs_reg <= C_IDLE;
            endcase
        end
    end

    // ---------------------------------------------------------------- current bank (used by the normalization)
    reg  [G*S1_W-1:0] u1_reg;                   // ring like the accumulator's: entries 0..LG-1 = groups of the slice
    reg  [G*RPW-1:0]  ur_reg;
    reg  [G*K_W-1:0]  uk_reg;
    wire              nm_issue;                 // a slice enters the normalization
    wire              nm_gl;                    // ... and it is its group's last slice
    always @(posedge clk) begin
        if (rst) begin                          // defined values for the first frame of "previous" (d = 0)
            u1_reg <= {(G*S1_W){1'b0}};
            ur_reg <= {(G*RPW){1'b0}};
            uk_reg <= {(G*K_W){1'b0}};
        end else if (cur_load) begin
            u1_reg <= n1_reg;
            ur_reg <= nr_reg;
            uk_reg <= nk_reg;
        end else if (nm_issue && nm_gl) begin
            u1_reg <= u1_rot;
            ur_reg <= ur_rot;
            uk_reg <= uk_rot;
        end
    end
    wire [G*S1_W-1:0] u1_rot;                   // rotated by LG groups
    wire [G*RPW-1:0]  ur_rot;
    wire [G*K_W-1:0]  uk_rot;
    generate
        if (G > LG) begin : g_cur_rot
            assign u1_rot = {u1_reg[LG*S1_W-1:0], u1_reg[G*S1_W-1:LG*S1_W]};
            assign ur_rot = {ur_reg[LG*RPW-1:0], ur_reg[G*RPW-1:LG*RPW]};
            assign uk_rot = {uk_reg[LG*K_W-1:0], uk_reg[G*K_W-1:LG*K_W]};
        end else begin : g_cur_all
            assign u1_rot = u1_reg;
            assign ur_rot = ur_reg;
            assign uk_rot = uk_reg;
        end
    endgenerate

    // ---------------------------------------------------------------- pixel source of the normalization
    wire [C*IN_W-1:0] nm_word;                  // pixel whose slice nm_f is issued
    wire [CF_W-1:0]   nm_f;
    wire              nm_eof;                   // the issued slice is the last of its frame
    wire              nm_zero;                  // d = 0 (first frame after reset of "previous": no statistics yet)
    generate
        if (STATS == 0) begin : g_frame
            // one-frame buffer: a FIFO of PIXELS pixel words, replayed once the frame's constants are ready
            reg                rv_reg;          // rdata holds the pixel word being sliced
            reg                rlast_reg;       // ... the frame's last pixel
            reg                rep_reg;         // replay of a frame is reading pixels
            reg  [PIX_W-1:0]   rp_reg;          // pixel read next
            reg  [CF_W-1:0]    rf_reg;
            reg  [SG_W-1:0]    rsg_reg;
            reg  [PIX_W:0]     count_reg;       // pixels written and not yet read
            localparam [31:0] PIXELS32 = PIXELS;
            localparam [PIX_W:0] FULL = PIXELS32[PIX_W:0];
            localparam [PIX_W:0] CNT1 = 1;
            wire r_issue = en && rv_reg;
            wire rf_last = (rf_reg == CF_LAST);
            wire rp_last = (rp_reg == PIX_LAST);
            wire rd_want = en && rep_reg && (!rv_reg || rf_last);
            wire rd;                            // a pixel word is read (rdata holds it from the next cycle)
            wire rep_start = next_full_reg && !rep_reg && !rv_reg;
            wire [C*IN_W-1:0] rdata;
            if (EXT_FRAME == 0) begin : g_onchip
                wire unused_clearing;
                ram_sdp #(.DATA_W(C*IN_W), .DEPTH(PIXELS), .CLEAR(0)) u_frame (
                    .clk(clk), .rst(rst), .clearing(unused_clearing),
                    .we(accept), .waddr(in_pix_reg), .wdata(s_axis_tdata),
                    .re(rd), .raddr(rp_reg), .rdata(rdata)
                );
                assign rd = rd_want;
                assign fb_ok = 1'b1;
                assign fb_m_axis_tdata = {(C*IN_W){1'b0}};
                assign fb_m_axis_tvalid = 1'b0;
                assign fb_m_axis_tlast = 1'b0;
                assign fb_s_axis_tready = 1'b0;
                wire unused_fb = &{1'b0, fb_m_axis_tready, fb_s_axis_tdata, fb_s_axis_tvalid, fb_s_axis_tlast};
            end else begin : g_external
                reg [C*IN_W-1:0] rdata_reg;     // the replayed word (as the RAM's read register)
                always @(posedge clk) begin
                    if (rd) rdata_reg <= fb_s_axis_tdata;
                end
                assign rdata = rdata_reg;
                assign rd = rd_want && fb_s_axis_tvalid;
                assign fb_s_axis_tready = rd_want;
                assign fb_ok = fb_m_axis_tready;
                assign fb_m_axis_tdata = s_axis_tdata;
                assign fb_m_axis_tvalid = s_axis_tvalid && in_ready;
                assign fb_m_axis_tlast = in_pix_last;
                wire unused_fb = &{1'b0, fb_s_axis_tlast, rp_reg};
            end
            always @(posedge clk) begin
                if (rst) begin
                    rv_reg <= 1'b0;
                    rlast_reg <= 1'b0;
                    rep_reg <= 1'b0;
                    rp_reg <= {PIX_W{1'b0}};
                    rf_reg <= {CF_W{1'b0}};
                    rsg_reg <= {SG_W{1'b0}};
                    count_reg <= {(PIX_W+1){1'b0}};
                end else begin
                    if (rep_start) begin
                        rep_reg <= 1'b1;
                        rp_reg <= {PIX_W{1'b0}};
                    end else if (rd) begin
                        rp_reg <= rp_last ? {PIX_W{1'b0}} : rp_reg + PIX_ONE;
                        if (rp_last) rep_reg <= 1'b0;
                    end
                    if (rd) begin
                        rv_reg <= 1'b1;
                        rlast_reg <= rp_last;
                    end else if (r_issue && rf_last) begin
                        rv_reg <= 1'b0;
                    end
                    if (r_issue) begin
                        rf_reg <= rf_last ? {CF_W{1'b0}} : rf_reg + CF_ONE;
                        rsg_reg <= (rsg_reg == SG_LAST) ? {SG_W{1'b0}} : rsg_reg + SG_ONE;
                    end
                    count_reg <= count_reg + (accept ? CNT1 : {(PIX_W+1){1'b0}}) - (rd ? CNT1 : {(PIX_W+1){1'b0}});
                end
            end
            assign in_go = 1'b1;
            assign accept_ok = (count_reg != FULL);
            assign cur_load = rep_start;
            assign nm_issue = r_issue;
            assign nm_gl = (rsg_reg == SG_LAST);
            assign nm_word = rdata;
            assign nm_f = rf_reg;
            assign nm_eof = rlast_reg && rf_last;
            assign nm_zero = 1'b0;
        end else begin : g_previous
            // on the fly: the input engine's slices are normalized with the previous frame's constants; the
            // first frame after reset has none: it is normalized to d = 0 (y = round(B / 2**S), any k)
            reg cur_ok_reg;                     // the current bank holds constants no frame has used yet
            reg first_reg;                      // the current bank is the reset one
            wire take = accept && (in_pix_reg == {PIX_W{1'b0}});
            always @(posedge clk) begin
                if (rst) begin
                    cur_ok_reg <= 1'b1;
                    first_reg <= 1'b1;
                end else if (cur_load) begin
                    cur_ok_reg <= 1'b1;
                    first_reg <= 1'b0;
                end else if (take) begin
                    cur_ok_reg <= 1'b0;
                end
            end
            assign in_go = en;
            assign accept_ok = en && (cur_ok_reg || (in_pix_reg != {PIX_W{1'b0}}));
            assign fb_ok = 1'b1;
            assign fb_m_axis_tdata = {(C*IN_W){1'b0}};
            assign fb_m_axis_tvalid = 1'b0;
            assign fb_m_axis_tlast = 1'b0;
            assign fb_s_axis_tready = 1'b0;
            wire unused_fb = &{1'b0, fb_m_axis_tready, fb_s_axis_tdata, fb_s_axis_tvalid, fb_s_axis_tlast};
            assign cur_load = next_full_reg && !cur_ok_reg && !in_busy_reg;
            assign nm_issue = in_issue;
            assign nm_gl = in_gl;
            assign nm_word = x_reg;
            assign nm_f = in_f_reg;
            assign nm_eof = x_eof_reg && in_f_last;
            assign nm_zero = first_reg;
        end
    endgenerate

    // ---------------------------------------------------------------- normalization pipeline
    assign prom_en = en;
    assign prom_addr = nm_f[PROM_AW-1:0];
    localparam integer NL = 11;                 // stages 1..11

    // stage 1: slice lanes, group constants of the slice, ROM word arrives
    reg                 n1_v_reg, n1_eof_reg, n1_zero_reg;
    reg  [CF_W-1:0]     n1_f_reg;
    reg  [PE*IN_W-1:0]  n1_x_reg;
    reg  [LG*S1_W-1:0]  n1_s1_reg;
    reg  [LG*RPW-1:0]   n1_r_reg;
    reg  [LG*K_W-1:0]   n1_k_reg;
    // stages 2..6 (per lane below), control
    reg  [NL:2]         nv_reg;                 // valid per stage
    reg  [NL:2]         neof_reg;
    reg  [(NL-1)*CF_W-1:0] nf_reg;              // slice per stage 2..NL (stage st at [(st-2)*CF_W +: CF_W])
    always @(posedge clk) begin
        if (rst) begin
            n1_v_reg <= 1'b0;
            nv_reg <= {(NL-1){1'b0}};
        end else if (en) begin
            n1_v_reg <= nm_issue;
            nv_reg <= {nv_reg[NL-1:2], n1_v_reg};
        end
        if (en) begin
            n1_eof_reg <= nm_eof;
            n1_zero_reg <= nm_zero;
            n1_f_reg <= nm_f;
            n1_x_reg <= nm_word[nm_f*PE*IN_W +: PE*IN_W];
            n1_s1_reg <= u1_reg[LG*S1_W-1:0];
            n1_r_reg <= ur_reg[LG*RPW-1:0];
            n1_k_reg <= uk_reg[LG*K_W-1:0];
            neof_reg <= {neof_reg[NL-1:2], n1_eof_reg};
            nf_reg <= {nf_reg[(NL-2)*CF_W-1:0], n1_f_reg};
        end
    end
    wire [CF_W-1:0] nf_last = nf_reg[(NL-2)*CF_W +: CF_W];

    localparam [31:0] NCONST32 = N;
    localparam signed [DX_W-1:0] NCONST = NCONST32[DX_W-1:0];
    localparam [31:0] ST_MAX32 = ZW + 1;
    localparam [SR_W-1:0] ST_MAX = ST_MAX32[SR_W-1:0];
    wire [PE*OUT_W-1:0] y_lanes;                // stage NL outputs of the lanes
    generate
        for (j = 0; j < PE; j = j + 1) begin : g_lane
            localparam integer LGI = j / LC;    // lane group of lane j
            // stage 2: d = N*x - S1, decoded parameter word
            wire [IN_W-1:0] xv = n1_x_reg[j*IN_W +: IN_W];
            wire signed [XE_W-1:0] xe = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
            wire [DX_W-1:0] xd, s1d;
            sign_resize #(.IN_W(XE_W), .OUT_W(DX_W)) u_xd (.x(xe), .y(xd));
            sign_resize #(.IN_W(S1_W), .OUT_W(DX_W)) u_s1d (.x(n1_s1_reg[LGI*S1_W +: S1_W]), .y(s1d));
            wire signed [B_W-1:0] bias;
            wire [M_W-1:0] m2;
            wire [S_W-1:0] s2;
            param_word #(.BIAS_W(B_W), .M_W(M_W), .S_W(S_W)) u_prm (
                .clk(clk), .load(en), .word(prom_data[j*FW +: FW]), .bias(bias), .m(m2), .s(s2)
            );
            reg signed [DX_W-1:0]  d2_reg;
            reg signed [B_W-1:0]   b2_reg, b3_reg, b4_reg;
            reg        [RPW-1:0]   r2_reg, r3_reg;
            reg        [K_W-1:0]   k2_reg, k3_reg, k4_reg;
            reg        [S_W-1:0]   s3_reg, s4_reg;
            reg        [UW-1:0]    bk5_reg;
            reg        [ST_W-1:0]  st5_reg;
            reg signed [DM_W-1:0]  dm3_reg, dm4_reg;
            reg signed [QP_W-1:0]  q4_reg;
            reg signed [ACC_W-1:0] p5_reg;
            reg        [ZW-1:0]    z6_reg;
            reg        [ST_W-1:0]  st6_reg;
            reg        [OUT_W-1:0] y_reg;
            wire signed [DX_W-1:0] nx = $signed(xd) * NCONST;
            // stage 3: d*M; stage 4: (d*M)*R' with R' = R - 2**P (P+1 bits: one multiplier column less than R)
            wire signed [DM_W-1:0] d_x = {{(DM_W-DX_W){d2_reg[DX_W-1]}}, d2_reg};
            wire signed [DM_W-1:0] m_x = {{(DM_W-M_W){m2[M_W-1]}}, m2};
            wire signed [QP_W-1:0] dm_x = {{(QP_W-DM_W){dm3_reg[DM_W-1]}}, dm3_reg};
            wire signed [QP_W-1:0] r_x = {{(QP_W-RPW){1'b0}}, r3_reg};
            // stage 5: p = d*M*R = (d*M)*R' + ((d*M) << P), exact modulo 2**ACC_W (|p| fits ACC_W bits)
            wire [ACC_W-1:0] q_fit, dm_fit;
            sign_resize #(.IN_W(QP_W), .OUT_W(ACC_W)) u_qfit (.x(q4_reg), .y(q_fit));
            sign_resize #(.IN_W(DM_W), .OUT_W(ACC_W)) u_dmfit (.x(dm4_reg), .y(dm_fit));
            // stage 5 also: B << k and the shift S + k + 1 (clamped: beyond ZW + 1 the result is 0 either way);
            // stage 6: z = 2*(floor(p / 2**P) + (B << k)) + sticky
            wire [BK_W-1:0] b_ext = {{KMAX{b4_reg[B_W-1]}}, b4_reg};
            wire [BK_W-1:0] bk = b_ext << k4_reg;
            wire [UW-1:0] bk_u;
            sign_resize #(.IN_W(BK_W), .OUT_W(UW)) u_bku (.x(bk), .y(bk_u));
            wire [UW-1:0] u = p5_reg[ACC_W-1:P] + bk5_reg;
            wire sticky;
            if (P > 0) begin : g_sticky
                assign sticky = |p5_reg[P-1:0];
            end else begin : g_nosticky
                assign sticky = 1'b0;
            end
            wire [SR_W-1:0] s_raw = {{(SR_W-S_W){1'b0}}, s4_reg} + {{(SR_W-K_W){1'b0}}, k4_reg} + {{(SR_W-1){1'b0}}, 1'b1};
            wire [SR_W-1:0] s_cl = (s_raw > ST_MAX) ? ST_MAX : s_raw;
            wire [ST_W-1:0] s_fit;              // s_cl < 2**(SR_W-1): resizing keeps its value
            sign_resize #(.IN_W(SR_W), .OUT_W(ST_W)) u_sfit (.x(s_cl), .y(s_fit));
            // stages 7..10: round, clamp (requant_pipe, M = 1, four stages); stage 11: ReLU
            wire [OUT_W-1:0] yq;
            requant_pipe #(.ACC_W(ZW), .M_W(1), .S_W(ST_W), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .PIPELINED(1)) u_rq (
                .clk(clk), .en(en), .acc(z6_reg), .m(1'b1), .s(st6_reg), .y(yq)
            );
            wire y_neg = (OUT_SIGNED != 0) && (RELU != 0) && yq[OUT_W-1];
            always @(posedge clk) begin
                if (en) begin
                    d2_reg <= n1_zero_reg ? {DX_W{1'b0}} : nx - $signed(s1d);
                    b2_reg <= bias;
                    r2_reg <= n1_r_reg[LGI*RPW +: RPW];
                    k2_reg <= n1_k_reg[LGI*K_W +: K_W];
                    dm3_reg <= d_x * m_x;
                    b3_reg <= b2_reg;
                    r3_reg <= r2_reg;
                    k3_reg <= k2_reg;
                    s3_reg <= s2;
                    q4_reg <= dm_x * r_x;
                    dm4_reg <= dm3_reg;
                    b4_reg <= b3_reg;
                    k4_reg <= k3_reg;
                    s4_reg <= s3_reg;
                    p5_reg <= q_fit + (dm_fit << P);
                    bk5_reg <= bk_u;
                    st5_reg <= s_fit;
                    z6_reg <= {u, sticky};
                    st6_reg <= st5_reg;
                    y_reg <= y_neg ? {OUT_W{1'b0}} : yq;
                end
            end
            assign y_lanes[j*OUT_W +: OUT_W] = y_reg;
        end
    endgenerate

    // ---------------------------------------------------------------- output vector and queue
    // slices 0..CF-2 of a pixel wait in `part`; the last slice joins them when the beat is queued
    reg  [C*OUT_W-1:0] part_reg;
    wire [C*OUT_W-1:0] beat;
    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_out
            localparam [31:0] SL32 = c / PE;
            localparam [CF_W-1:0] SL = SL32[CF_W-1:0];
            always @(posedge clk) begin
                if (en && nv_reg[NL] && nf_last == SL) part_reg[c*OUT_W +: OUT_W] <= y_lanes[(c % PE)*OUT_W +: OUT_W];
            end
            assign beat[c*OUT_W +: OUT_W] = (nf_last == SL) ? y_lanes[(c % PE)*OUT_W +: OUT_W] : part_reg[c*OUT_W +: OUT_W];
        end
    endgenerate

    axis_out_queue #(.DATA_W(C*OUT_W)) u_queue (
        .clk(clk), .rst(rst), .push(en && nv_reg[NL] && (nf_last == CF_LAST)), .push_data(beat),
        .push_last(neof_reg[NL]), .full(q_full),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
endmodule
`default_nettype wire
