`timescale 1ns/1ps
`default_nettype none
// axis_fork: broadcast one AXI-Stream to two outputs (a and b), each with its own ready.
// Each output has its own register; an input beat is accepted when both registers are empty or
// being emptied in this cycle, so every beat reaches both outputs exactly once, in order.
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

    reg [DATA_W-1:0] a_data, b_data;
    reg a_valid, b_valid, a_last, b_last;
    wire a_free = !a_valid || m_a_axis_tready;
    wire b_free = !b_valid || m_b_axis_tready;
    assign s_axis_tready = !rst && a_free && b_free;
    wire in_fire = s_axis_tvalid && s_axis_tready;

    always @(posedge clk) begin
        if (in_fire) begin
            a_data <= s_axis_tdata;
            b_data <= s_axis_tdata;
            a_last <= s_axis_tlast;
            b_last <= s_axis_tlast;
        end
        if (rst) begin
            a_valid <= 1'b0;
            b_valid <= 1'b0;
        end else begin
            if (in_fire) a_valid <= 1'b1;
            else if (m_a_axis_tready) a_valid <= 1'b0;
            if (in_fire) b_valid <= 1'b1;
            else if (m_b_axis_tready) b_valid <= 1'b0;
        end
    end

    assign m_a_axis_tdata = a_data;
    assign m_a_axis_tvalid = a_valid;
    assign m_a_axis_tlast = a_last;
    assign m_b_axis_tdata = b_data;
    assign m_b_axis_tvalid = b_valid;
    assign m_b_axis_tlast = b_last;
endmodule
`default_nettype wire
