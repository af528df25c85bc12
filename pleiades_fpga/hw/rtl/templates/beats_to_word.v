`timescale 1ns/1ps
`default_nettype none
// beats_to_word: BPP data beats of DATA_W bits -> one word of BPP*DATA_W bits, beat 0 in the low bits (block
// library; the R channel of the AXI masters). `word` is valid in the cycle `push` is high: the last beat is
// taken combinationally, the earlier ones from registers. Every `valid` cycle is one beat (no back-pressure).
module beats_to_word #(
    parameter integer DATA_W = 32,              // beat width (bits)
    parameter integer BPP = 2                   // beats per word (>= 1)
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  valid,         // a beat arrives
    input  wire [DATA_W-1:0]     data,
    output wire [BPP*DATA_W-1:0] word,
    output wire                  push           // the word's last beat arrives: `word` is complete
);
    generate
        if (DATA_W < 1 || BPP < 1) begin : g_check
            PARAMETER_ERROR_beats_to_word_DATA_W_and_BPP_must_be_at_least_1 u_error ();
        end
    endgenerate

    generate
        if (BPP > 1) begin : g_beats
            localparam integer BT_W = $clog2(BPP);
            localparam [31:0] BT_LAST32 = BPP - 1;
            localparam [BT_W-1:0] BT_LAST = BT_LAST32[BT_W-1:0];
            reg [BT_W-1:0]           beat_reg;  // beat of the word
            reg [(BPP-1)*DATA_W-1:0] sh_reg;    // beats 0..BPP-2 of the word, beat 0 lowest
            always @(posedge clk) begin
                if (rst) begin
                    beat_reg <= {BT_W{1'b0}};
                end else if (valid) begin
                    beat_reg <= (beat_reg == BT_LAST) ? {BT_W{1'b0}} : beat_reg + 1'b1;
                end
            end
            if (BPP > 2) begin : g_sh
                always @(posedge clk) begin
                    if (valid) sh_reg <= {data, sh_reg[(BPP-1)*DATA_W-1:DATA_W]};
                end
            end else begin : g_sh1
                always @(posedge clk) begin
                    if (valid) sh_reg <= data;
                end
            end
            assign word = {data, sh_reg};
            assign push = valid && (beat_reg == BT_LAST);
        end else begin : g_one
            wire unused_clk = &{1'b0, clk, rst};
            assign word = data;
            assign push = valid;
        end
    endgenerate
endmodule
`default_nettype wire
