`timescale 1ns/1ps
`default_nettype none
// conv3x3_stream: streaming spatial 3x3 convolution, zero padding 1, stride 1 or 2,
// full (C_IN -> C_OUT) or depthwise (groups = C_IN, C_OUT = C_IN), PE x SIMD folding, bias, requant.
//
// Streams (AXI-Stream, one beat = one pixel with all channels, channel c at [c*BITS +: BITS],
// raster order, tlast on the last pixel of a frame):
//   input  H  x W  x C_IN, IN_W per channel (signed if IN_SIGNED else unsigned)
//   output HO x WO x C_OUT, OUT_W per channel, HO = (H-1)/STRIDE+1, WO = (W-1)/STRIDE+1,
//   y[oy][ox][k] = requant_k(bias[k] + sum_{ky,kx,c} w[k][c][ky][kx] * x[oy*S+ky-1][ox*S+kx-1][c])
//   (x outside the frame = 0; depthwise: only c = k).
// Line buffer: NS = 3 (stride 1) or 4 (stride 2) rows of W pixels x C_IN channels, row slots used
// circularly across frames. LB_SLICED = 0: one word of CP channels per pixel (address slot*W + column), the
// engine selects the XB channels of its fold slice from the word it reads. LB_SLICED = 1: XG words of XB
// channels per pixel (one per fold slice, address (slot*W + column)*XG + slice: a narrower, deeper RAM that
// maps to fewer block RAMs when the pixel is wide and the frame narrow); the input writes one slice per
// cycle (XG cycles per pixel, the input queue pops at the last slice) and the engine reads its slice's word. The input overwrites a row only once the engine no longer needs it
// (column-exact), so the input runs ahead of the window (also into the next frame) and the engine
// does not wait for input in steady state (one row more than the 3x3 window for stride 2, where the
// next output row needs two new input rows), except for a cycle or two at some row starts of frames
// only 1..4 pixels wide (cycles_spatial.conv3x3_cycles models it).
// Engine: per output pixel, for kg in 0..KF-1 (PE output channels each), for tap in 0..8
// (tap = ky*3+kx), for cg in 0..CF-1 (SIMD input channels each; CF = 1 when depthwise):
// one cycle. Cycles per output pixel = KF*9*CF; no bubbles between pixels or frames.
// Latency: the first output pixel of a frame starts once input pixel (1, 1) has arrived; its result
// leaves KF*9*CF + 16 cycles later (issue -> reads (2) -> operands -> mac_lane's multiplier operands ->
// products (2) -> adder tree (2) -> accumulator -> requant_pipe (4) -> collect -> output queue). Up to 3 pixels
// are in flight.
// ROM read ports (synchronous reads, address driven combinationally; see pleiades_fpga/hw/rtl/rom.py):
//   weight ROM (2-cycle read, rom_verilog read_stages = 2: address at issue, word at stage 2):
//   address = (kg*9 + tap)*CF + cg (WROM_DEPTH = KF*9*CF words);
//     full: lane (pe, s) at [(pe*SIMD + s)*W_W +: W_W] = w[kg*PE+pe][cg*SIMD+s][ky][kx]
//     depthwise: lane pe at [pe*W_W +: W_W] = w[kg*PE+pe][ky][kx]; weights signed.
//   param ROM (1-cycle read): address = kg (KF words); lane pe at [pe*FW +: FW], FW =
//     BIAS_W + M_W + S_W, holding {S (unsigned), M (unsigned), bias (signed)} from MSB to LSB.
// Accumulation is exact: internal width max(ACC_W, IN_W+1+W_W, BIAS_W), modulo arithmetic,
// so the result is exact whenever the true sum fits in ACC_W signed bits.
// The frame end on the input side is the pixel count H*W or an early s_axis_tlast (resync). The input
// enters through a 2-beat pointer queue (axis_fifo, DEPTH 2): s_axis_tready starts from its pointers, and a pop
// moves the read pointer only (the data registers are enabled by the push alone).
// KF = ceil(C_OUT/PE), CF = ceil(C_IN/SIMD): lanes past the last channel compute zeros and are dropped.
// DEPTHWISE requires C_OUT == C_IN and SIMD == 1. The ROM layouts equal rom.mac_weight_words(w.reshape(C_OUT, C_IN, 9)
// or (C_IN, 9), PE, SIMD) and rom.channel_param_words (tap = ky*3 + kx).
module conv3x3_stream #(
    // (small defaults keep template-level lint/synthesis quick; the generator sets every parameter)
    parameter integer H = 4,                    // frame height (pixels)
    parameter integer W = 4,                    // frame width (pixels)
    parameter integer C_IN = 2,                 // input channels
    parameter integer C_OUT = 2,                // output channels
    parameter integer STRIDE = 1,               // 1 or 2
    parameter integer DEPTHWISE = 0,            // 1: output o reads input o only (C_IN = C_OUT, SIMD = 1)
    parameter integer PE = 1,                   // output channels per step
    parameter integer SIMD = 1,                 // input channels per step
    parameter integer IN_W = 4,                 // input activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: input is two's complement
    parameter integer W_W = 4,                  // weight width (bits, signed)
    parameter integer ACC_W = 12,               // accumulator width that cannot overflow (bits, signed)
    parameter integer BIAS_W = 8,               // bias width (bits, signed)
    parameter integer M_W = 8,                  // requant multiplier width (bits, unsigned)
    parameter integer S_W = 4,                  // requant shift width (bits, unsigned)
    parameter integer OUT_W = 4,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output (ReLU fused), 1: signed
    parameter integer MAC_MODE = 0,             // mac_lane multipliers: 0 one product each (DSP), 1 two packed products each, 2 LUT shift-add
    parameter integer MUL_CELL = 0,             // mac_lane multipliers: 0 inferred, 1 ECP5 MULT18X18D cells with their registers
    parameter integer LB_SLICED = 0,            // line buffer: 0 one word per pixel, 1 one word per fold slice (XG per pixel)
    // derived: do not override
    parameter integer KF = (C_OUT + PE - 1) / PE,
    parameter integer CF = (DEPTHWISE != 0) ? 1 : (C_IN + SIMD - 1) / SIMD,
    parameter integer WLANES = (DEPTHWISE != 0) ? PE : PE * SIMD,
    parameter integer WROM_DEPTH = KF * 9 * CF,
    parameter integer WROM_AW = (WROM_DEPTH > 1) ? $clog2(WROM_DEPTH) : 1,
    parameter integer PROM_AW = (KF > 1) ? $clog2(KF) : 1,
    parameter integer FW = BIAS_W + M_W + S_W
) (
    input  wire                        clk,
    input  wire                        rst,
    input  wire [C_IN*IN_W-1:0]        s_axis_tdata,
    input  wire                        s_axis_tvalid,
    output wire                        s_axis_tready,
    input  wire                        s_axis_tlast,
    output wire [C_OUT*OUT_W-1:0]       m_axis_tdata,
    output wire                        m_axis_tvalid,
    input  wire                        m_axis_tready,
    output wire                        m_axis_tlast,
    output wire [WROM_AW-1:0]          wrom_addr,
    input  wire [WLANES*W_W-1:0]    wrom_data,
    output wire [PROM_AW-1:0]          prom_addr,
    input  wire [PE*FW-1:0]       prom_data
);
    generate
        if (H < 1 || W < 1 || C_IN < 1 || C_OUT < 1 || PE < 1 || SIMD < 1) begin : g_check_sizes
            PARAMETER_ERROR_conv3x3_stream_H_W_C_IN_C_OUT_PE_SIMD_must_be_at_least_1 u_error ();
        end
        if (STRIDE != 1 && STRIDE != 2) begin : g_check_stride
            PARAMETER_ERROR_conv3x3_stream_STRIDE_must_be_1_or_2 u_error ();
        end
        if (DEPTHWISE != 0 && (C_IN != C_OUT || SIMD != 1)) begin : g_check_dw
            PARAMETER_ERROR_conv3x3_stream_DEPTHWISE_needs_C_IN_equal_C_OUT_and_SIMD_1 u_error ();
        end
        if (IN_W < 1 || W_W < 1 || OUT_W < 1 || ACC_W < 1) begin : g_check_widths
            PARAMETER_ERROR_conv3x3_stream_IN_W_W_W_OUT_W_ACC_W_must_be_at_least_1 u_error ();
        end
        if (LB_SLICED != 0 && LB_SLICED != 1) begin : g_check_lb_sliced
            PARAMETER_ERROR_conv3x3_stream_LB_SLICED_must_be_0_or_1 u_error ();
        end
    endgenerate

    localparam integer HO = (H - 1) / STRIDE + 1;
    localparam integer WO = (W - 1) / STRIDE + 1;
    localparam integer NEXT_OFF = H - (HO - 1) * STRIDE;   // row H-1 = top row of last window + NEXT_OFF
    localparam integer CB = $clog2(2 * H + 2 * W + 8);     // width of all position counters
    localparam integer KGB = (KF > 1) ? $clog2(KF) : 1;
    localparam integer CGB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer XB = (DEPTHWISE != 0) ? PE : SIMD;  // input lanes per cycle
    localparam integer CP = (DEPTHWISE != 0) ? KF * PE : CF * SIMD;   // channels stored per pixel (>= C_IN)
    localparam integer XG = (DEPTHWISE != 0) ? KF : CF;     // fold slices of XB channels per stored pixel
    localparam integer XGB = (DEPTHWISE != 0) ? KGB : CGB;
    localparam integer NS = (STRIDE > 1) ? 4 : 3;          // line-buffer row slots
    localparam integer SL = (LB_SLICED != 0) ? XG : 1;     // line-buffer words per pixel
    localparam integer LB_WW = (SL > 1) ? XB * IN_W : CP * IN_W;   // line-buffer word width
    localparam integer LB_DEPTH = NS * W * SL;
    localparam integer LB_AW = $clog2(LB_DEPTH);
    localparam integer KP = KF * PE;                        // output lanes computed per pixel (>= C_OUT)
    localparam integer PW = IN_W + 1 + W_W;          // exact product width
    // internal accumulator width: never narrower than a product or the bias (only sign extension)
    localparam integer AW = (ACC_W > PW) ? ((ACC_W > BIAS_W) ? ACC_W : BIAS_W)
                                            : ((PW > BIAS_W) ? PW : BIAS_W);
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
    localparam integer I_ROW = W * SL;                    // words of a row slot
    localparam [CB-1:0] C_H1 = I_H1[CB-1:0];
    localparam [CB-1:0] C_W1 = I_W1[CB-1:0];
    localparam [CB-1:0] C_HH = H[CB-1:0];
    localparam [CB-1:0] C_CYL = I_CYL[CB-1:0];
    localparam [CB-1:0] C_CXL = I_CXL[CB-1:0];
    localparam [CB-1:0] C_S = STRIDE[CB-1:0];
    localparam [CB-1:0] C_1 = 1;
    localparam [CB-1:0] C_NS = NS[CB-1:0];
    localparam [CB-1:0] C_NS1 = C_NS - C_1;
    localparam [1:0] SLOT_S = I_SS[1:0];
    localparam [1:0] SLOT_N = I_SN[1:0];
    localparam [2:0] NS3 = NS[2:0];
    localparam [1:0] SLOT_TOP0 = NS3[1:0] - 2'd1;           // slot of row -1 after reset
    localparam [KGB-1:0] KG_LAST = I_KGL[KGB-1:0];
    localparam [CGB-1:0] CG_LAST = I_CGL[CGB-1:0];
    localparam [WROM_AW-1:0] WA_LAST = I_WAL[WROM_AW-1:0];
    localparam integer I_SL = SL;
    localparam integer I_SSL = STRIDE * SL;
    localparam integer I_SLL = SL - 1;
    localparam integer I_ROW2 = 2 * I_ROW;
    localparam integer I_ROW3 = 3 * I_ROW;
    localparam [LB_AW-1:0] LB_W = I_ROW[LB_AW-1:0];         // slot bases
    localparam [LB_AW-1:0] LB_2W = I_ROW2[LB_AW-1:0];
    localparam [LB_AW-1:0] LB_3W = I_ROW3[LB_AW-1:0];
    localparam [LB_AW-1:0] LB_SL = I_SL[LB_AW-1:0];          // words of a pixel
    localparam [LB_AW-1:0] LB_SSL = I_SSL[LB_AW-1:0];        // words of STRIDE pixels
    localparam [XGB-1:0] SL_LAST = I_SLL[XGB-1:0];

    function [1:0] slot_add;   // (a + b) mod NS for a, b in 0..NS-1
        input [1:0] a;
        input [1:0] b;
        reg [2:0] t;
        begin
            t = {1'b0, a} + {1'b0, b};
            slot_add = (t >= NS3) ? t[1:0] - NS3[1:0] : t[1:0];
        end
    endfunction

    function [LB_AW-1:0] slot_base;  // slot * W * SL (first word of a row slot)
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

    function [LB_AW-1:0] col_off;    // (kx - 1) * SL: word offset of the window column kx from its centre
        input [1:0] kx_i;
        begin
            case (kx_i)
                2'd0: col_off = {LB_AW{1'b0}} - LB_SL;
                2'd1: col_off = {LB_AW{1'b0}};
                default: col_off = LB_SL;
            endcase
        end
    endfunction

    function [LB_AW-1:0] rd_word;    // line-buffer word of a fold: row slot base + (cx + kx - 1) * SL + slice
        input [1:0] top_i;             // slot of row cy - 1
        input [1:0] ky_i;
        input [1:0] kx_i;
        input [LB_AW-1:0] cxw_i;       // cx * SL
        input [LB_AW-1:0] slice_i;     // fold slice (0 when SL = 1)
        begin
            rd_word = slot_base(slot_add(top_i, ky_i)) + cxw_i + col_off(kx_i) + slice_i;
        end
    endfunction

    // slice i (XB channels) of a stored pixel of CP channels: an AND-OR of comparisons (an index multiplied by a
    // slice width that is not a power of two would become a multiplier in front of a shifter)
    function [XB*IN_W-1:0] pick_slice;
        input [CP*IN_W-1:0] word;
        input [XGB-1:0] i;
        integer g;
        begin
            pick_slice = {XB*IN_W{1'b0}};
            for (g = 0; g < XG; g = g + 1) begin
                if (i == g[XGB-1:0]) pick_slice = pick_slice | word[g*XB*IN_W +: XB*IN_W];
            end
        end
    endfunction

    // ---------------------------------------------------------------- input side
    reg  [CB-1:0] iy, ix;
    reg  [1:0]    in_slot;
    reg  [XGB-1:0] in_sl;         // slice of the input pixel written next (0 when SL = 1)
    reg  [LB_AW-1:0] in_word_reg; // ix * SL + in_sl: word of the current row slot written next
    reg           in_ahead;       // input has finished the frame the engine is working on
    reg  [CB-1:0] cy, cx;         // engine: centre of the current window (oy*S, ox*S)
    reg  [LB_AW-1:0] cx_word_reg; // engine: cx * SL (first word of column cx in a row slot)
    reg  [1:0]    top_slot;       // engine: slot of row cy-1
    // registered sums kept with the counters they follow (the comparisons below start from registers)
    reg  [CB-1:0] iy_h_reg;       // iy + H
    reg  [CB-1:0] ix1_reg;        // ix + 1
    reg  [CB-1:0] cy_ns1_reg;     // cy + NS - 1
    reg  [CB-1:0] ty_reg, tx_reg; // last input row/column the current window needs: min(cy + 1, H - 1), min(cx + 1, W - 1)

    function [CB-1:0] next_in;    // min(c + 1, last)
        input [CB-1:0] c;
        input [CB-1:0] last;
        begin
            next_in = (c + C_1 > last) ? last : c + C_1;
        end
    endfunction

    // the input row relative to the engine's frame (iy + H once the input is ahead) against cy + NS - 1: both
    // candidates compared straight from the registers, then selected (no multiplexer in front of a carry chain)
    wire row_lt = in_ahead ? (iy_h_reg < cy_ns1_reg) : (iy < cy_ns1_reg);
    wire row_eq = in_ahead ? (iy_h_reg == cy_ns1_reg) : (iy == cy_ns1_reg);
    wire in_last_px = (iy == C_H1) && (ix == C_W1);
    wire in_allow = !(in_ahead && in_last_px) &&
                    ((!in_ahead && iy < C_NS) || row_lt || (row_eq && (ix1_reg < cx)));
    // 2-beat input queue with read/write pointers: a beat's data is written once (at its push) and read at the read
    // pointer, so the pop (from the window logic) enables the pointer only, not the data registers; s_axis_tready
    // starts from the pointers (no path from the window logic to the producer)
    wire [C_IN*IN_W-1:0] in_data;
    wire in_valid, in_last, in_pop_ok;
    axis_fifo #(.DATA_W(C_IN*IN_W), .DEPTH(2)) u_inq (
        .clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(in_data), .m_axis_tvalid(in_valid), .m_axis_tready(in_pop_ok), .m_axis_tlast(in_last)
    );
    wire in_sl_last = (in_sl == SL_LAST);
    assign in_pop_ok = in_allow && in_sl_last;   // the queue pops with the pixel's last slice
    wire in_fire = in_valid && in_allow;         // one line-buffer word written
    wire in_pop = in_fire && in_sl_last;         // ... and it was the pixel's last
    wire in_frame_end = in_pop && (in_last_px || in_last);
    wire in_row_end = in_pop && (ix == C_W1);

    wire [LB_WW-1:0] lb_rd;
    wire [LB_WW-1:0] lb_wdata;
    wire [CP*IN_W-1:0] in_pixel;
    zero_extend #(.IN_W(C_IN*IN_W), .OUT_W(CP*IN_W)) u_wpad (.x(in_data), .y(in_pixel));
    generate
        if (SL > 1) begin : g_wslice
            assign lb_wdata = pick_slice(in_pixel, in_sl);
        end else begin : g_wpixel
            assign lb_wdata = in_pixel;
        end
    endgenerate
    wire [LB_AW-1:0] lb_waddr = slot_base(in_slot) + in_word_reg;
    // the line-buffer write is registered (it lands one edge after the input's handshake): the line buffer's write
    // enable (LUT RAM spread over many slices) comes from a register, not from the window logic. The engine sees a
    // pixel one cycle later accordingly: `received` compares the input position of the previous cycle (iy_d_reg,
    // ix_d_reg, in_ahead_d_reg), and in the cycle after the input's frame end (in_wrap_reg, when those positions
    // still belong to the finished frame) it trusts them only for an engine still on that frame (in_ahead)
    reg              lb_we_reg;
    reg [LB_AW-1:0]  lb_waddr_reg;
    reg [LB_WW-1:0]  lb_wdata_reg;
    reg [CB-1:0]     iy_d_reg, ix_d_reg;
    reg              in_ahead_d_reg, in_wrap_reg;
    always @(posedge clk) begin        // address and data: no reset, no enable (written only with lb_we_reg)
        lb_waddr_reg <= lb_waddr;
        lb_wdata_reg <= lb_wdata;
    end
    reg  [LB_AW-1:0] lb_raddr_reg;   // engine: line-buffer word of the fold issued next (a register: see rd_word)

    wire lines_clearing;                        // always 0 (no clear: every row is written before it is read)
    wire unused_lines = &{1'b0, lines_clearing};
    // RW_CHECK = 0: the engine reads a word only after its write has landed (`received` lags the write by a cycle) and
    // the input overwrites a word only once the engine has read it for the last time, so no read meets a write
    ram_sdp #(.DATA_W(LB_WW), .DEPTH(LB_DEPTH), .CLEAR(0), .OUT_REG(1), .RW_CHECK(0)) u_lines (   // word at stage 2
        .clk(clk), .rst(rst), .clearing(lines_clearing),
        .we(lb_we_reg), .waddr(lb_waddr_reg), .wdata(lb_wdata_reg), .re(1'b1), .raddr(lb_raddr_reg), .rdata(lb_rd)
    );

    // ---------------------------------------------------------------- engine (issue stage)
    reg [1:0]          ky, kx;
    reg [KGB-1:0]      kg;
    reg [CGB-1:0]      cg;
    reg [WROM_AW-1:0]  waddr;
    reg [1:0]          inflight;   // pixels started and not yet sent (at most 3)

    wire px_first = (waddr == {WROM_AW{1'b0}});
    wire px_last  = (waddr == WA_LAST);
    wire cg_last  = (cg == CG_LAST);
    wire tap_last = (ky == 2'd2) && (kx == 2'd2);
    wire row_lastpx = (cx == C_CXL);
    wire frame_lastpx = row_lastpx && (cy == C_CYL);

    wire in_cmp_d = (iy_d_reg > ty_reg) || ((iy_d_reg == ty_reg) && (ix_d_reg > tx_reg));
    wire received = (in_ahead && in_ahead_d_reg) || ((in_ahead || !in_wrap_reg) && in_cmp_d);
    wire issue = !rst && (!px_first || (received && inflight != 2'd3));
    wire eng_frame_end = issue && px_last && frame_lastpx;

    // window position of this fold, offset by +1 (0 = padding row/column before the frame)
    wire [CB-1:0] row_p1 = cy + {{(CB-2){1'b0}}, ky};
    wire [CB-1:0] col_p1 = cx + {{(CB-2){1'b0}}, kx};
    wire pad = (row_p1 == {CB{1'b0}}) || (row_p1 > C_HH) || (col_p1 == {CB{1'b0}}) || (col_p1 > C_W1 + C_1);
    // next engine position (taken on issue): slice cg, then tap kx, ky, then output group kg; then the window
    wire kx_wrap = (kx == 2'd2);
    wire ky_wrap = (ky == 2'd2);
    wire [CGB-1:0] cg_n = cg_last ? {CGB{1'b0}} : cg + 1'b1;
    wire [1:0] kx_n = !cg_last ? kx : (kx_wrap ? 2'd0 : kx + 2'd1);
    wire [1:0] ky_n = (!cg_last || !kx_wrap) ? ky : (ky_wrap ? 2'd0 : ky + 2'd1);
    wire [KGB-1:0] kg_n = !(cg_last && tap_last) ? kg : ((kg == KG_LAST) ? {KGB{1'b0}} : kg + 1'b1);
    wire [LB_AW-1:0] cx_word_n = !px_last ? cx_word_reg : (row_lastpx ? {LB_AW{1'b0}} : cx_word_reg + LB_SSL);
    wire [1:0] top_slot_n = !(px_last && row_lastpx) ? top_slot
                          : slot_add(top_slot, frame_lastpx ? SLOT_N : SLOT_S);
    // the fold's slice (cg, or kg when depthwise; word offset 0 when SL = 1). The line-buffer read address is a register
    // kept equal to rd_word(current position) by loading rd_word(next position) on issue: no logic between the
    // engine's counters and the line buffer's (LUT RAM) read port, which may spread across the chip
    wire [XGB-1:0] slice_n;
    generate
        if (DEPTHWISE != 0) begin : g_sdw
            assign slice_n = kg_n;
        end else begin : g_sfull
            assign slice_n = cg_n;
        end
    endgenerate
    wire [31:0] slice32_n = {{(32-XGB){1'b0}}, slice_n};
    wire [LB_AW-1:0] slice_word_n = (SL > 1) ? slice32_n[LB_AW-1:0] : {LB_AW{1'b0}};
    wire unused_slice = &{1'b0, slice32_n};
    always @(posedge clk) begin
        if (rst) lb_raddr_reg <= rd_word(SLOT_TOP0, 2'd0, 2'd0, {LB_AW{1'b0}}, {LB_AW{1'b0}});
        else if (issue) lb_raddr_reg <= rd_word(top_slot_n, ky_n, kx_n, cx_word_n, slice_word_n);
    end

    always @(posedge clk) begin
        if (rst) begin
            iy <= {CB{1'b0}};
            ix <= {CB{1'b0}};
            iy_h_reg <= C_HH;
            ix1_reg <= C_1;
            in_slot <= 2'd0;
            in_ahead <= 1'b0;
            in_sl <= {XGB{1'b0}};
            in_word_reg <= {LB_AW{1'b0}};
            lb_we_reg <= 1'b0;
            iy_d_reg <= {CB{1'b0}};
            ix_d_reg <= {CB{1'b0}};
            in_ahead_d_reg <= 1'b0;
            in_wrap_reg <= 1'b0;
        end else begin
            lb_we_reg <= in_fire;
            iy_d_reg <= iy;
            ix_d_reg <= ix;
            in_ahead_d_reg <= in_ahead;
            in_wrap_reg <= in_frame_end;
            if (in_fire) in_sl <= in_sl_last ? {XGB{1'b0}} : in_sl + 1'b1;
            if (in_frame_end || in_row_end) in_word_reg <= {LB_AW{1'b0}};
            else if (in_fire) in_word_reg <= in_word_reg + 1'b1;
            if (in_frame_end) begin
                iy <= {CB{1'b0}};
                ix <= {CB{1'b0}};
                iy_h_reg <= C_HH;
                ix1_reg <= C_1;
            end else if (in_row_end) begin
                iy <= iy + C_1;
                ix <= {CB{1'b0}};
                iy_h_reg <= iy_h_reg + C_1;
                ix1_reg <= C_1;
            end else if (in_pop) begin
                ix <= ix + C_1;
                ix1_reg <= ix1_reg + C_1;
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
            cx_word_reg <= {LB_AW{1'b0}};
            cy_ns1_reg <= C_NS1;
            ty_reg <= next_in({CB{1'b0}}, C_H1);
            tx_reg <= next_in({CB{1'b0}}, C_W1);
            top_slot <= SLOT_TOP0;
            ky <= 2'd0;
            kx <= 2'd0;
            kg <= {KGB{1'b0}};
            cg <= {CGB{1'b0}};
            waddr <= {WROM_AW{1'b0}};
        end else if (issue) begin
            waddr <= px_last ? {WROM_AW{1'b0}} : waddr + 1'b1;
            cg <= cg_n;
            kx <= kx_n;
            ky <= ky_n;
            kg <= kg_n;
            cx_word_reg <= cx_word_n;
            top_slot <= top_slot_n;
            if (px_last) begin
                if (!row_lastpx) begin
                    cx <= cx + C_S;
                    tx_reg <= next_in(cx + C_S, C_W1);
                end else begin
                    cx <= {CB{1'b0}};
                    tx_reg <= next_in({CB{1'b0}}, C_W1);
                    if (!frame_lastpx) begin
                        cy <= cy + C_S;
                        cy_ns1_reg <= cy_ns1_reg + C_S;
                        ty_reg <= next_in(cy + C_S, C_H1);
                    end else begin
                        cy <= {CB{1'b0}};
                        cy_ns1_reg <= C_NS1;
                        ty_reg <= next_in({CB{1'b0}}, C_H1);
                    end
                end
            end
        end
    end

    // ---------------------------------------------------------------- stages 1, 2: line-buffer and ROM reads
    // (the line buffer's registered block-RAM output and the weight ROM word arrive at stage 2)
    reg           s1_v, s1_pad, s1_first, s1_lastk, s1_pxlast, s1_frlast;
    reg [KGB-1:0] s1_kg;
    reg [CGB-1:0] s1_cg;
    reg           s2_v, s2_pad, s2_first, s2_lastk, s2_pxlast, s2_frlast;
    reg [KGB-1:0] s2_kg;
    reg [CGB-1:0] s2_cg;
    assign wrom_addr = waddr;       // 2-cycle weight ROM: the word of the issued fold arrives at stage 2

    always @(posedge clk) begin
        if (rst) begin
            s1_v <= 1'b0;
            s2_v <= 1'b0;
        end else begin
            s1_v <= issue;
            s2_v <= s1_v;
        end
        s1_pad <= pad;
        s1_first <= (ky == 2'd0) && (kx == 2'd0) && (cg == {CGB{1'b0}});
        s1_lastk <= tap_last && cg_last;
        s1_pxlast <= px_last;
        s1_frlast <= frame_lastpx;
        s1_kg <= kg;
        s1_cg <= cg;
        s2_pad <= s1_pad;
        s2_first <= s1_first;
        s2_lastk <= s1_lastk;
        s2_pxlast <= s1_pxlast;
        s2_frlast <= s1_frlast;
        s2_kg <= s1_kg;
        s2_cg <= s1_cg;
    end

    // operand slice of this fold (zero on padding): output group kg (depthwise) or input group cg, picked from
    // the pixel's word (SL = 1) or the slice's own word (SL > 1)
    wire [XGB-1:0] s2_slice;
    generate
        if (DEPTHWISE != 0) begin : g_xdw
            assign s2_slice = s2_kg;
            wire unused_cg = &{1'b0, s2_cg};
        end else begin : g_xfull
            assign s2_slice = s2_cg;
        end
    endgenerate
    wire [XB*IN_W-1:0] x_word;
    generate
        if (SL > 1) begin : g_xslice
            assign x_word = lb_rd;
            wire unused_s2_slice = &{1'b0, s2_slice};
        end else begin : g_xpixel
            assign x_word = pick_slice(lb_rd, s2_slice);
        end
    endgenerate
    wire [XB*IN_W-1:0] x_sel = s2_pad ? {XB*IN_W{1'b0}} : x_word;

    // ---------------------------------------------------------------- stage O: registered operands
    // Line-buffer (block RAM) and ROM outputs and their selection end in registers: the multipliers of
    // mac_lane start from registers only (the activations per PE lane: xl_reg in g_pe). Then mac_lane's stages M, P,
    // Q, T1, T2 and the accumulator; the parameter ROM is read at stage Q (address = its output group) and registered
    // at T2 (bias, m, s).
    localparam integer FS = 6;                    // flag stages O, M, P, Q, T1, T2 (index 0 .. 5)
    reg [WLANES*W_W-1:0]  wo;
    reg [FS-1:0]          fv;                     // valid
    reg [FS*KGB-1:0]      fkg;                    // output group
    reg [FS-1:0]          ffirst, flastk, fpxlast, ffrlast;
    reg [PE*FW-1:0]       t2_prm;
    wire [KGB-1:0]        q_kg = fkg[3*KGB +: KGB];
    wire [KGB-1:0]        t2_kg = fkg[5*KGB +: KGB];
    wire                  t2_v = fv[FS-1];
    wire                  t2_lastk = flastk[FS-1];
    wire                  t2_pxlast = fpxlast[FS-1];
    wire                  t2_frlast = ffrlast[FS-1];
    wire unused_flags = &{1'b0, ffirst, flastk[FS-3:0], fpxlast[FS-2:0], ffrlast[FS-2:0],
                          fkg[4*KGB +: KGB], fkg[0 +: 3*KGB]};
    assign prom_addr = q_kg[PROM_AW-1:0];
    always @(posedge clk) begin
        if (rst) begin
            fv <= {FS{1'b0}};
        end else begin
            fv <= {fv[FS-2:0], s2_v};
        end
        wo <= wrom_data;
        fkg <= {fkg[0 +: (FS-1)*KGB], s2_kg};
        ffirst <= {ffirst[FS-2:0], s2_first};
        flastk <= {flastk[FS-2:0], s2_lastk};
        fpxlast <= {fpxlast[FS-2:0], s2_pxlast};
        ffrlast <= {ffrlast[FS-2:0], s2_frlast};
        t2_prm <= prom_data;
    end

    // accumulator final (sa_*), then requant_pipe's RQ_STAGES stages (r*_ shift registers)
    localparam integer RQ_STAGES = 4;           // requant_pipe's register stages (PIPELINED = 1)
    reg           sa_v, sa_pxlast, sa_frlast;
    reg [KGB-1:0] sa_kg;
    reg [RQ_STAGES-1:0] rv, rpxlast, rfrlast;
    reg [RQ_STAGES*KGB-1:0] rkg;
    always @(posedge clk) begin
        if (rst) begin
            sa_v <= 1'b0;
            rv <= {RQ_STAGES{1'b0}};
        end else begin
            sa_v <= t2_v && t2_lastk;
            rv <= {rv[RQ_STAGES-2:0], sa_v};
        end
        if (t2_v && t2_lastk) begin
            sa_pxlast <= t2_pxlast;
            sa_frlast <= t2_frlast;
            sa_kg <= t2_kg;
        end
        rpxlast <= {rpxlast[RQ_STAGES-2:0], sa_pxlast};
        rfrlast <= {rfrlast[RQ_STAGES-2:0], sa_frlast};
        rkg <= {rkg[0 +: (RQ_STAGES-1)*KGB], sa_kg};
    end
    wire           r_v = rv[RQ_STAGES-1];
    wire           r_pxlast = rpxlast[RQ_STAGES-1];
    wire           r_frlast = rfrlast[RQ_STAGES-1];
    wire [KGB-1:0] r_kg = rkg[(RQ_STAGES-1)*KGB +: KGB];

    wire [PE*OUT_W-1:0] yq;

    genvar pe;
    generate
        for (pe = 0; pe < PE; pe = pe + 1) begin : g_pe
            wire [NX*IN_W-1:0] xl_d;                                // input lanes of this PE lane (stage 2)
            if (DEPTHWISE != 0) begin : g_xdw
                assign xl_d = x_sel[pe*IN_W +: IN_W];
            end else begin : g_xfull
                assign xl_d = x_sel[0 +: NX*IN_W];
            end
            // stage O operands of this lane; keep: Yosys must not merge the lanes' equal copies (g_xfull)
            reg [NX*IN_W-1:0] xl_reg;
            (* keep *) always @(posedge clk) xl_reg <= xl_d;
            // this lane's copies of the stage-T2 flags (one net per lane instead of one across all lanes)
            reg v_reg, first_reg, lastk_reg;
            (* keep *) always @(posedge clk) begin
                if (rst) v_reg <= 1'b0;
                else v_reg <= fv[FS-2];
                first_reg <= ffirst[FS-2];
                lastk_reg <= flastk[FS-2];
            end
            wire signed [BIAS_W-1:0] bias;
            wire [M_W-1:0] m4;
            wire [S_W-1:0] sh4;
            param_word #(.BIAS_W(BIAS_W), .M_W(M_W), .S_W(S_W)) u_prm (
                .clk(clk), .load(v_reg && lastk_reg), .word(t2_prm[pe*FW +: FW]), .bias(bias), .m(m4), .s(sh4)
            );
            // products, adder tree and accumulator (shared with temporal_conv_buffer)
            wire signed [AW-1:0] acc;
            mac_lane #(
                .MS(NX), .IN_W(IN_W), .IN_SIGNED(IN_SIGNED), .W_W(W_W), .BIAS_W(BIAS_W), .ACC_W(AW), .MAC_MODE(MAC_MODE),
                .MUL_CELL(MUL_CELL)
            ) u_mac (
                .clk(clk), .en(1'b1), .x(xl_reg), .w(wo[pe*NX*W_W +: NX*W_W]), .acc_load(v_reg), .first(first_reg),
                .bias(bias), .acc(acc)
            );
            requant_pipe #(
                .ACC_W(AW), .M_W(M_W), .S_W(S_W),
                .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .PIPELINED(1)
            ) u_rq (
                .clk(clk), .en(1'b1), .acc(acc), .m(m4), .s(sh4), .y(yq[pe*OUT_W +: OUT_W])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- collect + 2-entry output queue
    // At most 3 pixels are in flight (started, not yet sent): two in the queue and one being collected.
    reg [KP*OUT_W-1:0] collect;
    generate
        if (KP > C_OUT) begin : g_drop
            wire unused_lanes = &{1'b0, collect[KP*OUT_W-1:C_OUT*OUT_W]};
        end
    endgenerate
    reg collect_full, collect_last;
    wire q_full;
    wire push = collect_full && !q_full;
    wire out_fire = m_axis_tvalid && m_axis_tready;

    genvar gk;
    generate
        for (gk = 0; gk < KF; gk = gk + 1) begin : g_collect
            localparam [31:0] GK32 = gk;
            always @(posedge clk) begin
                if (r_v && r_kg == GK32[KGB-1:0]) collect[gk*PE*OUT_W +: PE*OUT_W] <= yq;
            end
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            collect_full <= 1'b0;
            collect_last <= 1'b0;
            inflight <= 2'd0;
        end else begin
            if (r_v && r_pxlast) begin
                collect_full <= 1'b1;
                collect_last <= r_frlast;
            end else if (push) begin
                collect_full <= 1'b0;
            end
            inflight <= inflight + ((issue && px_first) ? 2'd1 : 2'd0) - (out_fire ? 2'd1 : 2'd0);
        end
    end

    axis_out_queue #(.DATA_W(C_OUT*OUT_W)) u_queue (
        .clk(clk), .rst(rst), .push(push), .push_data(collect[C_OUT*OUT_W-1:0]), .push_last(collect_last),
        .full(q_full),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );
endmodule
`default_nettype wire
