`timescale 1ns/1ps
`default_nettype none
// axi_arbiter: M_COUNT AXI4 masters onto one AXI4 master port (the external temporal layers' histories onto the
// design's one memory port, docs/EXTERNAL_MEMORY.md).
//
// Slave side: master i's signals are bits [i*W +: W] of the flattened s_axi_<sig> ports (W = the signal's width).
// Each master issues INCR bursts and expects its responses in order per ID.
// - AW and AR: round-robin arbitration (the request after the last granted master wins). The granted address
//   leaves with its ID extended by the master index in the upper bits: m_axi_<a>id = {i, s_axi_<a>id}.
// - W: the data of the granted write bursts follow in the order their addresses were granted (a route FIFO of
//   W_PENDING master indices), one whole burst (up to wlast) at a time: bursts are never interleaved.
//   A master's W beats are accepted only after its address was granted.
// - B and R: routed back to master {b,r}id[M_ID_W-1 -: IX_W] with the lower S_ID_W bits as the master's ID
//   (a response with an index >= M_COUNT, which no AXI slave returns, is dropped so that it cannot block).
// Every channel passes through a 2-entry queue (axis_out_queue): outputs are registers and every ready is a
// register, so there is no combinational path from an input to an output of the same port (no ready -> valid
// loop); a slave-side ready may depend on the valid signals of the same channel (allowed by AXI).
// Throughput: one beat per cycle per channel. M_COUNT = 1: a pass-through (wires, M_ID_W = S_ID_W).
module axi_arbiter #(
    parameter integer M_COUNT = 2,              // AXI4 masters on the slave side (>= 1)
    parameter integer ADDR_W = 32,              // address width (bits, 12..64)
    parameter integer DATA_W = 32,              // data width (bits: 8, 16, ..., 1024)
    parameter integer S_ID_W = 1,               // ID width of each slave-side port (bits, >= 1)
    parameter integer W_PENDING = 4,            // granted write bursts whose data may be pending (a power of two >= 2)
    // derived (do not override)
    parameter integer STRB_W = DATA_W / 8,      // write strobe width (bytes per beat)
    parameter integer IX_W = (M_COUNT > 1) ? $clog2(M_COUNT) : 1,           // master index width
    parameter integer M_ID_W = S_ID_W + ((M_COUNT > 1) ? $clog2(M_COUNT) : 0)  // master-side ID width
) (
    input  wire                        clk,
    input  wire                        rst,                // synchronous, active high
    // slave side: M_COUNT AXI4 masters connect here (write address, write data, write response, read address,
    // read data)
    input  wire [M_COUNT*S_ID_W-1:0]   s_axi_awid,
    input  wire [M_COUNT*ADDR_W-1:0]   s_axi_awaddr,
    input  wire [M_COUNT*8-1:0]        s_axi_awlen,
    input  wire [M_COUNT*3-1:0]        s_axi_awsize,
    input  wire [M_COUNT*2-1:0]        s_axi_awburst,
    input  wire [M_COUNT-1:0]          s_axi_awvalid,
    output wire [M_COUNT-1:0]          s_axi_awready,
    input  wire [M_COUNT*DATA_W-1:0]   s_axi_wdata,
    input  wire [M_COUNT*STRB_W-1:0]   s_axi_wstrb,
    input  wire [M_COUNT-1:0]          s_axi_wlast,
    input  wire [M_COUNT-1:0]          s_axi_wvalid,
    output wire [M_COUNT-1:0]          s_axi_wready,
    output wire [M_COUNT*S_ID_W-1:0]   s_axi_bid,
    output wire [M_COUNT*2-1:0]        s_axi_bresp,
    output wire [M_COUNT-1:0]          s_axi_bvalid,
    input  wire [M_COUNT-1:0]          s_axi_bready,
    input  wire [M_COUNT*S_ID_W-1:0]   s_axi_arid,
    input  wire [M_COUNT*ADDR_W-1:0]   s_axi_araddr,
    input  wire [M_COUNT*8-1:0]        s_axi_arlen,
    input  wire [M_COUNT*3-1:0]        s_axi_arsize,
    input  wire [M_COUNT*2-1:0]        s_axi_arburst,
    input  wire [M_COUNT-1:0]          s_axi_arvalid,
    output wire [M_COUNT-1:0]          s_axi_arready,
    output wire [M_COUNT*S_ID_W-1:0]   s_axi_rid,
    output wire [M_COUNT*DATA_W-1:0]   s_axi_rdata,
    output wire [M_COUNT*2-1:0]        s_axi_rresp,
    output wire [M_COUNT-1:0]          s_axi_rlast,
    output wire [M_COUNT-1:0]          s_axi_rvalid,
    input  wire [M_COUNT-1:0]          s_axi_rready,
    // master side: the one AXI4 port to the memory
    output wire [M_ID_W-1:0]           m_axi_awid,
    output wire [ADDR_W-1:0]           m_axi_awaddr,
    output wire [7:0]                  m_axi_awlen,
    output wire [2:0]                  m_axi_awsize,
    output wire [1:0]                  m_axi_awburst,
    output wire                        m_axi_awvalid,
    input  wire                        m_axi_awready,
    output wire [DATA_W-1:0]           m_axi_wdata,
    output wire [STRB_W-1:0]           m_axi_wstrb,
    output wire                        m_axi_wlast,
    output wire                        m_axi_wvalid,
    input  wire                        m_axi_wready,
    input  wire [M_ID_W-1:0]           m_axi_bid,
    input  wire [1:0]                  m_axi_bresp,
    input  wire                        m_axi_bvalid,
    output wire                        m_axi_bready,
    output wire [M_ID_W-1:0]           m_axi_arid,
    output wire [ADDR_W-1:0]           m_axi_araddr,
    output wire [7:0]                  m_axi_arlen,
    output wire [2:0]                  m_axi_arsize,
    output wire [1:0]                  m_axi_arburst,
    output wire                        m_axi_arvalid,
    input  wire                        m_axi_arready,
    input  wire [M_ID_W-1:0]           m_axi_rid,
    input  wire [DATA_W-1:0]           m_axi_rdata,
    input  wire [1:0]                  m_axi_rresp,
    input  wire                        m_axi_rlast,
    input  wire                        m_axi_rvalid,
    output wire                        m_axi_rready
);
    // ---------------------------------------------------------------- parameter checks (elaboration)
    generate
        if (M_COUNT < 1 || M_COUNT > 256) begin : g_check_m_count
            PARAMETER_ERROR_axi_arbiter_M_COUNT_must_be_1_to_256 u_error ();
        end
        if (ADDR_W < 12 || ADDR_W > 64) begin : g_check_addr_w
            PARAMETER_ERROR_axi_arbiter_ADDR_W_must_be_12_to_64 u_error ();
        end
        if (DATA_W < 8 || DATA_W > 1024 || (DATA_W & (DATA_W - 1)) != 0) begin : g_check_data_w
            PARAMETER_ERROR_axi_arbiter_DATA_W_must_be_a_power_of_two_from_8_to_1024 u_error ();
        end
        if (S_ID_W < 1) begin : g_check_id_w
            PARAMETER_ERROR_axi_arbiter_S_ID_W_must_be_at_least_1 u_error ();
        end
        if (W_PENDING < 2 || (W_PENDING & (W_PENDING - 1)) != 0) begin : g_check_w_pending
            PARAMETER_ERROR_axi_arbiter_W_PENDING_must_be_a_power_of_two_at_least_2 u_error ();
        end
        if (STRB_W != DATA_W / 8 || IX_W != ((M_COUNT > 1) ? $clog2(M_COUNT) : 1)
            || M_ID_W != S_ID_W + ((M_COUNT > 1) ? $clog2(M_COUNT) : 0)) begin : g_check_derived
            PARAMETER_ERROR_axi_arbiter_derived_STRB_W_IX_W_M_ID_W_must_not_be_overridden u_error ();
        end
    endgenerate

    generate
        if (M_COUNT == 1) begin : g_pass
            // ---------------------------------------------------------------- one master: wires
            assign m_axi_awid = s_axi_awid;
            assign m_axi_awaddr = s_axi_awaddr;
            assign m_axi_awlen = s_axi_awlen;
            assign m_axi_awsize = s_axi_awsize;
            assign m_axi_awburst = s_axi_awburst;
            assign m_axi_awvalid = s_axi_awvalid[0];
            assign s_axi_awready = m_axi_awready;
            assign m_axi_wdata = s_axi_wdata;
            assign m_axi_wstrb = s_axi_wstrb;
            assign m_axi_wlast = s_axi_wlast[0];
            assign m_axi_wvalid = s_axi_wvalid[0];
            assign s_axi_wready = m_axi_wready;
            assign s_axi_bid = m_axi_bid;
            assign s_axi_bresp = m_axi_bresp;
            assign s_axi_bvalid = m_axi_bvalid;
            assign m_axi_bready = s_axi_bready[0];
            assign m_axi_arid = s_axi_arid;
            assign m_axi_araddr = s_axi_araddr;
            assign m_axi_arlen = s_axi_arlen;
            assign m_axi_arsize = s_axi_arsize;
            assign m_axi_arburst = s_axi_arburst;
            assign m_axi_arvalid = s_axi_arvalid[0];
            assign s_axi_arready = m_axi_arready;
            assign s_axi_rid = m_axi_rid;
            assign s_axi_rdata = m_axi_rdata;
            assign s_axi_rresp = m_axi_rresp;
            assign s_axi_rlast = m_axi_rlast;
            assign s_axi_rvalid = m_axi_rvalid;
            assign m_axi_rready = s_axi_rready[0];
            wire unused_rst = &{1'b0, clk, rst};
        end else begin : g_arb
            // ---------------------------------------------------------------- helpers
            localparam integer AX_W = M_ID_W + ADDR_W + 8 + 3 + 2;  // {id, addr, len, size, burst}
            localparam [M_COUNT-1:0] ONE = {{(M_COUNT - 1){1'b0}}, 1'b1};
            localparam [31:0] M_COUNT32 = M_COUNT;

            // round robin: the first requester after `last` (cyclically), `last` itself at the lowest priority
            function [IX_W-1:0] rr_pick;
                input [M_COUNT-1:0] req;
                input [IX_W-1:0] last;
                integer n;
                reg [31:0] idx;
                begin
                    rr_pick = last;
                    for (n = M_COUNT; n >= 1; n = n - 1) begin
                        idx = {{(32 - IX_W){1'b0}}, last} + n;
                        if (idx >= M_COUNT32) idx = idx - M_COUNT32;
                        if (|(req & (ONE << idx))) rr_pick = idx[IX_W-1:0];
                    end
                end
            endfunction

            // ---------------------------------------------------------------- write address
            reg  [IX_W-1:0] aw_last_reg;            // last granted write master
            wire [IX_W-1:0] aw_pick = rr_pick(s_axi_awvalid, aw_last_reg);
            wire aw_full, route_ready;
            wire aw_req = |s_axi_awvalid && !aw_full;
            wire aw_go = aw_req && route_ready;     // the picked master's address enters the queue
            wire [AX_W-1:0] aw_in = {aw_pick, s_axi_awid[aw_pick*S_ID_W +: S_ID_W],
                                     s_axi_awaddr[aw_pick*ADDR_W +: ADDR_W], s_axi_awlen[aw_pick*8 +: 8],
                                     s_axi_awsize[aw_pick*3 +: 3], s_axi_awburst[aw_pick*2 +: 2]};
            wire [AX_W-1:0] aw_out;
            wire unused_aw_last;
            assign s_axi_awready = aw_go ? (ONE << aw_pick) : {M_COUNT{1'b0}};
            always @(posedge clk) begin
                if (rst) aw_last_reg <= {IX_W{1'b0}};
                else if (aw_go) aw_last_reg <= aw_pick;
            end
            axis_out_queue #(.DATA_W(AX_W)) u_aw_queue (
                .clk(clk), .rst(rst), .push(aw_go), .push_data(aw_in), .push_last(1'b0), .full(aw_full),
                .m_axis_tdata(aw_out), .m_axis_tvalid(m_axi_awvalid), .m_axis_tready(m_axi_awready),
                .m_axis_tlast(unused_aw_last));
            assign {m_axi_awid, m_axi_awaddr, m_axi_awlen, m_axi_awsize, m_axi_awburst} = aw_out;

            // ---------------------------------------------------------------- write data (granted order)
            wire [IX_W-1:0] w_idx;                  // master of the burst whose data passes now
            wire w_route, w_full, unused_route_last;
            wire [M_COUNT-1:0] w_sel = ONE << w_idx;
            wire w_open = w_route && !w_full;
            wire w_last = |(s_axi_wlast & w_sel);
            wire w_go = w_open && |(s_axi_wvalid & w_sel);
            wire w_end = w_go && w_last;            // the burst's last beat: the next granted burst follows
            wire [DATA_W+STRB_W-1:0] w_out;
            assign s_axi_wready = w_open ? w_sel : {M_COUNT{1'b0}};
            axis_fifo #(.DATA_W(IX_W), .DEPTH(W_PENDING)) u_w_route (
                .clk(clk), .rst(rst), .s_axis_tdata(aw_pick), .s_axis_tvalid(aw_req), .s_axis_tready(route_ready),
                .s_axis_tlast(1'b0), .m_axis_tdata(w_idx), .m_axis_tvalid(w_route), .m_axis_tready(w_end),
                .m_axis_tlast(unused_route_last));
            axis_out_queue #(.DATA_W(DATA_W + STRB_W)) u_w_queue (
                .clk(clk), .rst(rst), .push(w_go),
                .push_data({s_axi_wdata[w_idx*DATA_W +: DATA_W], s_axi_wstrb[w_idx*STRB_W +: STRB_W]}),
                .push_last(w_last), .full(w_full), .m_axis_tdata(w_out), .m_axis_tvalid(m_axi_wvalid),
                .m_axis_tready(m_axi_wready), .m_axis_tlast(m_axi_wlast));
            assign {m_axi_wdata, m_axi_wstrb} = w_out;

            // ---------------------------------------------------------------- read address
            reg  [IX_W-1:0] ar_last_reg;            // last granted read master
            wire [IX_W-1:0] ar_pick = rr_pick(s_axi_arvalid, ar_last_reg);
            wire ar_full, unused_ar_last;
            wire ar_go = |s_axi_arvalid && !ar_full;
            wire [AX_W-1:0] ar_in = {ar_pick, s_axi_arid[ar_pick*S_ID_W +: S_ID_W],
                                     s_axi_araddr[ar_pick*ADDR_W +: ADDR_W], s_axi_arlen[ar_pick*8 +: 8],
                                     s_axi_arsize[ar_pick*3 +: 3], s_axi_arburst[ar_pick*2 +: 2]};
            wire [AX_W-1:0] ar_out;
            assign s_axi_arready = ar_go ? (ONE << ar_pick) : {M_COUNT{1'b0}};
            always @(posedge clk) begin
                if (rst) ar_last_reg <= {IX_W{1'b0}};
                else if (ar_go) ar_last_reg <= ar_pick;
            end
            axis_out_queue #(.DATA_W(AX_W)) u_ar_queue (
                .clk(clk), .rst(rst), .push(ar_go), .push_data(ar_in), .push_last(1'b0), .full(ar_full),
                .m_axis_tdata(ar_out), .m_axis_tvalid(m_axi_arvalid), .m_axis_tready(m_axi_arready),
                .m_axis_tlast(unused_ar_last));
            assign {m_axi_arid, m_axi_araddr, m_axi_arlen, m_axi_arsize, m_axi_arburst} = ar_out;

            // ---------------------------------------------------------------- write response (routed by ID)
            wire b_full, b_valid, unused_b_last;
            wire [M_ID_W+2-1:0] b_out;
            wire [IX_W-1:0] b_idx = b_out[M_ID_W+2-1 -: IX_W];
            wire [M_COUNT-1:0] b_sel = ONE << b_idx;   // zero for an index >= M_COUNT
            wire b_pop = ({{(32 - IX_W){1'b0}}, b_idx} >= M_COUNT32) || |(s_axi_bready & b_sel);
            assign m_axi_bready = !b_full;
            assign s_axi_bvalid = b_valid ? b_sel : {M_COUNT{1'b0}};
            assign s_axi_bid = {M_COUNT{b_out[2 +: S_ID_W]}};
            assign s_axi_bresp = {M_COUNT{b_out[1:0]}};
            axis_out_queue #(.DATA_W(M_ID_W + 2)) u_b_queue (
                .clk(clk), .rst(rst), .push(m_axi_bvalid && !b_full), .push_data({m_axi_bid, m_axi_bresp}),
                .push_last(1'b0), .full(b_full), .m_axis_tdata(b_out), .m_axis_tvalid(b_valid),
                .m_axis_tready(b_pop), .m_axis_tlast(unused_b_last));

            // ---------------------------------------------------------------- read data (routed by ID)
            wire r_full, r_valid, r_last;
            wire [M_ID_W+DATA_W+2-1:0] r_out;
            wire [IX_W-1:0] r_idx = r_out[M_ID_W+DATA_W+2-1 -: IX_W];
            wire [M_COUNT-1:0] r_sel = ONE << r_idx;   // zero for an index >= M_COUNT
            wire r_pop = ({{(32 - IX_W){1'b0}}, r_idx} >= M_COUNT32) || |(s_axi_rready & r_sel);
            assign m_axi_rready = !r_full;
            assign s_axi_rvalid = r_valid ? r_sel : {M_COUNT{1'b0}};
            assign s_axi_rid = {M_COUNT{r_out[DATA_W+2 +: S_ID_W]}};
            assign s_axi_rdata = {M_COUNT{r_out[2 +: DATA_W]}};
            assign s_axi_rresp = {M_COUNT{r_out[1:0]}};
            assign s_axi_rlast = {M_COUNT{r_last}};
            axis_out_queue #(.DATA_W(M_ID_W + DATA_W + 2)) u_r_queue (
                .clk(clk), .rst(rst), .push(m_axi_rvalid && !r_full), .push_data({m_axi_rid, m_axi_rdata, m_axi_rresp}),
                .push_last(m_axi_rlast), .full(r_full), .m_axis_tdata(r_out), .m_axis_tvalid(r_valid),
                .m_axis_tready(r_pop), .m_axis_tlast(r_last));
        end
    endgenerate
endmodule
`default_nettype wire
