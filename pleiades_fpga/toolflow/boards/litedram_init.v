`timescale 1ns/1ps
`default_nettype none
// litedram_init: replays a table of Wishbone writes into a CPU-less LiteDRAM core's control port (wb_ctrl) after
// reset: the SDRAM initialization LiteDRAM's BIOS would run (DFII software control, LiteDRAM's init sequence,
// hardware control, init_done). The table comes from toolflow/boards/litedram_core.py (init_writes).
// Each write is a classic Wishbone cycle (cyc/stb held until ack or err, all byte lanes), followed by the entry's
// idle cycles. done_o rises after the last write; error_o (and no further writes) if a cycle ends with err.
module litedram_init #(
    parameter integer N_WRITES = 1,            // table entries (>= 1)
    parameter integer ADR_W = 30,              // Wishbone word address width of wb_ctrl (1..32)
    parameter integer DELAY_W = 16,            // width of an entry's idle-cycle count (1..32)
    // the table: entry i at bits [i*E +: E], E = ADR_W + 32 + DELAY_W, as {word address, data, idle cycles after}
    parameter [N_WRITES*(ADR_W+32+DELAY_W)-1:0] WRITES = 0
) (
    input  wire             clk,
    input  wire             rst,                // synchronous, active high: restarts the sequence
    output wire [ADR_W-1:0] wb_adr_o,
    output wire [31:0]      wb_dat_o,
    output wire [3:0]       wb_sel_o,
    output wire             wb_cyc_o,
    output wire             wb_stb_o,
    output wire             wb_we_o,
    output wire [2:0]       wb_cti_o,            // classic cycles only
    output wire [1:0]       wb_bte_o,
    input  wire             wb_ack_i,
    input  wire             wb_err_i,
    output wire             done_o,              // every write acknowledged
    output wire             error_o              // a write ended with err
);
    localparam integer E = ADR_W + 32 + DELAY_W;
    localparam integer IB = N_WRITES > 1 ? $clog2(N_WRITES) : 1;

    generate
        if (N_WRITES < 1) begin : g_check_n
            PARAMETER_ERROR_litedram_init_N_WRITES_must_be_at_least_1 u_error ();
        end
        if (ADR_W < 1 || ADR_W > 32 || DELAY_W < 1 || DELAY_W > 32) begin : g_check_w
            PARAMETER_ERROR_litedram_init_ADR_W_and_DELAY_W_in_1_to_32 u_error ();
        end
    endgenerate

    localparam [1:0] S_WRITE = 2'd0, S_WAIT = 2'd1, S_DONE = 2'd2, S_ERROR = 2'd3;
    reg [1:0] state_reg;
    reg [IB-1:0] index_reg;                     // the entry being written or waited after
    reg [DELAY_W-1:0] wait_reg;                 // idle cycles left after the current entry

    wire [E-1:0] entry = WRITES[index_reg * E +: E];
    wire last = {{(32-IB){1'b0}}, index_reg} == N_WRITES - 1;

    always @(posedge clk) begin
        if (rst) begin
            state_reg <= S_WRITE;
            index_reg <= {IB{1'b0}};
            wait_reg <= {DELAY_W{1'b0}};
        end else begin
            case (state_reg)
                S_WRITE: if (wb_err_i) begin
                    state_reg <= S_ERROR;
                end else if (wb_ack_i) begin
                    wait_reg <= entry[DELAY_W-1:0];
                    state_reg <= S_WAIT;
                end
                S_WAIT: if (wait_reg != {DELAY_W{1'b0}}) begin
                    wait_reg <= wait_reg - 1'b1;
                end else if (last) begin
                    state_reg <= S_DONE;
                end else begin
                    index_reg <= index_reg + 1'b1;
                    state_reg <= S_WRITE;
                end
                default: state_reg <= state_reg;      // S_DONE, S_ERROR: stay
            endcase
        end
    end

    assign wb_adr_o = entry[E-1 -: ADR_W];
    assign wb_dat_o = entry[DELAY_W +: 32];
    assign wb_sel_o = 4'hf;
    assign wb_cyc_o = state_reg == S_WRITE;
    assign wb_stb_o = state_reg == S_WRITE;
    assign wb_we_o = 1'b1;
    assign wb_cti_o = 3'b000;
    assign wb_bte_o = 2'b00;
    assign done_o = state_reg == S_DONE;
    assign error_o = state_reg == S_ERROR;
endmodule
`default_nettype wire
