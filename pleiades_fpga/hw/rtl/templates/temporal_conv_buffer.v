`timescale 1ns/1ps
`default_nettype none
// temporal_conv_buffer: PLEIADES temporal convolution (full or depthwise) over a stream of frames.
//
// Keeps the last K-1 frames of every pixel in an on-chip circular buffer (block RAM, one word =
// one pixel with all C_IN channels, address = slot*PIXELS + pixel). The write pointer (slot of
// the oldest frame) advances when the pixel carrying tlast has been consumed. For each input pixel
//   y[o] = requant(bias[o] + sum_k sum_i w[o, i, k] * x[t-K+1+k][i])      (tap 0 = oldest frame)
// (depthwise: only i = o). Reset clears the history to zeros (causal zero padding): it takes
// PIXELS*(K-1) cycles with s_axis_tready low. K = 1 gives a pointwise matrix-vector unit.
//
// Folding: each cycle computes PE output channels x SIMD input channels (depthwise: PE channels),
// so a pixel takes ceil(C_OUT/PE) * K * ceil(C_IN/SIMD) cycles (depthwise ceil(C/PE) * K);
// loop order: output group (outer), tap, input group (inner). Input pixels are accepted back to back.
//
// ROM ports (synchronous reads with enable; see pleiades_fpga/hw/rtl/rom.py): the weight ROM reads in 2 cycles
// (rom_verilog read_stages = 2; address = the step's index at issue, word at stage H), the parameter ROM in 1:
//   weight ROM word (o*K + k)*NI + i, lane j*SIMD + s = w[o*PE + j, i*SIMD + s, k]   (depthwise:
//   word o*K + k, lane j = w[o*PE + j, k]), W_W-bit signed lanes;
//   parameter ROM word o, lane j = {s (S_W), m (M_W), bias (BIAS_W, signed)} of channel o*PE + j.
// Requantization: requant.v (round half to even, clamp; OUT_SIGNED = 0 fuses ReLU).
// Grouped pointwise (GROUP_IN = G > 0, K = 1, DEPTHWISE = 0; the readout of a recurrent temporal layer):
// C_IN = C_OUT * G, output o reads inputs o*G .. o*G+G-1 only; steps ceil(C_OUT/PE) * ceil(G/SIMD) per
// pixel; weight ROM as for a full layer of G inputs (word o*NI + i, lane j*SIMD + s = w[o*PE+j, i*SIMD+s],
// zero past G), lane j of step (o, i) multiplies input (o*PE + j)*G + i*SIMD + s.
// Pipeline: 2-beat input queue -> step issue -> stage 1 (history read) -> stage H (history word registered out
// of the block RAM, weight ROM word) -> stage O (operands selected and registered) -> mac_lane's stages M
// (multiplier operands), P, Q (products), T1, T2 (adder tree) -> accumulate -> R1..R4 (requant_pipe) -> output
// queue; a pixel's beat is valid K*NI*NO + 14 cycles after its input handshake (cycles.mac_latency).
// Stalls: the whole pipeline holds while its 2-beat output queue is full; s_axis_tready (the input queue's
// free entry) and the pipeline enable come from registers only (no combinational path from m_axis_tready
// or from the step counters to the producer). The enable is the queue's `full` register for the control and
// one register per PE lane for that lane's data path and one for the history's read port (each an exact copy:
// loaded with the queue's next `full`), so no single net drives the clock enables of every lane.
module temporal_conv_buffer #(
    parameter integer C_IN = 4,                 // input channels
    parameter integer C_OUT = 4,                // output channels
    parameter integer K = 3,                    // temporal taps (frames); 1 = pointwise
    parameter integer PIXELS = 16,              // pixels per frame (H*W)
    parameter integer DEPTHWISE = 0,            // 1: output o reads input o only (C_IN = C_OUT, SIMD = 1)
    parameter integer GROUP_IN = 0,             // > 0: grouped pointwise, G inputs per output (K = 1)
    parameter integer PE = 2,                   // output channels per step
    parameter integer SIMD = 2,                 // input channels per step
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
    // derived (do not override)
    parameter integer NO = (C_OUT + PE - 1) / PE,
    parameter integer NI = (DEPTHWISE != 0) ? 1 : (GROUP_IN > 0) ? (GROUP_IN + SIMD - 1) / SIMD : (C_IN + SIMD - 1) / SIMD,
    parameter integer WLANES = (DEPTHWISE != 0) ? PE : PE * SIMD,
    parameter integer STEPS = NO * K * NI,
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
    input  wire [WLANES*W_W-1:0]     wrom_data,
    output wire                      prom_en,
    output wire [PROM_AW-1:0]        prom_addr,
    input  wire [PE*FW-1:0]          prom_data
);
    // ---------------------------------------------------------------- parameter checks (elaboration)
    generate
        if (C_IN < 1 || C_OUT < 1 || K < 1 || PIXELS < 1 || PE < 1 || SIMD < 1) begin : g_check_sizes
            PARAMETER_ERROR_temporal_conv_buffer_C_IN_C_OUT_K_PIXELS_PE_SIMD_must_be_at_least_1 u_error ();
        end
        if (IN_W < 1 || W_W < 1 || OUT_W < 1 || ACC_W < 1) begin : g_check_widths
            PARAMETER_ERROR_temporal_conv_buffer_IN_W_W_W_OUT_W_ACC_W_must_be_at_least_1 u_error ();
        end
        if (DEPTHWISE != 0 && (C_IN != C_OUT || SIMD != 1)) begin : g_check_dw
            PARAMETER_ERROR_temporal_conv_buffer_DEPTHWISE_needs_C_IN_equal_C_OUT_and_SIMD_1 u_error ();
        end
        if (PE > C_OUT || (DEPTHWISE == 0 && SIMD > C_IN)) begin : g_check_fold
            PARAMETER_ERROR_temporal_conv_buffer_PE_must_be_at_most_C_OUT_and_SIMD_at_most_C_IN u_error ();
        end
        if (GROUP_IN > 0 && (K != 1 || DEPTHWISE != 0 || C_IN != C_OUT * GROUP_IN)) begin : g_check_group
            PARAMETER_ERROR_temporal_conv_buffer_GROUP_IN_needs_K_1_no_DEPTHWISE_and_C_IN_equal_C_OUT_times_GROUP_IN u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- derived sizes
    localparam integer XS = (DEPTHWISE != 0) ? PE : SIMD;           // input lanes per step
    localparam integer MS = (DEPTHWISE != 0) ? 1 : SIMD;            // products per PE lane
    localparam integer XN = (DEPTHWISE != 0) ? NO : (C_IN + SIMD - 1) / SIMD;  // input slices per pixel
    localparam integer PW = IN_W + 1 + W_W;                         // exact product width
    localparam integer AW1 = (ACC_W > PW) ? ACC_W : PW;
    localparam integer AW = (AW1 > BIAS_W) ? AW1 : BIAS_W;          // internal accumulator width
    localparam integer NO_W = (NO > 1) ? $clog2(NO) : 1;
    localparam integer NI_W = (NI > 1) ? $clog2(NI) : 1;
    localparam integer K_W = (K > 1) ? $clog2(K) : 1;
    localparam integer XN_W = (XN > 1) ? $clog2(XN) : 1;
    localparam integer PIX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam [31:0] NO_LAST32 = NO - 1;
    localparam [31:0] NI_LAST32 = NI - 1;
    localparam [31:0] K_LAST32 = K - 1;
    localparam [31:0] PIX_LAST32 = PIXELS - 1;
    localparam [NO_W-1:0] NO_LAST = NO_LAST32[NO_W-1:0];
    localparam [NI_W-1:0] NI_LAST = NI_LAST32[NI_W-1:0];
    localparam [K_W-1:0] K_LAST = K_LAST32[K_W-1:0];
    localparam [PIX_W-1:0] PIX_LAST = PIX_LAST32[PIX_W-1:0];
    localparam [WROM_AW-1:0] STEP_ONE = 1;
    localparam [NO_W-1:0] NO_ONE = 1;
    localparam [NI_W-1:0] NI_ONE = 1;
    localparam [K_W-1:0] K_ONE = 1;
    localparam [PIX_W-1:0] PIX_ONE = 1;

    // ---------------------------------------------------------------- stall control
    // Output beats go through a 2-entry queue (axis_out_queue). The pipeline advances
    // while the skid is empty, so s_axis_tready does not depend combinationally on m_axis_tready.
    wire q_full;                                // skid entry of the output queue in use
    wire en = !q_full;                          // pipeline advances (control; the PE lanes have copies: en_lane)
    // the queue's `full` one edge ahead (from its ports: a push fills the skid entry when the head stays, a pop
    // with no push empties it), loaded into the lane copies of the enable
    wire q_push;                                // a beat enters the output queue
    wire q_full_next = q_push ? (q_full || (m_axis_tvalid && !m_axis_tready))
                              : (q_full && !(m_axis_tvalid && m_axis_tready));

    // ---------------------------------------------------------------- stage 0: input pixel, step counters
    reg                   busy;                 // x_reg holds a pixel being processed
    reg  [C_IN*IN_W-1:0]  x_reg;
    reg                   x_last;
    reg  [NO_W-1:0]       of_c;
    reg  [K_W-1:0]        k_c;
    reg  [NI_W-1:0]       if_c;
    reg  [WROM_AW-1:0]    step_c;
    reg  [PIX_W-1:0]      pix;
    wire                  clearing;             // history clear after reset (from g_hist)

    wire last_if = (if_c == NI_LAST);
    wire last_k = (k_c == K_LAST);
    wire last_of = (of_c == NO_LAST);
    // last_if && last_k && last_of as a register: step_c is the step's linear index, so the next step is the last
    // one when step_c + 1 == STEPS - 1 (the input handshake and the history write hang on this flag)
    localparam [31:0] STEPS_LAST2_32 = (STEPS > 1) ? STEPS - 2 : 0;
    localparam [WROM_AW-1:0] STEPS_LAST2 = STEPS_LAST2_32[WROM_AW-1:0];
    reg  last_step_reg;
    wire last_step = last_step_reg;
    wire issue = en && busy;
    wire frame_end = issue && last_step && x_last;

    // input skid queue: s_axis_tready is a register (no path from the step counters and the output queue to
    // the producer, which may sit across the chip); a beat waits in it at most until the current pixel's last step
    wire [C_IN*IN_W-1:0] in_data;
    wire in_valid, in_last, inq_full;
    wire take = !clearing && en && (!busy || last_step);
    assign s_axis_tready = !inq_full && !clearing && !rst;
    axis_out_queue #(.DATA_W(C_IN*IN_W)) u_inq (
        .clk(clk), .rst(rst), .push(s_axis_tvalid && s_axis_tready), .push_data(s_axis_tdata),
        .push_last(s_axis_tlast), .full(inq_full),
        .m_axis_tdata(in_data), .m_axis_tvalid(in_valid), .m_axis_tready(take), .m_axis_tlast(in_last)
    );
    wire accept = in_valid && take;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            x_last <= 1'b0;
            of_c <= {NO_W{1'b0}};
            k_c <= {K_W{1'b0}};
            if_c <= {NI_W{1'b0}};
            step_c <= {WROM_AW{1'b0}};
            last_step_reg <= (STEPS == 1);
            pix <= {PIX_W{1'b0}};
        end else begin
            if (accept) begin
                busy <= 1'b1;
                x_last <= in_last;
            end else if (issue && last_step) begin
                busy <= 1'b0;
            end
            if (issue) begin
                step_c <= last_step ? {WROM_AW{1'b0}} : step_c + STEP_ONE;
                last_step_reg <= last_step ? (STEPS == 1) : (step_c == STEPS_LAST2);
                if (last_if) begin
                    if_c <= {NI_W{1'b0}};
                    if (last_k) begin
                        k_c <= {K_W{1'b0}};
                        of_c <= last_of ? {NO_W{1'b0}} : of_c + NO_ONE;
                    end else begin
                        k_c <= k_c + K_ONE;
                    end
                end else begin
                    if_c <= if_c + NI_ONE;
                end
                if (last_step) begin
                    pix <= (x_last || pix == PIX_LAST) ? {PIX_W{1'b0}} : pix + PIX_ONE;
                end
            end
        end
        if (accept) x_reg <= in_data;           // data register: no reset (busy tells whether it holds a pixel)
    end

    // zero-padded input pixel, split in XN slices of XS lanes
    wire [XN*XS*IN_W-1:0] x_pad;
    zero_extend #(.IN_W(C_IN*IN_W), .OUT_W(XN*XS*IN_W)) u_xpad (.x(x_reg), .y(x_pad));
    wire [XN_W-1:0] sel0;
    generate
        if (DEPTHWISE != 0) begin : g_sel_dw
            assign sel0 = of_c;
        end else if (GROUP_IN > 0) begin : g_sel_grp       // grouped lanes come from xg1 instead
            assign sel0 = {XN_W{1'b0}};
        end else begin : g_sel_full
            assign sel0 = if_c;
        end
    endgenerate

    // ---------------------------------------------------------------- circular history buffer
    wire [XN*XS*IN_W-1:0] hist_pad;              // history word, zero-padded like x_pad (0 when K = 1)
    generate
        if (K > 1) begin : g_hist
            localparam integer SLOTS = K - 1;
            localparam integer DEPTH = SLOTS * PIXELS;
            localparam integer MAW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
            localparam integer SL_W = (SLOTS > 1) ? $clog2(SLOTS) : 1;
            localparam [31:0] SL_LAST32 = SLOTS - 1;
            localparam [31:0] PIX_STEP32 = PIXELS;
            localparam [SL_W-1:0] SL_LAST = SL_LAST32[SL_W-1:0];
            localparam [SL_W-1:0] SL_ONE = 1;
            localparam [MAW-1:0] PIX_STEP = PIX_STEP32[MAW-1:0];

            reg [SL_W-1:0] wp, rd_slot;         // slot of the oldest frame; slot read by this step
            reg [MAW-1:0]  wp_base, rd_base;    // slot * PIXELS

            wire           wp_wrap = (wp == SL_LAST);
            wire [SL_W-1:0] wp_adv = wp_wrap ? {SL_W{1'b0}} : wp + SL_ONE;
            wire [MAW-1:0] wp_base_adv = wp_wrap ? {MAW{1'b0}} : wp_base + PIX_STEP;
            wire           rd_wrap = (rd_slot == SL_LAST);
            wire [MAW-1:0] pix_x = {{(MAW-PIX_W){1'b0}}, pix};

            always @(posedge clk) begin
                if (rst) begin
                    wp <= {SL_W{1'b0}};
                    rd_slot <= {SL_W{1'b0}};
                    wp_base <= {MAW{1'b0}};
                    rd_base <= {MAW{1'b0}};
                end else if (issue) begin
                    if (frame_end) begin
                        wp <= wp_adv;
                        wp_base <= wp_base_adv;
                    end
                    if (last_if && last_k) begin           // next output group restarts at the oldest slot
                        rd_slot <= frame_end ? wp_adv : wp;
                        rd_base <= frame_end ? wp_base_adv : wp_base;
                    end else if (last_if) begin            // next tap
                        rd_slot <= rd_wrap ? {SL_W{1'b0}} : rd_slot + SL_ONE;
                        rd_base <= rd_wrap ? {MAW{1'b0}} : rd_base + PIX_STEP;
                    end
                end
            end

            // one write port (the current pixel after its last step), one read port; reset clears it. The read
            // enable (every bank's output register) is a copy of en of its own (keep: not merged with en_lane)
            reg en_hist_reg;
            (* keep *) always @(posedge clk) begin
                if (rst) en_hist_reg <= 1'b1;
                else en_hist_reg <= !q_full_next;
            end
            wire [C_IN*IN_W-1:0] hist_rdata;
            // registered block-RAM outputs: the word of a step's read arrives at stage H (two enabled edges).
            // RW_CHECK = 0: the only read of the word written on the same edge is the pixel's last step, whose tap
            // (K-1) is the current pixel (xcurh), not the history word, so no read-during-write emulation is needed.
            // WR_REG = 1 (the write lands one edge later: the block RAMs' write enables start from registers, not from
            // the step logic) when a frame has >= 2 pixels: the word (slot, pixel) is read again only for the same pixel
            // of a later frame, >= PIXELS * K cycles on, and the next pixel's reads (pixel + 1, any slot) are other
            // addresses; with one pixel per frame the next pixel reads that word at once, so the write stays direct
            ram_sdp #(.DATA_W(C_IN*IN_W), .DEPTH(DEPTH), .CLEAR(1), .OUT_REG(1), .RW_CHECK(0),
                      .WR_REG((PIXELS > 1) ? 1 : 0)) u_hist (
                .clk(clk), .rst(rst), .clearing(clearing),
                .we(issue && last_step), .waddr(wp_base + pix_x), .wdata(x_reg),
                .re(en_hist_reg), .raddr(rd_base + pix_x), .rdata(hist_rdata)
            );
            zero_extend #(.IN_W(C_IN*IN_W), .OUT_W(XN*XS*IN_W)) u_hpad (.x(hist_rdata), .y(hist_pad));
        end else begin : g_nohist
            assign hist_pad = {(XN*XS*IN_W){1'b0}};     // a constant here, so the tap mux folds away
            assign clearing = 1'b0;
            wire unused_nohist = &{1'b0, frame_end};   // no history to advance
        end
    endgenerate

    // ---------------------------------------------------------------- stage 1: history read, current slice
    reg                 v1, first1, last1, cur1, eof1;
    reg  [NO_W-1:0]     of1;
    reg  [XN_W-1:0]     sel1;
    reg  [XS*IN_W-1:0]  xcur1;                  // slice of the current pixel (tap K-1)
    assign wrom_en = en;
    assign wrom_addr = step_c;                  // 2-cycle weight ROM: read at stage 1, output register at stage H

    always @(posedge clk) begin
        if (rst) begin
            v1 <= 1'b0;
        end else if (en) begin
            v1 <= busy;
        end
        if (en) begin                           // data registers: no reset (their valid bit is v1)
            first1 <= (k_c == {K_W{1'b0}}) && (if_c == {NI_W{1'b0}});
            last1 <= last_if && last_k;
            cur1 <= last_k;
            eof1 <= last_step && x_last;
            of1 <= of_c;
            sel1 <= sel0;
            xcur1 <= x_pad[sel0*XS*IN_W +: XS*IN_W];
        end
    end

    // ---------------------------------------------------------------- stage H: registered history word
    reg                 vh, firsth, lasth, curh, eofh;
    reg  [NO_W-1:0]     ofh;
    reg  [XN_W-1:0]     selh;
    reg  [XS*IN_W-1:0]  xcurh;
    always @(posedge clk) begin
        if (rst) begin
            vh <= 1'b0;
        end else if (en) begin
            vh <= v1;
        end
        if (en) begin
            firsth <= first1;
            lasth <= last1;
            curh <= cur1;
            eofh <= eof1;
            ofh <= of1;
            selh <= sel1;
            xcurh <= xcur1;
        end
    end

    wire [XS*IN_W-1:0] xsrc1 = curh ? xcurh : hist_pad[selh*XS*IN_W +: XS*IN_W];

    // grouped pointwise: the PE x SIMD input lanes of this step, registered like xcur1 (and xcurh)
    localparam integer XO_W = (GROUP_IN > 0) ? PE * SIMD * IN_W : XS * IN_W;   // operand lanes per step
    wire [XO_W-1:0] xop1;                       // the operand lanes of this step (stage H)
    generate
        if (GROUP_IN > 0) begin : g_grp
            localparam integer GP = NO * PE * GROUP_IN + SIMD;   // padded so that every lane index is in range
            wire [GP*IN_W-1:0] xg_pad;
            zero_extend #(.IN_W(C_IN*IN_W), .OUT_W(GP*IN_W)) u_gpad (.x(x_reg), .y(xg_pad));
            reg  [PE*SIMD*IN_W-1:0] xg_r, xg_h;
            genvar gj, gs;
            for (gj = 0; gj < PE; gj = gj + 1) begin : g_gl
                for (gs = 0; gs < SIMD; gs = gs + 1) begin : g_gs
                    always @(posedge clk) begin
                        if (en) xg_r[(gj*SIMD + gs)*IN_W +: IN_W] <=
                            xg_pad[((of_c*PE + gj)*GROUP_IN + if_c*SIMD + gs)*IN_W +: IN_W];
                    end
                end
            end
            always @(posedge clk) begin
                if (en) xg_h <= xg_r;
            end
            assign xop1 = xg_h;
            wire unused_xsrc = &{1'b0, xsrc1};                  // grouped lanes come from xg_r only
        end else begin : g_nogrp
            assign xop1 = xsrc1;
        end
    endgenerate

    // ---------------------------------------------------------------- stage O: registered operands
    // The memory outputs (and the multiplexers of block-RAM segments and of the tap/slice select) end in
    // registers here, so the multipliers of stage P start from registers only. The activations are registered
    // per PE lane (xl_reg in g_pe): a lane's own copy drives only its own multipliers.
    reg                  vo, firsto, lasto, eofo;
    reg         [NO_W-1:0] ofo;
    reg         [WLANES*W_W-1:0] wo;
    always @(posedge clk) begin
        if (rst) begin
            vo <= 1'b0;
        end else if (en) begin
            vo <= vh;
        end
        if (en) begin
            firsto <= firsth;
            lasto <= lasth;
            eofo <= eofh;
            ofo <= ofh;
            wo <= wrom_data;
        end
    end

    // ---------------------------------------------------------------- stages M, P, Q, T1, T2 (mac_lane)
    // Step flags delayed along mac_lane's stages (index 0 .. 4 = M, P, Q, T1, T2). The parameter ROM is read one
    // stage ahead of T1 (address = output group of stage Q) and registered at T2.
    localparam integer FS = 5;
    reg         [FS-1:0] fv, ffirst, flast, feof;
    reg         [FS*NO_W-1:0] fof;
    reg         [PE*FW-1:0] prt2;                               // parameter ROM word of the stage-T2 group
    assign prom_en = en;
    assign prom_addr = fof[2*NO_W +: NO_W];
    always @(posedge clk) begin
        if (rst) begin
            fv <= {FS{1'b0}};
        end else if (en) begin
            fv <= {fv[FS-2:0], vo};
        end
        if (en) begin
            ffirst <= {ffirst[FS-2:0], firsto};
            flast <= {flast[FS-2:0], lasto};
            feof <= {feof[FS-2:0], eofo};
            fof <= {fof[0 +: (FS-1)*NO_W], ofo};
            prt2 <= prom_data;
        end
    end
    wire            vt2 = fv[FS-1];
    wire            lastt2 = flast[FS-1];
    wire            eoft2 = feof[FS-1];
    wire [NO_W-1:0] oft2 = fof[(FS-1)*NO_W +: NO_W];
    wire unused_flags = &{1'b0, ffirst, flast[FS-3:0], feof[FS-2:0], fof[0 +: 2*NO_W], fof[3*NO_W +: NO_W]};

    wire signed [AW-1:0] acc [0:PE-1];
    wire        [M_W-1:0] m2 [0:PE-1];
    wire        [S_W-1:0] s2 [0:PE-1];

    wire [PE-1:0] en_lane;                      // per-lane copies of en

    genvar j;
    generate
        for (j = 0; j < PE; j = j + 1) begin : g_pe
            wire [MS*IN_W-1:0] xl_d;                                // input lanes of this PE lane (stage H)
            if (GROUP_IN > 0) begin : g_xg
                assign xl_d = xop1[j*SIMD*IN_W +: MS*IN_W];
            end else if (DEPTHWISE != 0) begin : g_xdw
                assign xl_d = xop1[j*IN_W +: IN_W];
            end else begin : g_xfull
                assign xl_d = xop1[0 +: MS*IN_W];
            end
            // this lane's enable (= en) and stage-T2 flags: keep: Yosys must not merge the lanes' equal copies
            reg en_reg, v_reg, first_reg, last_reg;
            (* keep *) always @(posedge clk) begin
                if (rst) begin
                    en_reg <= 1'b1;
                    v_reg <= 1'b0;
                end else begin
                    en_reg <= !q_full_next;
                    if (en_reg) v_reg <= fv[FS-2];
                end
                if (en_reg) begin
                    first_reg <= ffirst[FS-2];
                    last_reg <= flast[FS-2];
                end
            end
            assign en_lane[j] = en_reg;
            // stage O operands of this lane (keep, as above)
            reg [MS*IN_W-1:0] xl_reg;
            (* keep *) always @(posedge clk) begin
                if (en_reg) xl_reg <= xl_d;
            end
            wire signed [BIAS_W-1:0] bias;
            param_word #(.BIAS_W(BIAS_W), .M_W(M_W), .S_W(S_W)) u_prm (
                .clk(clk), .load(en_reg && v_reg && last_reg), .word(prt2[j*FW +: FW]), .bias(bias), .m(m2[j]),
                .s(s2[j])
            );
            // products, adder tree and accumulator (shared with conv3x3_stream)
            wire [MS*W_W-1:0] wl = wo[j*MS*W_W +: MS*W_W];
            mac_lane #(
                .MS(MS), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .W_W(W_W), .BIAS_W(BIAS_W), .ACC_W(AW), .MAC_MODE(MAC_MODE),
                .MUL_CELL(MUL_CELL)
            ) u_mac (
                .clk(clk), .en(en_reg), .x(xl_reg), .w(wl), .acc_load(v_reg), .first(first_reg), .bias(bias),
                .acc(acc[j])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- stages R1..R4: requantize
    // v2: the accumulator of an output group is final; requant_pipe takes RQ_STAGES enabled edges.
    localparam integer RQ_STAGES = 4;           // requant_pipe's register stages (PIPELINED = 1)
    reg                   v2, eof2;
    reg         [NO_W-1:0] of2;
    reg         [RQ_STAGES-1:0] vr;
    reg         [RQ_STAGES*NO_W-1:0] ofr;
    reg         [RQ_STAGES-1:0] eofr;
    always @(posedge clk) begin
        if (rst) begin
            v2 <= 1'b0;
            vr <= {RQ_STAGES{1'b0}};
        end else if (en) begin
            v2 <= vt2 && lastt2;
            vr <= {vr[RQ_STAGES-2:0], v2};
        end
        if (en) begin
            if (vt2 && lastt2) begin
                of2 <= oft2;
                eof2 <= eoft2;
            end
            ofr <= {ofr[0 +: (RQ_STAGES-1)*NO_W], of2};
            eofr <= {eofr[RQ_STAGES-2:0], eof2};
        end
    end
    wire            v3 = vr[RQ_STAGES-1];
    wire [NO_W-1:0] of3 = ofr[(RQ_STAGES-1)*NO_W +: NO_W];
    wire            eof3 = eofr[RQ_STAGES-1];

    wire [OUT_W-1:0] rq [0:PE-1];
    generate
        for (j = 0; j < PE; j = j + 1) begin : g_rq
            requant_pipe #(.ACC_W(AW), .M_W(M_W), .S_W(S_W), .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .PIPELINED(1)) u_rq (
                .clk(clk), .en(en_lane[j]), .acc(acc[j]), .m(m2[j]), .s(s2[j]), .y(rq[j])
            );
        end
    endgenerate

    // partial output vector: groups 0..NO-2 wait here; the last group joins them when the beat is queued
    reg  [C_OUT*OUT_W-1:0] part;
    wire [C_OUT*OUT_W-1:0] beat;
    genvar c;
    generate
        for (c = 0; c < C_OUT; c = c + 1) begin : g_out
            localparam [31:0] GRP32 = c / PE;
            localparam [NO_W-1:0] GRP = GRP32[NO_W-1:0];
            always @(posedge clk) begin
                if (en && v3 && of3 == GRP) part[c*OUT_W +: OUT_W] <= rq[c % PE];
            end
            assign beat[c*OUT_W +: OUT_W] = (of3 == GRP) ? rq[c % PE] : part[c*OUT_W +: OUT_W];
        end
    endgenerate

    assign q_push = en && v3 && (of3 == NO_LAST);
    axis_out_queue #(.DATA_W(C_OUT*OUT_W)) u_queue (
        .clk(clk), .rst(rst), .push(q_push), .push_data(beat), .push_last(eof3),
        .full(q_full),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
endmodule
`default_nettype wire
