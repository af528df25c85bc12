`timescale 1ns/1ps
`default_nettype none
// axis_out_queue: 2-entry output queue of an engine (block library).
// The engine pushes one beat (push, push_data, push_last) only while `full` is low; the head entry drives
// m_axis, the second entry fills when the head is held by back-pressure. `full` (both entries used) is a
// register, so an engine that advances on !full has no combinational path from m_axis_tready; m_axis_tdata is
// the entry at the read pointer (a 2:1 selection from registers).
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

    // two entries written at the write pointer and read at the read pointer: a beat's data is written once (at its
    // push) and never moved, so m_axis_tready enables the read pointer and the flags only, not the data registers
    // (no path from the consumer's ready to the clock enables of a wide word)
    reg  [DATA_W-1:0] d0_reg, d1_reg;
    reg               l0_reg, l1_reg;
    reg               wr_ptr_reg, rd_ptr_reg;
    reg               valid_reg, full_reg;     // >= 1 beat held (the head is valid); 2 beats held
    wire pop = valid_reg && m_axis_tready;
    always @(posedge clk) begin
        if (rst) begin
            wr_ptr_reg <= 1'b0;
            rd_ptr_reg <= 1'b0;
            valid_reg <= 1'b0;
            full_reg <= 1'b0;
        end else begin
            if (push) wr_ptr_reg <= !wr_ptr_reg;
            if (pop) rd_ptr_reg <= !rd_ptr_reg;
            // one beat held = valid and not full; push happens only while not full
            valid_reg <= push || (pop ? full_reg : valid_reg);
            full_reg <= !pop && (push ? valid_reg : full_reg);
        end
    end
    // data and last carry no reset (read only while valid), so rst is not in their clock enables
    always @(posedge clk) begin
        if (push && !wr_ptr_reg) begin
            d0_reg <= push_data;
            l0_reg <= push_last;
        end
        if (push && wr_ptr_reg) begin
            d1_reg <= push_data;
            l1_reg <= push_last;
        end
    end

    assign full = full_reg;
    assign m_axis_tdata = rd_ptr_reg ? d1_reg : d0_reg;
    assign m_axis_tvalid = valid_reg;
    assign m_axis_tlast = rd_ptr_reg ? l1_reg : l0_reg;
endmodule
`default_nettype wire
