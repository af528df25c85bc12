`timescale 1ns/1ps
`default_nettype none
// axis_fork: broadcast one AXI-Stream to two outputs (a and b), each with its own ready.
// Each output has its own 2-entry queue; an input beat is accepted when neither queue is full (registered flags),
// so every beat reaches both outputs exactly once, in order, one cycle after it is accepted.
// A branch that stalls stalls the other one too: give the faster (skip) branch a FIFO deep
// enough for the latency difference of the two branches before they join again.
module axis_fork #(
    parameter integer DATA_W = 8                // beat width (bits)
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [DATA_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    input  wire                 s_axis_tlast,
    output wire [DATA_W-1:0] m_a_axis_tdata,
    output wire                 m_a_axis_tvalid,
    input  wire                 m_a_axis_tready,
    output wire                 m_a_axis_tlast,
    output wire [DATA_W-1:0] m_b_axis_tdata,
    output wire                 m_b_axis_tvalid,
    input  wire                 m_b_axis_tready,
    output wire                 m_b_axis_tlast
);
    generate
        if (DATA_W < 1) begin : g_check
            PARAMETER_ERROR_axis_fork_DATA_W_must_be_at_least_1 u_error ();
        end
    endgenerate

    // one 2-entry queue per output (axis_out_queue): s_axis_tready starts from the queues' registered `full` flags,
    // so the producer's handshake has no combinational path from the consumers' readies (which may be across the chip)
    wire a_full, b_full;
    assign s_axis_tready = !rst && !a_full && !b_full;
    wire in_fire = s_axis_tvalid && s_axis_tready;
    axis_out_queue #(.DATA_W(DATA_W)) u_a (
        .clk(clk), .rst(rst), .push(in_fire), .push_data(s_axis_tdata), .push_last(s_axis_tlast), .full(a_full),
        .m_axis_tdata(m_a_axis_tdata), .m_axis_tvalid(m_a_axis_tvalid), .m_axis_tready(m_a_axis_tready),
        .m_axis_tlast(m_a_axis_tlast)
    );
    axis_out_queue #(.DATA_W(DATA_W)) u_b (
        .clk(clk), .rst(rst), .push(in_fire), .push_data(s_axis_tdata), .push_last(s_axis_tlast), .full(b_full),
        .m_axis_tdata(m_b_axis_tdata), .m_axis_tvalid(m_b_axis_tvalid), .m_axis_tready(m_b_axis_tready),
        .m_axis_tlast(m_b_axis_tlast)
    );
endmodule
`default_nettype wire
