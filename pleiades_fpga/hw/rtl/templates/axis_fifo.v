`timescale 1ns/1ps
`default_nettype none
// axis_fifo: synchronous AXI-Stream FIFO of DEPTH beats (DEPTH a power of two >= 2), data + tlast.
// Used on the short branch of a fork/add pair (the DWS skip) so that the long branch stays busy.
// Output data is read combinationally from the memory (distributed RAM); no throughput bubbles:
// one beat in and one beat out per cycle.
module axis_fifo #(
    parameter integer DATA_W = 8,               // beat width (bits, without tlast)
    parameter integer DEPTH = 8,                // beats (a power of two >= 2)
    // derived (do not override)
    parameter integer AW = (DEPTH > 2) ? $clog2(DEPTH) : 1
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [DATA_W-1:0] s_axis_tdata,
    input  wire                 s_axis_tvalid,
    output wire                 s_axis_tready,
    input  wire                 s_axis_tlast,
    output wire [DATA_W-1:0] m_axis_tdata,
    output wire                 m_axis_tvalid,
    input  wire                 m_axis_tready,
    output wire                 m_axis_tlast
);
    generate
        if (DATA_W < 1 || DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin : g_check
            PARAMETER_ERROR_axis_fifo_DEPTH_must_be_a_power_of_two_at_least_2_and_DATA_W_at_least_1 u_error ();
        end
    endgenerate

    reg [DATA_W:0] mem [0:DEPTH-1];
    reg [AW:0] wr_ptr;
    reg [AW:0] rd_ptr;
    wire [AW:0] count = wr_ptr - rd_ptr;
    localparam [AW:0] FULL = DEPTH[AW:0];
    wire empty = (count == {(AW+1){1'b0}});
    wire full = (count == FULL);
    wire push = s_axis_tvalid && !full && !rst;
    wire pop = m_axis_tready && !empty && !rst;
    assign s_axis_tready = !full && !rst;
    assign m_axis_tvalid = !empty;
    wire [DATA_W:0] head = mem[rd_ptr[AW-1:0]];
    assign m_axis_tdata = head[DATA_W-1:0];
    assign m_axis_tlast = head[DATA_W];

    always @(posedge clk) begin
        if (push) mem[wr_ptr[AW-1:0]] <= {s_axis_tlast, s_axis_tdata};
    end

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= {(AW+1){1'b0}};
            rd_ptr <= {(AW+1){1'b0}};
        end else begin
            if (push) wr_ptr <= wr_ptr + 1'b1;
            if (pop) rd_ptr <= rd_ptr + 1'b1;
        end
    end
endmodule
`default_nettype wire
