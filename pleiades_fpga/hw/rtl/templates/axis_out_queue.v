`timescale 1ns/1ps
`default_nettype none
// axis_out_queue: 2-entry output queue of an engine (block library).
// The engine pushes one beat (push, push_data, push_last) only while `full` is low; the head entry drives
// m_axis, the second entry (skid) fills when the head is held by back-pressure. `full` (skid in use) is a
// register, so an engine that advances on !full has no combinational path from m_axis_tready.
module axis_out_queue #(
    parameter integer DATA_W = 8                // beat width (bits)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              push,              // a beat enters (only while full = 0)
    input  wire [DATA_W-1:0] push_data,
    input  wire              push_last,
    output wire              full,              // the skid entry is used: the engine must hold
    output wire [DATA_W-1:0] m_axis_tdata,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready,
    output wire              m_axis_tlast
);
    generate
        if (DATA_W < 1) begin : g_check_data_w
            PARAMETER_ERROR_axis_out_queue_DATA_W_must_be_at_least_1 u_error ();
        end
    endgenerate

    reg  [DATA_W-1:0] q0_data_reg, q1_data_reg;
    reg               q0_valid_reg, q0_last_reg, q1_valid_reg, q1_last_reg;
    wire pop = q0_valid_reg && m_axis_tready;
    always @(posedge clk) begin
        if (rst) begin
            q0_valid_reg <= 1'b0;
            q1_valid_reg <= 1'b0;
        end else if (push) begin               // the skid entry is empty here
            if (!q0_valid_reg || pop) q0_valid_reg <= 1'b1;
            else q1_valid_reg <= 1'b1;
        end else if (pop) begin
            q0_valid_reg <= q1_valid_reg;
            q1_valid_reg <= 1'b0;
        end
    end
    // data and last carry no reset (read only while their valid flag is set), so rst is not in their clock enables:
    // the reset net then reaches the flags' resets only. The skid data takes every pushed beat (it is empty then);
    // its enable does not depend on m_axis_tready, so the consumer's ready drives one data register's enables only.
    always @(posedge clk) begin
        if (push) begin
            if (!q0_valid_reg || pop) begin
                q0_data_reg <= push_data;
                q0_last_reg <= push_last;
            end else begin
                q1_last_reg <= push_last;
            end
        end else if (pop) begin
            q0_data_reg <= q1_data_reg;
            q0_last_reg <= q1_last_reg;
        end
        if (push) q1_data_reg <= push_data;
    end

    assign full = q1_valid_reg;
    assign m_axis_tdata = q0_data_reg;
    assign m_axis_tvalid = q0_valid_reg;
    assign m_axis_tlast = q0_last_reg;
endmodule
`default_nettype wire
