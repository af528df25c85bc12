`timescale 1ns/1ps
`default_nettype none
// global_avg_pool: per-channel global average over an H x W frame, requantized.
//   sum[c] = sum over the frame of x[c]            (exact, SUM_BITS signed bits)
//   y[c]   = clamp(round_half_even(sum[c] * M[c] / 2**S[c]), lo, hi)   (requant.v; M/2**S ~ 1/(H*W) x scales)
// Input: one beat = one pixel with all C channels (IN_BITS each, channel c at [c*IN_BITS +: IN_BITS],
// signed if IN_SIGNED); a frame is H*W beats (an early s_axis_tlast also ends the frame).
// Output: one beat per frame with all C channels (OUT_BITS each), tlast = 1.
// The input accepts one beat per cycle; at a frame end the sums move to a hold bank, which PE
// requant lanes turn into the output beat in C/PE cycles while the next frame accumulates.
// Param ROM read port (1-cycle synchronous read): address = channel group g (C/PE words); lane pe at
// [pe*PR_BITS +: PR_BITS], PR_BITS = M_BITS + S_BITS, holding {S (unsigned), M (unsigned)} MSB to LSB,
// for channel g*PE + pe (CF = ceil(C/PE) groups; lanes past the last channel are dropped).
module global_avg_pool #(
    // (small defaults keep template-level lint/synthesis quick; the generator sets every parameter)
    parameter integer H = 4,
    parameter integer W = 4,
    parameter integer C = 2,
    parameter integer IN_BITS = 4,
    parameter integer IN_SIGNED = 0,
    parameter integer SUM_BITS = IN_BITS + $clog2(H * W + 1) + 1,
    parameter integer PE = 1,
    parameter integer M_BITS = 8,
    parameter integer S_BITS = 4,
    parameter integer OUT_BITS = 4,
    parameter integer OUT_SIGNED = 0,
    // derived: do not override
    parameter integer CF = (C + PE - 1) / PE,
    parameter integer PROM_AW = (CF > 1) ? $clog2(CF) : 1,
    parameter integer PR_BITS = M_BITS + S_BITS
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [C*IN_BITS-1:0]   s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [C*OUT_BITS-1:0]  m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast,
    output wire [PROM_AW-1:0]     prom_addr,
    input  wire [PE*PR_BITS-1:0]  prom_data
);
    localparam integer NPIX = H * W;
    localparam integer CP = CF * PE;     // channels incl. padding lanes of the last group
    localparam integer PB = $clog2(NPIX + 1);
    localparam integer GB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer I_NL = NPIX - 1;
    localparam integer I_GL = CF - 1;
    localparam [PB-1:0] PIX_LAST = I_NL[PB-1:0];
    localparam [GB-1:0] G_LAST = I_GL[GB-1:0];

    reg  [PB-1:0]         pix;          // pixel index within the frame
    reg  [C*SUM_BITS-1:0] sums;
    reg  [CP*SUM_BITS-1:0] hold;
    wire [CP*SUM_BITS-1:0] hold_next;
    reg                   hold_full;
    wire in_end = (pix == PIX_LAST) || s_axis_tlast;
    assign s_axis_tready = !rst && !(in_end && hold_full);
    wire in_fire = s_axis_tvalid && s_axis_tready;

    // next sums: (first pixel ? 0 : sums) + x, per channel
    wire [C*SUM_BITS-1:0] sums_next;
    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            wire [IN_BITS-1:0] xv = s_axis_tdata[c*IN_BITS +: IN_BITS];
            wire xs = (IN_SIGNED != 0) ? xv[IN_BITS-1] : 1'b0;
            wire [SUM_BITS-1:0] xe = {{(SUM_BITS-IN_BITS){xs}}, xv};
            wire [SUM_BITS-1:0] base = (pix == {PB{1'b0}}) ? {SUM_BITS{1'b0}} : sums[c*SUM_BITS +: SUM_BITS];
            assign sums_next[c*SUM_BITS +: SUM_BITS] = base + xe;
        end
        if (CP > C) begin : g_hpad
            assign hold_next = {{((CP-C)*SUM_BITS){1'b0}}, sums_next};
        end else begin : g_hnopad
            assign hold_next = sums_next;
        end
    endgenerate

    // requant engine: groups g = 0..CF-1 of PE channels, one per cycle, into the output register
    reg  [GB-1:0] g;            // group whose params are being addressed
    reg           rq_busy;      // issuing groups
    reg           s2_v, s2_last;
    reg  [GB-1:0] s2_g;
    reg  [CP*OUT_BITS-1:0] out_data;
    reg           out_valid;
    wire out_fire = out_valid && m_axis_tready;
    wire rq_start = hold_full && !rq_busy && !s2_v && !out_valid;
    assign prom_addr = g[PROM_AW-1:0];

    always @(posedge clk) begin
        if (in_fire) sums <= sums_next;
        if (in_fire && in_end) hold <= hold_next;
        s2_g <= g;
        s2_last <= (g == G_LAST);
        if (rst) begin
            pix <= {PB{1'b0}};
            hold_full <= 1'b0;
            rq_busy <= 1'b0;
            g <= {GB{1'b0}};
            s2_v <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            if (in_fire) pix <= in_end ? {PB{1'b0}} : pix + 1'b1;
            s2_v <= rq_busy;
            if (rq_start) begin
                rq_busy <= 1'b1;
                g <= {GB{1'b0}};
            end else if (rq_busy) begin
                if (g == G_LAST) rq_busy <= 1'b0;
                else g <= g + 1'b1;
            end
            if (in_fire && in_end) hold_full <= 1'b1;
            else if (s2_v && s2_last) hold_full <= 1'b0;
            if (s2_v && s2_last) out_valid <= 1'b1;
            else if (out_fire) out_valid <= 1'b0;
        end
    end

    wire [PE*OUT_BITS-1:0] yq;
    wire [PE*SUM_BITS-1:0] hsel = hold[s2_g * (PE * SUM_BITS) +: PE * SUM_BITS];
    genvar pe;
    generate
        for (pe = 0; pe < PE; pe = pe + 1) begin : g_rq
            wire [PR_BITS-1:0] prm = prom_data[pe*PR_BITS +: PR_BITS];
            requant #(
                .ACC_W(SUM_BITS), .M_W(M_BITS), .S_W(S_BITS),
                .OUT_W(OUT_BITS), .OUT_SIGNED(OUT_SIGNED)
            ) u_rq (
                .acc(hsel[pe*SUM_BITS +: SUM_BITS]),
                .m(prm[0 +: M_BITS]),
                .s(prm[M_BITS +: S_BITS]),
                .y(yq[pe*OUT_BITS +: OUT_BITS])
            );
        end
    endgenerate

    always @(posedge clk) begin
        if (s2_v) out_data[s2_g * (PE * OUT_BITS) +: PE * OUT_BITS] <= yq;
    end

    assign m_axis_tdata = out_data[C*OUT_BITS-1:0];
    generate
        if (CP > C) begin : g_drop
            wire unused_lanes = &{1'b0, out_data[CP*OUT_BITS-1:C*OUT_BITS]};
        end
    endgenerate
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast = 1'b1;
endmodule
`default_nettype wire
