`timescale 1ns/1ps
`default_nettype none
// ram_sdp: simple dual-port RAM (one write port, one registered read port) with an optional clear after
// reset (block library). With CLEAR = 1, reset starts a sweep that writes zeros to every word, one per
// cycle (DEPTH cycles, `clearing` high meanwhile; the user must not write then). Read: rdata <= mem[raddr]
// on a rising edge with re high (hold otherwise). Deep memories map to block RAM.
// OUT_REG = 1 (registered block-RAM outputs): the memory is split in banks no deeper than one block RAM of
// this width (BANK_DEPTH); every rising edge with re high reads each bank into its block-RAM register and
// moves the previous read into a fabric register, and rdata selects the bank from those registers: rdata =
// the word addressed two re edges earlier (a 2-stage read pipeline advancing with re), and no multiplexer of
// block-RAM outputs sits in front of a register.
// Read during write (the read address equal to the word written on the same edge): rdata is the old word
// (RW_CHECK = 1; Yosys emulates it on ECP5 block RAM: the write is delayed one edge and a comparator and a
// multiplexer after the block RAM's output select the delayed write data). RW_CHECK = 0 drops that emulation
// (Yosys's no_rw_check) for users that never use the word of such a read: the block RAM's output then goes
// straight into its register, and the word read on a collision is undefined on hardware (simulation gives the
// old word).
// WR_REG = 1: the write port (we, waddr, wdata) is registered, so a write lands one edge after it is presented and
// the block RAMs' write enables (and bank selects) are decoded from registers instead of the user's logic. For
// users whose words are read again only later (a read of a word on the edge its write lands is a read during
// write).
module ram_sdp #(
    parameter integer DATA_W = 8,               // word width (bits)
    parameter integer DEPTH = 16,               // words
    parameter integer CLEAR = 0,                // 1: zero every word after reset
    parameter integer OUT_REG = 0,              // 1: banked, read data registered again (2-edge read)
    parameter integer RW_CHECK = 1,             // 0: the user never uses a read of the word written on that edge
    parameter integer WR_REG = 0,               // 1: the write port is registered (a write lands one edge later)
    // derived (do not override)
    parameter integer ADDR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1,
    parameter integer BANK_DEPTH = (DATA_W <= 1) ? 16384 : (DATA_W <= 2) ? 8192 : (DATA_W <= 4) ? 4096 :
                                   (DATA_W <= 9) ? 2048 : (DATA_W <= 18) ? 1024 : 512   // one 18 kbit block
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
        if (OUT_REG != 0 && OUT_REG != 1) begin : g_check_out_reg
            PARAMETER_ERROR_ram_sdp_OUT_REG_must_be_0_or_1 u_error ();
        end
        if (RW_CHECK != 0 && RW_CHECK != 1) begin : g_check_rw_check
            PARAMETER_ERROR_ram_sdp_RW_CHECK_must_be_0_or_1 u_error ();
        end
        if (WR_REG != 0 && WR_REG != 1) begin : g_check_wr_reg
            PARAMETER_ERROR_ram_sdp_WR_REG_must_be_0_or_1 u_error ();
        end
    endgenerate

    // the user's write port, registered when WR_REG = 1 (the enable has a reset: no write lands after one)
    wire              u_we;
    wire [ADDR_W-1:0] u_waddr;
    wire [DATA_W-1:0] u_wdata;
    generate
        if (WR_REG != 0) begin : g_wr_reg
            reg              we_reg;
            reg [ADDR_W-1:0] waddr_reg;
            reg [DATA_W-1:0] wdata_reg;
            always @(posedge clk) begin
                if (rst) we_reg <= 1'b0;
                else we_reg <= we;
                waddr_reg <= waddr;
                wdata_reg <= wdata;
            end
            assign u_we = we_reg;
            assign u_waddr = waddr_reg;
            assign u_wdata = wdata_reg;
        end else begin : g_wr
            assign u_we = we;
            assign u_waddr = waddr;
            assign u_wdata = wdata;
        end
    endgenerate

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
            assign mem_we = clr_reg || u_we;
            assign mem_wa = clr_reg ? clr_addr_reg : u_waddr;
            assign mem_wd = clr_reg ? {DATA_W{1'b0}} : u_wdata;
        end else begin : g_noclear
            assign clearing = 1'b0;
            assign mem_we = u_we;
            assign mem_wa = u_waddr;
            assign mem_wd = u_wdata;
            wire unused_rst = &{1'b0, rst};
        end
    endgenerate

    generate
        if (OUT_REG == 0 || DEPTH <= BANK_DEPTH) begin : g_one
            (* no_rw_check = 1 - RW_CHECK *) reg [DATA_W-1:0] mem [0:DEPTH-1];
            reg [DATA_W-1:0] rdata_reg;
            always @(posedge clk) begin
                if (mem_we) mem[mem_wa] <= mem_wd;
                if (re) rdata_reg <= mem[raddr];
            end
            if (OUT_REG != 0) begin : g_out_reg
                reg [DATA_W-1:0] rdata_q_reg;           // the block RAM's output, registered in the fabric
                always @(posedge clk) begin
                    if (re) rdata_q_reg <= rdata_reg;
                end
                assign rdata = rdata_q_reg;
            end else begin : g_out
                assign rdata = rdata_reg;
            end
        end else begin : g_banks
            localparam integer BA_W = $clog2(BANK_DEPTH);          // address bits within a bank
            localparam integer NB = (DEPTH + BANK_DEPTH - 1) / BANK_DEPTH;
            localparam integer NB_W = ADDR_W - BA_W;                // bank number bits (>= 1 here)
            reg  [NB_W-1:0]   bank1_reg, bank2_reg;                 // bank of the read, one and two edges on
            wire [NB*DATA_W-1:0] banks_q;
            always @(posedge clk) begin
                if (re) begin
                    bank1_reg <= raddr[ADDR_W-1:BA_W];
                    bank2_reg <= bank1_reg;
                end
            end
            genvar b;
            for (b = 0; b < NB; b = b + 1) begin : g_bank
                localparam integer BD = (b == NB - 1) ? DEPTH - (NB - 1) * BANK_DEPTH : BANK_DEPTH;
                localparam integer BD_W = (BD > 1) ? $clog2(BD) : 1;     // address bits of this bank
                localparam [NB_W-1:0] B_ID = b;
                (* no_rw_check = 1 - RW_CHECK *) reg [DATA_W-1:0] mem [0:BD-1];
                reg [DATA_W-1:0] rdata_reg, rdata_q_reg;
                always @(posedge clk) begin
                    if (mem_we && mem_wa[ADDR_W-1:BA_W] == B_ID) mem[mem_wa[BD_W-1:0]] <= mem_wd;
                    if (re) begin
                        rdata_reg <= mem[raddr[BD_W-1:0]];
                        rdata_q_reg <= rdata_reg;
                    end
                end
                assign banks_q[b*DATA_W +: DATA_W] = rdata_q_reg;
            end
            assign rdata = banks_q[bank2_reg*DATA_W +: DATA_W];
            wire unused_low = &{1'b0, mem_wa, raddr};     // the last bank may use fewer address bits
        end
    endgenerate
endmodule
`default_nettype wire
