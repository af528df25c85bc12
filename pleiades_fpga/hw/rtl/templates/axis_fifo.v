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
    localparam [AW:0] FULL = DEPTH[AW:0];
    // full and empty are registers (their next values below), so s_axis_tready and m_axis_tvalid
    // start from flip-flops: a fork or producer across the chip sees no pointer arithmetic in its handshake path
    reg full, empty;
    wire push = s_axis_tvalid && !full && !rst;
    wire pop = m_axis_tready && !empty && !rst;
    wire [AW:0] wr_next = wr_ptr + {{AW{1'b0}}, push};
    wire [AW:0] rd_next = rd_ptr + {{AW{1'b0}}, pop};
    assign s_axis_tready = !full && !rst;
    assign m_axis_tvalid = !empty;
    wire [DATA_W:0] head = mem[rd_ptr[AW-1:0]];
    assign m_axis_tdata = head[DATA_W-1:0];
    assign m_axis_tlast = head[DATA_W];

    always @(posedge clk) begin
        if (push) mem[wr_ptr[AW-1:0]] <= {s_axis_tlast, s_axis_tdata};
    end

    // next flags: push and pop select among registers and compares of the beat count (the pointers' difference,
    // from registers only), so a producer's tvalid or a consumer's tready from across the chip meets one LUT
    wire [AW:0] count = wr_ptr - rd_ptr;           // beats held
    localparam [AW:0] C_ONE = 1;
    wire one = (count == C_ONE);
    wire almost = (count == FULL - C_ONE);         // count == DEPTH - 1
    wire empty_next = !push && (pop ? one : empty);
    wire full_next = !pop && (push ? almost : full);

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= {(AW+1){1'b0}};
            rd_ptr <= {(AW+1){1'b0}};
            full <= 1'b0;
            empty <= 1'b1;
        end else begin
            wr_ptr <= wr_next;
            rd_ptr <= rd_next;
            full <= full_next;
            empty <= empty_next;
        end
    end
endmodule
`default_nettype wire
