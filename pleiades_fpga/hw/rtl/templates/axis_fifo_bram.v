`timescale 1ns/1ps
`default_nettype none
// axis_fifo_bram: first-word-fall-through stream FIFO on block RAM (block library; no tlast).
// DEPTH words wait in a ram_sdp; the head word is the RAM's registered read data, so m_axis_tdata comes
// from a register and one word can move in and one out every cycle. `count` = words held (RAM + head).
module axis_fifo_bram #(
    parameter integer DATA_W = 8,               // word width (bits)
    parameter integer DEPTH = 16,               // RAM words (a power of two >= 2); the head adds one
    // derived (do not override)
    parameter integer AW = (DEPTH > 2) ? $clog2(DEPTH) : 1,
    parameter integer CW = AW + 2               // width of count
) (
    input  wire              clk,
    input  wire              rst,
    input  wire [DATA_W-1:0] s_axis_tdata,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    output wire [DATA_W-1:0] m_axis_tdata,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready,
    output wire [CW-1:0]     count              // words held
);
    generate
        if (DATA_W < 1 || DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin : g_check
            PARAMETER_ERROR_axis_fifo_bram_DEPTH_must_be_a_power_of_two_at_least_2_and_DATA_W_at_least_1 u_error ();
        end
    endgenerate

    localparam [AW:0] FULL = DEPTH[AW:0];
    reg  [AW:0] wr_ptr_reg, rd_ptr_reg;         // RAM write / read pointers (one wrap bit)
    reg         head_valid_reg;                 // the RAM's read register holds the head word
    wire [AW:0] used = wr_ptr_reg - rd_ptr_reg; // words in the RAM
    wire        ram_empty = (used == {(AW+1){1'b0}});
    wire        ram_full = (used == FULL);
    wire        pop = head_valid_reg && m_axis_tready;
    wire        re = !ram_empty && (!head_valid_reg || pop);
    wire        we = s_axis_tvalid && !ram_full && !rst;

    assign s_axis_tready = !ram_full && !rst;
    assign m_axis_tvalid = head_valid_reg;
    assign count = {1'b0, used} + {{AW{1'b0}}, head_valid_reg};

    wire unused_clearing;
    ram_sdp #(.DATA_W(DATA_W), .DEPTH(DEPTH), .CLEAR(0)) u_ram (
        .clk(clk), .rst(rst), .clearing(unused_clearing),
        .we(we), .waddr(wr_ptr_reg[AW-1:0]), .wdata(s_axis_tdata),
        .re(re), .raddr(rd_ptr_reg[AW-1:0]), .rdata(m_axis_tdata)
    );

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr_reg <= {(AW+1){1'b0}};
            rd_ptr_reg <= {(AW+1){1'b0}};
            head_valid_reg <= 1'b0;
        end else begin
            if (we) wr_ptr_reg <= wr_ptr_reg + 1'b1;
            if (re) rd_ptr_reg <= rd_ptr_reg + 1'b1;
            if (re) head_valid_reg <= 1'b1;
            else if (pop) head_valid_reg <= 1'b0;
        end
    end
endmodule
`default_nettype wire
