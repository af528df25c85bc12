// axi_ram_model: AXI4 slave memory for simulation (in the manner of verilog-axi's axi_ram), with seeded random
// latency and back-pressure, so that long runs stay at the simulator's speed.
// - Every read burst starts lat_min..lat_max cycles (uniform, xorshift32 from `seed`) after its AR handshake;
//   read bursts are queued (QUEUE deep) and served in order (AXI IDs are returned, responses in order).
// - Every ready and valid this model drives (arready, awready, wready, rvalid, bvalid) is held low in a cycle
//   with probability stall / 65536. A write response follows wlast after lat_min..lat_max cycles.
// - Counters: read_beats, write_beats; errors (bursts that cross 4 KB, leave the memory, are not INCR, have a
//   size other than the bus width, or a wlast on the wrong beat); unwritten_reads (beats read from words never
//   written since the simulation started: the memory starts with a garbage pattern, so such reads also show
//   up as wrong data).
// Memory: DEPTH words of DATA_W bits at byte addresses 0 .. DEPTH*DATA_W/8-1. Simulation only.
`timescale 1ns/1ps
`default_nettype none
// a behavioural model: blocking assignments and integer arithmetic on purpose
// verilator lint_off BLKSEQ
// verilator lint_off WIDTHEXPAND
// verilator lint_off WIDTHTRUNC
// verilator lint_off UNUSEDSIGNAL
module axi_ram_model #(
    parameter integer DATA_W = 32,              // AXI data width (bits)
    parameter integer ADDR_W = 32,              // AXI address width (bits)
    parameter integer ID_W = 1,                 // AXI ID width (bits)
    parameter integer DEPTH = 4096,             // memory words
    parameter integer QUEUE = 32                // queued read bursts / write bursts / write responses
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [31:0]         seed,            // random sequence, reloaded at reset
    input  wire [15:0]         lat_min,         // cycles from the address handshake to the first R beat / to B
    input  wire [15:0]         lat_max,
    input  wire [15:0]         stall,           // probability (/65536) that a ready or valid is held low
    input  wire [ID_W-1:0]     s_axi_awid,
    input  wire [ADDR_W-1:0]   s_axi_awaddr,
    input  wire [7:0]          s_axi_awlen,
    input  wire [2:0]          s_axi_awsize,
    input  wire [1:0]          s_axi_awburst,
    input  wire                s_axi_awvalid,
    output reg                 s_axi_awready,
    input  wire [DATA_W-1:0]   s_axi_wdata,
    input  wire [DATA_W/8-1:0] s_axi_wstrb,
    input  wire                s_axi_wlast,
    input  wire                s_axi_wvalid,
    output reg                 s_axi_wready,
    output reg  [ID_W-1:0]     s_axi_bid,
    output reg  [1:0]          s_axi_bresp,
    output reg                 s_axi_bvalid,
    input  wire                s_axi_bready,
    input  wire [ID_W-1:0]     s_axi_arid,
    input  wire [ADDR_W-1:0]   s_axi_araddr,
    input  wire [7:0]          s_axi_arlen,
    input  wire [2:0]          s_axi_arsize,
    input  wire [1:0]          s_axi_arburst,
    input  wire                s_axi_arvalid,
    output reg                 s_axi_arready,
    output reg  [ID_W-1:0]     s_axi_rid,
    output reg  [DATA_W-1:0]   s_axi_rdata,
    output reg  [1:0]          s_axi_rresp,
    output reg                 s_axi_rlast,
    output reg                 s_axi_rvalid,
    input  wire                s_axi_rready,
    output reg  [31:0]         read_beats,
    output reg  [31:0]         write_beats,
    output reg  [31:0]         errors,
    output reg  [31:0]         unwritten_reads
);
    localparam integer BYTES = DATA_W / 8;
    localparam integer SIZE = $clog2(BYTES);

    reg [DATA_W-1:0] mem [0:DEPTH-1];
    reg              written [0:DEPTH-1];
    integer i;
    initial begin
        for (i = 0; i < DEPTH; i = i + 1) begin
            mem[i] = {(DATA_W + 31) / 32 {32'hdeadbeef ^ i}};
            written[i] = 1'b0;
        end
    end

    // queues: read bursts (AR), write bursts (AW), write responses (B)
    reg [ADDR_W-1:0] ar_addr_q [0:QUEUE-1];
    reg [7:0]        ar_len_q [0:QUEUE-1];
    reg [ID_W-1:0]   ar_id_q [0:QUEUE-1];
    reg [63:0]       ar_time_q [0:QUEUE-1];
    reg [ADDR_W-1:0] aw_addr_q [0:QUEUE-1];
    reg [7:0]        aw_len_q [0:QUEUE-1];
    reg [ID_W-1:0]   aw_id_q [0:QUEUE-1];
    reg [ID_W-1:0]   b_id_q [0:QUEUE-1];
    reg [63:0]       b_time_q [0:QUEUE-1];
    reg [1:0]        b_resp_q [0:QUEUE-1];
    integer ar_head, ar_n, aw_head, aw_n, b_head, b_n;

    reg [31:0] x;                               // xorshift32 state
    reg [63:0] cycle;
    reg        r_active;                        // a read burst is being returned
    integer    r_word, r_left;
    reg [ID_W-1:0] r_id;
    integer    w_beat;                          // beat of the write burst at the head of the AW queue
    reg        w_bad;                           // that burst broke a rule

    function [31:0] xs(input [31:0] v);
        reg [31:0] a, b;
        begin
            a = v ^ (v << 13);
            b = a ^ (a >> 17);
            xs = b ^ (b << 5);
        end
    endfunction

    function [63:0] latency(input [31:0] r);
        begin
            if (lat_max > lat_min) latency = {48'd0, lat_min} + {32'd0, r % ({16'd0, lat_max - lat_min} + 32'd1)};
            else latency = {48'd0, lat_min};
        end
    endfunction

    // a burst breaks a rule: not INCR, wrong size, crosses 4 KB, or leaves the memory
    function bad_burst(input [ADDR_W-1:0] addr, input [7:0] len, input [2:0] size, input [1:0] burst);
        reg [63:0] first, last;
        begin
            first = {{(64-ADDR_W){1'b0}}, addr};
            last = first + ({56'd0, len} + 64'd1) * BYTES - 64'd1;
            bad_burst = (burst != 2'b01) || (size != SIZE[2:0]) || (first % BYTES != 0)
                || ((first >> 12) != (last >> 12)) || (last >= DEPTH * BYTES);
        end
    endfunction

    function integer word_of(input [ADDR_W-1:0] addr);
        begin
            word_of = ({{(64-ADDR_W){1'b0}}, addr} / BYTES) % DEPTH;
        end
    endfunction

    reg [31:0] r1, r2, r3, r4, r5, r6;
    reg        rv, bv;
    integer    j, wa;
    always @(posedge clk) begin
        if (rst) begin
            x = (seed == 32'd0) ? 32'h9e3779b9 : seed;
            cycle = 64'd0;
            ar_head = 0; ar_n = 0; aw_head = 0; aw_n = 0; b_head = 0; b_n = 0;
            r_active = 1'b0; r_word = 0; r_left = 0; r_id = {ID_W{1'b0}};
            w_beat = 0; w_bad = 1'b0;
            rv = 1'b0; bv = 1'b0;
            s_axi_arready <= 1'b0; s_axi_awready <= 1'b0; s_axi_wready <= 1'b0;
            s_axi_rvalid <= 1'b0; s_axi_bvalid <= 1'b0; s_axi_rlast <= 1'b0; s_axi_rresp <= 2'b00;
            s_axi_bresp <= 2'b00;
            read_beats <= 32'd0; write_beats <= 32'd0; errors <= 32'd0; unwritten_reads <= 32'd0;
        end else begin
            cycle = cycle + 64'd1;
            x = xs(x); r1 = x; x = xs(x); r2 = x; x = xs(x); r3 = x;
            x = xs(x); r4 = x; x = xs(x); r5 = x; x = xs(x); r6 = x;
            // AR handshake (arready was driven last cycle)
            if (s_axi_arvalid && s_axi_arready) begin
                j = (ar_head + ar_n) % QUEUE;
                ar_addr_q[j] = s_axi_araddr; ar_len_q[j] = s_axi_arlen; ar_id_q[j] = s_axi_arid;
                ar_time_q[j] = cycle + latency(r1);
                ar_n = ar_n + 1;
                if (bad_burst(s_axi_araddr, s_axi_arlen, s_axi_arsize, s_axi_arburst)) errors <= errors + 32'd1;
            end
            // AW handshake
            if (s_axi_awvalid && s_axi_awready) begin
                j = (aw_head + aw_n) % QUEUE;
                aw_addr_q[j] = s_axi_awaddr; aw_len_q[j] = s_axi_awlen; aw_id_q[j] = s_axi_awid;
                aw_n = aw_n + 1;
                if (bad_burst(s_axi_awaddr, s_axi_awlen, s_axi_awsize, s_axi_awburst)) errors <= errors + 32'd1;
            end
            // W beat (wready only while a write burst is queued)
            if (s_axi_wvalid && s_axi_wready) begin
                wa = word_of(aw_addr_q[aw_head]) + w_beat;
                wa = wa % DEPTH;
                for (j = 0; j < BYTES; j = j + 1) begin
                    if (s_axi_wstrb[j]) mem[wa][j*8 +: 8] = s_axi_wdata[j*8 +: 8];
                end
                written[wa] = 1'b1;
                write_beats <= write_beats + 32'd1;
                if (s_axi_wlast != (w_beat == aw_len_q[aw_head])) w_bad = 1'b1;
                if (w_beat == aw_len_q[aw_head]) begin
                    j = (b_head + b_n) % QUEUE;
                    b_id_q[j] = aw_id_q[aw_head]; b_time_q[j] = cycle + latency(r2);
                    b_resp_q[j] = 2'b00;
                    b_n = b_n + 1;
                    if (w_bad) errors <= errors + 32'd1;
                    aw_head = (aw_head + 1) % QUEUE; aw_n = aw_n - 1;
                    w_beat = 0; w_bad = 1'b0;
                end else begin
                    w_beat = w_beat + 1;
                end
            end
            // R channel
            if (rv && s_axi_rready) begin
                rv = 1'b0;
                read_beats <= read_beats + 32'd1;
                if (r_left == 0) r_active = 1'b0;
                else begin
                    r_word = (r_word + 1) % DEPTH;
                    r_left = r_left - 1;
                end
            end
            if (!r_active && ar_n > 0 && ar_time_q[ar_head] <= cycle) begin
                r_active = 1'b1;
                r_word = word_of(ar_addr_q[ar_head]);
                r_left = ar_len_q[ar_head];
                r_id = ar_id_q[ar_head];
                ar_head = (ar_head + 1) % QUEUE; ar_n = ar_n - 1;
            end
            if (!rv && r_active && r3[15:0] >= stall) begin
                rv = 1'b1;
                s_axi_rdata <= mem[r_word];
                s_axi_rlast <= (r_left == 0);
                s_axi_rid <= r_id;
                s_axi_rresp <= 2'b00;
                if (!written[r_word]) unwritten_reads <= unwritten_reads + 32'd1;
            end
            // B channel
            if (bv && s_axi_bready) bv = 1'b0;
            if (!bv && b_n > 0 && b_time_q[b_head] <= cycle && r4[15:0] >= stall) begin
                bv = 1'b1;
                s_axi_bid <= b_id_q[b_head];
                s_axi_bresp <= b_resp_q[b_head];
                b_head = (b_head + 1) % QUEUE; b_n = b_n - 1;
            end
            s_axi_rvalid <= rv;
            s_axi_bvalid <= bv;
            // readies for the next cycle
            s_axi_arready <= (ar_n < QUEUE - 1) && r5[15:0] >= stall;
            s_axi_awready <= (aw_n < QUEUE - 1) && r6[15:0] >= stall;
            s_axi_wready <= (aw_n > 0) && (b_n < QUEUE - 2) && r5[31:16] >= stall;
        end
    end
endmodule
// verilator lint_on UNUSEDSIGNAL
// verilator lint_on WIDTHTRUNC
// verilator lint_on WIDTHEXPAND
// verilator lint_on BLKSEQ
`default_nettype wire
