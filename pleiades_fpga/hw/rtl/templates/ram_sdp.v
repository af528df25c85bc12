`timescale 1ns/1ps
`default_nettype none
// ram_sdp: simple dual-port RAM (one write port, one registered read port) with an optional clear after
// reset (block library). With CLEAR = 1, reset starts a sweep that writes zeros to every word, one per
// cycle (DEPTH cycles, `clearing` high meanwhile; the user must not write then). Read: rdata <= mem[raddr]
// on a rising edge with re high (hold otherwise). Deep memories map to block RAM.
module ram_sdp #(
    parameter integer DATA_W = 8,               // word width (bits)
    parameter integer DEPTH = 16,               // words
    parameter integer CLEAR = 0,                // 1: zero every word after reset
    // derived (do not override)
    parameter integer ADDR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
    input  wire              clk,
    input  wire              rst,
    output wire              clearing,          // the reset-time clear is running
    input  wire              we,
    input  wire [ADDR_W-1:0] waddr,
    input  wire [DATA_W-1:0] wdata,
    input  wire              re,
    input  wire [ADDR_W-1:0] raddr,
    output wire [DATA_W-1:0] rdata
);
    generate
        if (DATA_W < 1) begin : g_check_data_w
            PARAMETER_ERROR_ram_sdp_DATA_W_must_be_at_least_1 u_error ();
        end
        if (DEPTH < 1) begin : g_check_depth
            PARAMETER_ERROR_ram_sdp_DEPTH_must_be_at_least_1 u_error ();
        end
        if (CLEAR != 0 && CLEAR != 1) begin : g_check_clear
            PARAMETER_ERROR_ram_sdp_CLEAR_must_be_0_or_1 u_error ();
        end
    endgenerate

    reg [DATA_W-1:0] mem [0:DEPTH-1];
    reg [DATA_W-1:0] rdata_reg;
    wire             mem_we;
    wire [ADDR_W-1:0] mem_wa;
    wire [DATA_W-1:0] mem_wd;
    generate
        if (CLEAR != 0) begin : g_clear
            localparam [31:0] LAST32 = DEPTH - 1;
            localparam [ADDR_W-1:0] LAST = LAST32[ADDR_W-1:0];
            localparam [ADDR_W-1:0] ONE = 1;
            reg              clr_reg;
            reg [ADDR_W-1:0] clr_addr_reg;
            always @(posedge clk) begin
                if (rst) begin
                    clr_reg <= 1'b1;
                    clr_addr_reg <= {ADDR_W{1'b0}};
                end else if (clr_reg) begin
                    clr_addr_reg <= clr_addr_reg + ONE;
                    if (clr_addr_reg == LAST) clr_reg <= 1'b0;
                end
            end
            assign clearing = clr_reg;
            assign mem_we = clr_reg || we;
            assign mem_wa = clr_reg ? clr_addr_reg : waddr;
            assign mem_wd = clr_reg ? {DATA_W{1'b0}} : wdata;
        end else begin : g_noclear
            assign clearing = 1'b0;
            assign mem_we = we;
            assign mem_wa = waddr;
            assign mem_wd = wdata;
            wire unused_rst = &{1'b0, rst};
        end
    endgenerate

    always @(posedge clk) begin
        if (mem_we) mem[mem_wa] <= mem_wd;
        if (re) rdata_reg <= mem[raddr];
    end
    assign rdata = rdata_reg;
endmodule
`default_nettype wire
