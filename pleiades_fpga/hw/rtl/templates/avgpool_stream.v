`timescale 1ns/1ps
`default_nettype none
// avgpool_stream: per-channel global average over an H x W frame, requantized.
//   sum[c] = sum over the frame of x[c]            (exact, ACC_W signed bits)
//   y[c]   = clamp(round_half_even(sum[c] * M[c] / 2**S[c]), lo, hi)   (requant_pipe.v; M/2**S ~ 1/(H*W) x scales)
// Input: one beat = one pixel with all C channels (IN_W each, channel c at [c*IN_W +: IN_W],
// signed if IN_SIGNED); a frame is H*W beats (an early s_axis_tlast also ends the frame).
// Output: one beat per frame with all C channels (OUT_W each), tlast = 1.
// The input accepts one beat per cycle through a 2-beat queue (registered s_axis_tready, one cycle of latency:
// kinds.avgpool pipeline_cycles); at a frame end the sums move to a hold bank, which PE
// requant lanes (requant_pipe, 4 stages after the registered sums) turn into the output beat in C/PE + 8
// cycles (cycles_spatial.avgpool_cycles) while the next frame accumulates.
// Param ROM read port (1-cycle synchronous read): address = channel group g (C/PE words); lane pe at
// [pe*FW +: FW], FW = M_W + S_W, holding {S (unsigned), M (unsigned)} MSB to LSB,
// for channel g*PE + pe (CF = ceil(C/PE) groups; lanes past the last channel are dropped).
module avgpool_stream #(
    // (small defaults keep template-level lint/synthesis quick; the generator sets every parameter)
    parameter integer H = 4,                    // frame height (pixels)
    parameter integer W = 4,                    // frame width (pixels)
    parameter integer C = 2,                    // channels (in = out)
    parameter integer IN_W = 4,                 // input activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: input is two's complement
    parameter integer ACC_W = IN_W + $clog2(H * W + 1) + 1,   // frame-sum width (bits, signed)
    parameter integer PE = 1,                   // requant lanes (channels per output step)
    parameter integer M_W = 8,                  // requant multiplier width (bits, unsigned)
    parameter integer S_W = 4,                  // requant shift width (bits, unsigned)
    parameter integer OUT_W = 4,                // output width (bits)
    parameter integer OUT_SIGNED = 0,           // 0: unsigned output (ReLU fused), 1: signed
    // derived: do not override
    parameter integer CF = (C + PE - 1) / PE,
    parameter integer PROM_AW = (CF > 1) ? $clog2(CF) : 1,
    parameter integer FW = M_W + S_W
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [C*IN_W-1:0]   s_axis_tdata,
    input  wire                   s_axis_tvalid,
    output wire                   s_axis_tready,
    input  wire                   s_axis_tlast,
    output wire [C*OUT_W-1:0]  m_axis_tdata,
    output wire                   m_axis_tvalid,
    input  wire                   m_axis_tready,
    output wire                   m_axis_tlast,
    output wire [PROM_AW-1:0]     prom_addr,
    input  wire [PE*FW-1:0]  prom_data
);
    generate
        if (H < 1 || W < 1 || C < 1 || PE < 1) begin : g_check_sizes
            PARAMETER_ERROR_avgpool_stream_H_W_C_PE_must_be_at_least_1 u_error ();
        end
        if (IN_W < 1 || M_W < 1 || S_W < 1 || OUT_W < 1 || ACC_W <= IN_W) begin : g_check_widths
            PARAMETER_ERROR_avgpool_stream_widths_must_be_at_least_1_and_ACC_W_above_IN_W u_error ();
        end
    endgenerate

    localparam integer NPIX = H * W;
    localparam integer CP = CF * PE;     // channels incl. padding lanes of the last group
    localparam integer PB = $clog2(NPIX + 1);
    localparam integer GB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer I_NL = NPIX - 1;
    localparam integer I_GL = CF - 1;
    localparam [PB-1:0] PIX_LAST = I_NL[PB-1:0];
    localparam [GB-1:0] G_LAST = I_GL[GB-1:0];

    reg  [PB-1:0]         pix;          // pixel index within the frame
    reg  [C*ACC_W-1:0] sums;
    reg  [CP*ACC_W-1:0] hold;
    wire [CP*ACC_W-1:0] hold_next;
    reg                   hold_full;
    // input skid queue: the sums' enable and adders start from its registers (not from the producer's valid and
    // data across the chip); s_axis_tready is its registered free entry
    wire [C*IN_W-1:0] in_data;
    wire in_valid, in_last, inq_full;
    wire in_end = (pix == PIX_LAST) || in_last;
    wire in_take = !(in_end && hold_full);
    assign s_axis_tready = !inq_full && !rst;
    axis_out_queue #(.DATA_W(C*IN_W)) u_inq (
        .clk(clk), .rst(rst), .push(s_axis_tvalid && s_axis_tready), .push_data(s_axis_tdata),
        .push_last(s_axis_tlast), .full(inq_full),
        .m_axis_tdata(in_data), .m_axis_tvalid(in_valid), .m_axis_tready(in_take), .m_axis_tlast(in_last)
    );
    wire in_fire = in_valid && in_take;

    // next sums: (first pixel ? 0 : sums) + x, per channel
    wire [C*ACC_W-1:0] sums_next;
    genvar c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_ch
            wire [IN_W-1:0] xv = in_data[c*IN_W +: IN_W];
            wire xs = (IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0;
            wire [ACC_W-1:0] xe = {{(ACC_W-IN_W){xs}}, xv};
            wire [ACC_W-1:0] base = (pix == {PB{1'b0}}) ? {ACC_W{1'b0}} : sums[c*ACC_W +: ACC_W];
            assign sums_next[c*ACC_W +: ACC_W] = base + xe;
        end
    endgenerate
    zero_extend #(.IN_W(C*ACC_W), .OUT_W(CP*ACC_W)) u_hpad (.x(sums_next), .y(hold_next));

    // requant engine: groups g = 0..CF-1 of PE channels, one per cycle, into the output register
    reg  [GB-1:0] g;            // group whose params are being addressed
    reg           rq_busy;      // issuing groups
    reg           s2_v, s2_last;
    reg  [GB-1:0] s2_g;
    reg  [CP*OUT_W-1:0] out_data;
    reg           out_valid;
    wire out_fire = out_valid && m_axis_tready;
    reg           s3_v, s3_last;                // stage 3: selected sums and parameters registered
    reg  [GB-1:0] s3_g;
    localparam integer RQ_STAGES = 4;           // requant_pipe's register stages (PIPELINED = 1)
    reg  [RQ_STAGES-1:0] rv, rlast;             // requant_pipe stages
    reg  [RQ_STAGES*GB-1:0] rg;
    wire          r_v = rv[RQ_STAGES-1];
    wire          r_last = rlast[RQ_STAGES-1];
    wire [GB-1:0] r_g = rg[(RQ_STAGES-1)*GB +: GB];
    wire rq_start = hold_full && !rq_busy && !s2_v && !s3_v && !(|rv) && !out_valid;
    assign prom_addr = g[PROM_AW-1:0];

    always @(posedge clk) begin
        if (in_fire) sums <= sums_next;
        // the pass reads group g at the bottom of the hold bank, which shifts down one group per read (no multiplexer
        // across the groups); a frame end loads it only after the pass (in_take waits while hold_full)
        if (in_fire && in_end) hold <= hold_next;
        else if (s2_v) hold <= hold >> (PE * ACC_W);
        s2_g <= g;
        s2_last <= (g == G_LAST);
        s3_g <= s2_g;
        s3_last <= s2_last;
        rg <= {rg[0 +: (RQ_STAGES-1)*GB], s3_g};
        rlast <= {rlast[RQ_STAGES-2:0], s3_last};
        if (rst) begin
            pix <= {PB{1'b0}};
            hold_full <= 1'b0;
            rq_busy <= 1'b0;
            g <= {GB{1'b0}};
            s2_v <= 1'b0;
            s3_v <= 1'b0;
            rv <= {RQ_STAGES{1'b0}};
            out_valid <= 1'b0;
        end else begin
            if (in_fire) pix <= in_end ? {PB{1'b0}} : pix + 1'b1;
            s2_v <= rq_busy;
            s3_v <= s2_v;
            rv <= {rv[RQ_STAGES-2:0], s3_v};
            if (rq_start) begin
                rq_busy <= 1'b1;
                g <= {GB{1'b0}};
            end else if (rq_busy) begin
                if (g == G_LAST) rq_busy <= 1'b0;
                else g <= g + 1'b1;
            end
            if (in_fire && in_end) hold_full <= 1'b1;
            else if (s2_v && s2_last) hold_full <= 1'b0;
            if (r_v && r_last) out_valid <= 1'b1;
            else if (out_fire) out_valid <= 1'b0;
        end
    end

    wire [PE*OUT_W-1:0] yq;
    reg  [PE*ACC_W-1:0] h3;                     // the group's sums (from the hold bank), registered
    reg  [PE*FW-1:0]    prm3;                   // its parameter ROM word, registered
    always @(posedge clk) begin
        h3 <= hold[0 +: PE * ACC_W];
        prm3 <= prom_data;
    end
    genvar pe;
    generate
        for (pe = 0; pe < PE; pe = pe + 1) begin : g_rq
            wire [FW-1:0] prm = prm3[pe*FW +: FW];
            requant_pipe #(
                .ACC_W(ACC_W), .M_W(M_W), .S_W(S_W),
                .OUT_W(OUT_W), .OUT_SIGNED(OUT_SIGNED), .PIPELINED(1)
            ) u_rq (
                .clk(clk),
                .en(1'b1),
                .acc(h3[pe*ACC_W +: ACC_W]),
                .m(prm[0 +: M_W]),
                .s(prm[M_W +: S_W]),
                .y(yq[pe*OUT_W +: OUT_W])
            );
        end
    endgenerate

    always @(posedge clk) begin
        if (r_v) out_data[r_g * (PE * OUT_W) +: PE * OUT_W] <= yq;
    end

    assign m_axis_tdata = out_data[C*OUT_W-1:0];
    generate
        if (CP > C) begin : g_drop
            wire unused_lanes = &{1'b0, out_data[CP*OUT_W-1:C*OUT_W]};
        end
    endgenerate
    assign m_axis_tvalid = out_valid;
    assign m_axis_tlast = 1'b1;
endmodule
`default_nettype wire
