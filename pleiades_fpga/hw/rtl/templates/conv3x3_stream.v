`timescale 1ns/1ps
`default_nettype none
// conv3x3_stream: streaming spatial 3x3 convolution, zero padding 1, stride 1 or 2,
// full (C -> K) or depthwise (groups = C, K = C), PE x SIMD folding, bias, requant.
//
// Streams (AXI-Stream, one beat = one pixel with all channels, channel c at [c*BITS +: BITS],
// raster order, tlast on the last pixel of a frame):
//   input  H  x W  x C, IN_BITS per channel (signed if IN_SIGNED else unsigned)
//   output HO x WO x K, OUT_BITS per channel, HO = (H-1)/STRIDE+1, WO = (W-1)/STRIDE+1,
//   y[oy][ox][k] = requant_k(bias[k] + sum_{ky,kx,c} w[k][c][ky][kx] * x[oy*S+ky-1][ox*S+kx-1][c])
//   (x outside the frame = 0; depthwise: only c = k).
// Line buffer: NS = 3 (stride 1) or 4 (stride 2) rows of W pixels x C channels, row slots used
// circularly across frames. The input overwrites a row only once the engine no longer needs it
// (column-exact), so the input runs ahead of the window (also into the next frame) and the engine
// does not wait for input in steady state (one row more than the 3x3 window for stride 2, where the
// next output row needs two new input rows), except for a cycle or two at some row starts of frames
// only 1..4 pixels wide (cycles_spatial.conv3x3_cycles models it).
// Engine: per output pixel, for kg in 0..KF-1 (PE output channels each), for tap in 0..8
// (tap = ky*3+kx), for cg in 0..CF-1 (SIMD input channels each; CF = 1 when depthwise):
// one cycle. Cycles per output pixel = KF*9*CF; no bubbles between pixels or frames.
// Latency: the first output pixel of a frame starts once input pixel (1, 1) has arrived; its result
// leaves KF*9*CF + 4 cycles later (issue -> operands -> products -> accumulator -> requantized
// collect -> output register).
// ROM read ports (1-cycle synchronous read, address driven combinationally):
//   weight ROM: address = (kg*9 + tap)*CF + cg (WROM_DEPTH = KF*9*CF words);
//     full: lane (pe, s) at [(pe*SIMD + s)*W_BITS +: W_BITS] = w[kg*PE+pe][cg*SIMD+s][ky][kx]
//     depthwise: lane pe at [pe*W_BITS +: W_BITS] = w[kg*PE+pe][ky][kx]; weights signed.
//   param ROM: address = kg (KF words); lane pe at [pe*PR_BITS +: PR_BITS], PR_BITS =
//     BIAS_BITS + M_BITS + S_BITS, holding {S (unsigned), M (unsigned), bias (signed)} from MSB to LSB.
// Accumulation is exact: internal width max(ACC_BITS, IN_BITS+1+W_BITS, BIAS_BITS), modulo arithmetic,
// so the result is exact whenever the true sum fits in ACC_BITS signed bits.
// The frame end on the input side is the pixel count H*W or an early s_axis_tlast (resync).
// KF = ceil(K/PE), CF = ceil(C/SIMD): lanes past the last channel compute zeros and are dropped.
// DEPTHWISE requires K == C (SIMD is ignored). The ROM layouts equal rom.mac_weight_words(w.reshape(K, C, 9)
// or (C, 9), PE, SIMD) and rom.channel_param_words (tap = ky*3 + kx).
module conv3x3_stream #(
    // (small defaults keep template-level lint/synthesis quick; the generator sets every parameter)
    parameter integer H = 4,
    parameter integer W = 4,
    parameter integer C = 2,
    parameter integer K = 2,
    parameter integer STRIDE = 1,
    parameter integer DEPTHWISE = 0,
    parameter integer PE = 1,
    parameter integer SIMD = 1,
    parameter integer IN_BITS = 4,
    parameter integer IN_SIGNED = 0,
    parameter integer W_BITS = 4,
    parameter integer ACC_BITS = 12,
    parameter integer BIAS_BITS = 8,
    parameter integer M_BITS = 8,
    parameter integer S_BITS = 4,
    parameter integer OUT_BITS = 4,
    parameter integer OUT_SIGNED = 0,
    // derived: do not override
    parameter integer KF = (K + PE - 1) / PE,
    parameter integer CF = (DEPTHWISE != 0) ? 1 : (C + SIMD - 1) / SIMD,
    parameter integer WLANES = (DEPTHWISE != 0) ? PE : PE * SIMD,
    parameter integer WROM_DEPTH = KF * 9 * CF,
    parameter integer WROM_AW = (WROM_DEPTH > 1) ? $clog2(WROM_DEPTH) : 1,
    parameter integer PROM_AW = (KF > 1) ? $clog2(KF) : 1,
    parameter integer PR_BITS = BIAS_BITS + M_BITS + S_BITS
) (
    input  wire                        clk,
    input  wire                        rst,
    input  wire [C*IN_BITS-1:0]        s_axis_tdata,
    input  wire                        s_axis_tvalid,
    output wire                        s_axis_tready,
    input  wire                        s_axis_tlast,
    output wire [K*OUT_BITS-1:0]       m_axis_tdata,
    output wire                        m_axis_tvalid,
    input  wire                        m_axis_tready,
    output wire                        m_axis_tlast,
    output wire [WROM_AW-1:0]          wrom_addr,
    input  wire [WLANES*W_BITS-1:0]    wrom_data,
    output wire [PROM_AW-1:0]          prom_addr,
    input  wire [PE*PR_BITS-1:0]       prom_data
);
    localparam integer HO = (H - 1) / STRIDE + 1;
    localparam integer WO = (W - 1) / STRIDE + 1;
    localparam integer NEXT_OFF = H - (HO - 1) * STRIDE;   // row H-1 = top row of last window + NEXT_OFF
    localparam integer CB = $clog2(2 * H + 2 * W + 8);     // width of all position counters
    localparam integer NS = (STRIDE > 1) ? 4 : 3;          // line-buffer row slots
    localparam integer LB_DEPTH = NS * W;
    localparam integer LB_AW = $clog2(LB_DEPTH);
    localparam integer KGB = (KF > 1) ? $clog2(KF) : 1;
    localparam integer CGB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer XB = (DEPTHWISE != 0) ? PE : SIMD;  // input lanes per cycle
    localparam integer CP = (DEPTHWISE != 0) ? KF * PE : CF * SIMD;   // channels stored per pixel (>= C)
    localparam integer KP = KF * PE;                        // output lanes computed per pixel (>= K)
    localparam integer PW = IN_BITS + 1 + W_BITS;          // exact product width
    // internal accumulator width: never narrower than a product or the bias (only sign extension)
    localparam integer AW = (ACC_BITS > PW) ? ((ACC_BITS > BIAS_BITS) ? ACC_BITS : BIAS_BITS)
                                            : ((PW > BIAS_BITS) ? PW : BIAS_BITS);
    localparam integer NX = (DEPTHWISE != 0) ? 1 : SIMD;   // products per PE lane

    localparam integer I_H1 = H - 1;
    localparam integer I_W1 = W - 1;
    localparam integer I_CYL = (HO - 1) * STRIDE;
    localparam integer I_CXL = (WO - 1) * STRIDE;
    localparam integer I_SS = STRIDE % NS;
    localparam integer I_SN = NEXT_OFF % NS;
    localparam integer I_KGL = KF - 1;
    localparam integer I_CGL = CF - 1;
    localparam integer I_WAL = WROM_DEPTH - 1;
    localparam integer I_W2 = 2 * W;
    localparam [CB-1:0] C_H1 = I_H1[CB-1:0];
    localparam [CB-1:0] C_W1 = I_W1[CB-1:0];
    localparam [CB-1:0] C_HH = H[CB-1:0];
    localparam [CB-1:0] C_CYL = I_CYL[CB-1:0];
    localparam [CB-1:0] C_CXL = I_CXL[CB-1:0];
    localparam [CB-1:0] C_S = STRIDE[CB-1:0];
    localparam [CB-1:0] C_1 = 1;
    localparam [CB-1:0] C_NS = NS[CB-1:0];
    localparam [CB-1:0] C_NS1 = C_NS - C_1;
    localparam integer I_W3 = 3 * W;
    localparam [1:0] SLOT_S = I_SS[1:0];
    localparam [1:0] SLOT_N = I_SN[1:0];
    localparam [2:0] NS3 = NS[2:0];
    localparam [1:0] SLOT_TOP0 = NS3[1:0] - 2'd1;           // slot of row -1 after reset
    localparam [KGB-1:0] KG_LAST = I_KGL[KGB-1:0];
    localparam [CGB-1:0] CG_LAST = I_CGL[CGB-1:0];
    localparam [WROM_AW-1:0] WA_LAST = I_WAL[WROM_AW-1:0];
    localparam [LB_AW-1:0] LB_W = W[LB_AW-1:0];
    localparam [LB_AW-1:0] LB_2W = I_W2[LB_AW-1:0];
    localparam [LB_AW-1:0] LB_3W = I_W3[LB_AW-1:0];

    function [1:0] slot_add;   // (a + b) mod NS for a, b in 0..NS-1
        input [1:0] a;
        input [1:0] b;
        reg [2:0] t;
        begin
            t = {1'b0, a} + {1'b0, b};
            slot_add = (t >= NS3) ? t[1:0] - NS3[1:0] : t[1:0];
        end
    endfunction

    function [LB_AW-1:0] slot_base;  // slot * W
        input [1:0] s;
        begin
            case (s)
                2'd0: slot_base = {LB_AW{1'b0}};
                2'd1: slot_base = LB_W;
                2'd2: slot_base = LB_2W;
                default: slot_base = LB_3W;
            endcase
        end
    endfunction

    // ---------------------------------------------------------------- input side
    reg  [CB-1:0] iy, ix;
    reg  [1:0]    in_slot;
    reg           in_ahead;       // input has finished the frame the engine is working on
    reg  [CB-1:0] cy, cx;         // engine: centre of the current window (oy*S, ox*S)
    reg  [1:0]    top_slot;       // engine: slot of row cy-1

    wire [CB-1:0] rel_row = in_ahead ? iy + C_HH : iy;
    wire in_last_px = (iy == C_H1) && (ix == C_W1);
    wire in_allow = !(in_ahead && in_last_px) &&
                    ((!in_ahead && iy < C_NS) || (rel_row < cy + C_NS1) ||
                     ((rel_row == cy + C_NS1) && (ix + C_1 < cx)));
    assign s_axis_tready = in_allow && !rst;
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire in_frame_end = in_fire && (in_last_px || s_axis_tlast);
    wire in_row_end = in_fire && (ix == C_W1);

    reg [CP*IN_BITS-1:0] lb [0:LB_DEPTH-1];
    reg [CP*IN_BITS-1:0] lb_rd;
    wire [CP*IN_BITS-1:0] lb_wdata;
    generate
        if (CP > C) begin : g_wpad
            assign lb_wdata = {{((CP-C)*IN_BITS){1'b0}}, s_axis_tdata};
        end else begin : g_wnopad
            assign lb_wdata = s_axis_tdata;
        end
    endgenerate
    wire [LB_AW-1:0] lb_waddr = slot_base(in_slot) + ix[LB_AW-1:0];
    wire [LB_AW-1:0] lb_raddr;

    always @(posedge clk) begin
        if (in_fire) lb[lb_waddr] <= lb_wdata;
        lb_rd <= lb[lb_raddr];
    end

    // ---------------------------------------------------------------- engine (issue stage)
    reg [1:0]          ky, kx;
    reg [KGB-1:0]      kg;
    reg [CGB-1:0]      cg;
    reg [WROM_AW-1:0]  waddr;
    reg [1:0]          inflight;   // pixels started and not yet sent

    wire px_first = (waddr == {WROM_AW{1'b0}});
    wire px_last  = (waddr == WA_LAST);
    wire cg_last  = (cg == CG_LAST);
    wire tap_last = (ky == 2'd2) && (kx == 2'd2);
    wire row_lastpx = (cx == C_CXL);
    wire frame_lastpx = row_lastpx && (cy == C_CYL);

    wire [CB-1:0] ty = (cy + C_1 > C_H1) ? C_H1 : cy + C_1;
    wire [CB-1:0] tx = (cx + C_1 > C_W1) ? C_W1 : cx + C_1;
    wire received = in_ahead || (iy > ty) || ((iy == ty) && (ix > tx));
    wire issue = !rst && (!px_first || (received && inflight != 2'd2));
    wire eng_frame_end = issue && px_last && frame_lastpx;

    // window position of this fold, offset by +1 (0 = padding row/column before the frame)
    wire [CB-1:0] row_p1 = cy + {{(CB-2){1'b0}}, ky};
    wire [CB-1:0] col_p1 = cx + {{(CB-2){1'b0}}, kx};
    wire pad = (row_p1 == {CB{1'b0}}) || (row_p1 > C_HH) || (col_p1 == {CB{1'b0}}) || (col_p1 > C_W1 + C_1);
    wire [LB_AW-1:0] col = cx[LB_AW-1:0] + {{(LB_AW-2){1'b0}}, kx} - {{(LB_AW-1){1'b0}}, 1'b1};
    assign lb_raddr = slot_base(slot_add(top_slot, ky)) + col;
    assign wrom_addr = waddr;
    assign prom_addr = kg[PROM_AW-1:0];

    always @(posedge clk) begin
        if (rst) begin
            iy <= {CB{1'b0}};
            ix <= {CB{1'b0}};
            in_slot <= 2'd0;
            in_ahead <= 1'b0;
        end else begin
            if (in_frame_end) begin
                iy <= {CB{1'b0}};
                ix <= {CB{1'b0}};
            end else if (in_row_end) begin
                iy <= iy + C_1;
                ix <= {CB{1'b0}};
            end else if (in_fire) begin
                ix <= ix + C_1;
            end
            if (in_frame_end || in_row_end) in_slot <= slot_add(in_slot, 2'd1);
            if (in_frame_end && !eng_frame_end) in_ahead <= 1'b1;
            else if (eng_frame_end && !in_frame_end) in_ahead <= 1'b0;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            cy <= {CB{1'b0}};
            cx <= {CB{1'b0}};
            top_slot <= SLOT_TOP0;
            ky <= 2'd0;
            kx <= 2'd0;
            kg <= {KGB{1'b0}};
            cg <= {CGB{1'b0}};
            waddr <= {WROM_AW{1'b0}};
        end else if (issue) begin
            waddr <= px_last ? {WROM_AW{1'b0}} : waddr + 1'b1;
            if (!cg_last) begin
                cg <= cg + 1'b1;
            end else begin
                cg <= {CGB{1'b0}};
                if (kx != 2'd2) begin
                    kx <= kx + 2'd1;
                end else begin
                    kx <= 2'd0;
                    if (ky != 2'd2) begin
                        ky <= ky + 2'd1;
                    end else begin
                        ky <= 2'd0;
                        kg <= (kg == KG_LAST) ? {KGB{1'b0}} : kg + 1'b1;
                    end
                end
            end
            if (px_last) begin
                if (!row_lastpx) begin
                    cx <= cx + C_S;
                end else begin
                    cx <= {CB{1'b0}};
                    if (!frame_lastpx) begin
                        cy <= cy + C_S;
                        top_slot <= slot_add(top_slot, SLOT_S);
                    end else begin
                        cy <= {CB{1'b0}};
                        top_slot <= slot_add(top_slot, SLOT_N);
                    end
                end
            end
        end
    end

    // ---------------------------------------------------------------- stage 2: MAC
    reg           s2_v, s2_pad, s2_first, s2_lastk, s2_pxlast, s2_frlast;
    reg [KGB-1:0] s2_kg;

    always @(posedge clk) begin
        if (rst) begin
            s2_v <= 1'b0;
        end else begin
            s2_v <= issue;
        end
        s2_pad <= pad;
        s2_first <= (ky == 2'd0) && (kx == 2'd0) && (cg == {CGB{1'b0}});
        s2_lastk <= tap_last && cg_last;
        s2_pxlast <= px_last;
        s2_frlast <= frame_lastpx;
        s2_kg <= kg;
    end

    wire [XB*IN_BITS-1:0] x_sel;
    generate
        if (DEPTHWISE != 0) begin : g_xdw
            assign x_sel = s2_pad ? {XB*IN_BITS{1'b0}} : lb_rd[s2_kg * (PE * IN_BITS) +: PE * IN_BITS];
        end else begin : g_xfull
            reg [CGB-1:0] s2_cg;
            always @(posedge clk) s2_cg <= cg;
            assign x_sel = s2_pad ? {XB*IN_BITS{1'b0}} : lb_rd[s2_cg * (SIMD * IN_BITS) +: SIMD * IN_BITS];
        end
    endgenerate

    // ---------------------------------------------------------------- stage 3: registered products
    // The multipliers (line-buffer and ROM outputs in) get a cycle of their own; stage 4 accumulates
    // (the bias enters at the first fold) and stage 5 requantizes the finished accumulator.
    reg           s3_v, s3_first, s3_lastk, s3_pxlast, s3_frlast;
    reg [KGB-1:0] s3_kg;
    reg [PE*PR_BITS-1:0] s3_prm;
    always @(posedge clk) begin
        if (rst) begin
            s3_v <= 1'b0;
        end else begin
            s3_v <= s2_v;
        end
        s3_first <= s2_first;
        s3_lastk <= s2_lastk;
        s3_pxlast <= s2_pxlast;
        s3_frlast <= s2_frlast;
        s3_kg <= s2_kg;
        s3_prm <= prom_data;
    end

    // stage 4 -> 5: the accumulator of the last fold of an output-channel group is requantized
    reg           s4_v, s4_pxlast, s4_frlast;
    reg [KGB-1:0] s4_kg;
    always @(posedge clk) begin
        if (rst) begin
            s4_v <= 1'b0;
        end else begin
            s4_v <= s3_v && s3_lastk;
        end
        if (s3_v && s3_lastk) begin
            s4_pxlast <= s3_pxlast;
            s4_frlast <= s3_frlast;
            s4_kg <= s3_kg;
        end
    end

    reg  [AW-1:0] acc [0:PE-1];
    wire [PE*OUT_BITS-1:0] yq;

    genvar pe, sl;
    generate
        for (pe = 0; pe < PE; pe = pe + 1) begin : g_pe
            wire [NX*AW-1:0] prods;
            for (sl = 0; sl < NX; sl = sl + 1) begin : g_mul
                localparam integer XI = (DEPTHWISE != 0) ? pe : sl;
                localparam integer WI = (DEPTHWISE != 0) ? pe : pe * SIMD + sl;
                wire [IN_BITS-1:0] xv = x_sel[XI*IN_BITS +: IN_BITS];
                wire signed [IN_BITS:0] xe = $signed({(IN_SIGNED != 0) ? xv[IN_BITS-1] : 1'b0, xv});
                wire signed [W_BITS-1:0] wv = $signed(wrom_data[WI*W_BITS +: W_BITS]);
                reg  [PW-1:0] p;
                always @(posedge clk) p <= xe * wv;
                if (AW > PW) begin : g_ext
                    assign prods[sl*AW +: AW] = {{(AW-PW){p[PW-1]}}, p};
                end else begin : g_same
                    assign prods[sl*AW +: AW] = p;
                end
            end
            reg [AW-1:0] dot;
            integer i;
            always @* begin
                dot = {AW{1'b0}};
                for (i = 0; i < NX; i = i + 1) dot = dot + prods[i*AW +: AW];
            end
            wire [PR_BITS-1:0] prm = s3_prm[pe*PR_BITS +: PR_BITS];
            wire [BIAS_BITS-1:0] bias = prm[0 +: BIAS_BITS];
            wire [AW-1:0] bias_ext;
            if (AW > BIAS_BITS) begin : g_bext
                assign bias_ext = {{(AW-BIAS_BITS){bias[BIAS_BITS-1]}}, bias};
            end else begin : g_bsame
                assign bias_ext = bias;
            end
            reg [M_BITS-1:0] m4;
            reg [S_BITS-1:0] sh4;
            always @(posedge clk) begin
                if (s3_v) acc[pe] <= (s3_first ? bias_ext : acc[pe]) + dot;
                if (s3_v && s3_lastk) begin
                    m4 <= prm[BIAS_BITS +: M_BITS];
                    sh4 <= prm[BIAS_BITS + M_BITS +: S_BITS];
                end
            end
            requant #(
                .ACC_W(AW), .M_W(M_BITS), .S_W(S_BITS),
                .OUT_W(OUT_BITS), .OUT_SIGNED(OUT_SIGNED)
            ) u_rq (
                .acc(acc[pe]),
                .m(m4),
                .s(sh4),
                .y(yq[pe*OUT_BITS +: OUT_BITS])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- collect + output register
    reg [KP*OUT_BITS-1:0] collect;
    reg [K*OUT_BITS-1:0] out_data;
    generate
        if (KP > K) begin : g_drop
            wire unused_lanes = &{1'b0, collect[KP*OUT_BITS-1:K*OUT_BITS]};
        end
    endgenerate
    reg collect_full, collect_last, out_valid, out_last;
    wire out_fire = out_valid && m_axis_tready;
    wire move = collect_full && (!out_valid || m_axis_tready);

    always @(posedge clk) begin
        if (s4_v) collect[s4_kg * (PE * OUT_BITS) +: PE * OUT_BITS] <= yq;
        if (move) begin
            out_data <= collect[K*OUT_BITS-1:0];
            out_last <= collect_last;
        end
        if (rst) begin
            collect_full <= 1'b0;
            collect_last <= 1'b0;
            out_valid <= 1'b0;
            inflight <= 2'd0;
        end else begin
            if (s4_v && s4_pxlast) begin
                collect_full <= 1'b1;
                collect_last <= s4_frlast;
            end else if (move) begin
                collect_full <= 1'b0;
            end
            if (move) out_valid <= 1'b1;
            else if (out_fire) out_valid <= 1'b0;
            inflight <= inflight + ((issue && px_first) ? 2'd1 : 2'd0) - (out_fire ? 2'd1 : 2'd0);
        end
    end

    assign m_axis_tdata = out_data;
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast = out_last;
endmodule
`default_nettype wire
