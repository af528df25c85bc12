`timescale 1ns/1ps
`default_nettype none
// param_word: one lane of a per-channel parameter ROM word, {s, m, bias} from MSB to LSB (block library;
// layout: pleiades_fpga.hw.rtl.rom.channel_param_words). The bias is decoded combinationally (it enters the
// accumulator at the first step); m and s are captured with `load` (the last step of an output) and held
// for the requantization of that output.
module param_word #(
    parameter integer BIAS_W = 8,               // bias width (bits, signed)
    parameter integer M_W = 8,                  // multiplier width (bits, unsigned)
    parameter integer S_W = 5                   // shift width (bits, unsigned)
) (
    input  wire                     clk,
    input  wire                     load,
    input  wire [BIAS_W+M_W+S_W-1:0] word,
    output wire signed [BIAS_W-1:0] bias,
    output wire [M_W-1:0]           m,
    output wire [S_W-1:0]           s
);
    generate
        if (BIAS_W < 1 || M_W < 1 || S_W < 1) begin : g_check_widths
            PARAMETER_ERROR_param_word_BIAS_W_M_W_S_W_must_be_at_least_1 u_error ();
        end
    endgenerate

    reg [M_W-1:0] m_reg;
    reg [S_W-1:0] s_reg;
    always @(posedge clk) begin
        if (load) begin
            m_reg <= word[BIAS_W +: M_W];
            s_reg <= word[BIAS_W + M_W +: S_W];
        end
    end
    assign bias = word[0 +: BIAS_W];
    assign m = m_reg;
    assign s = s_reg;
endmodule
`default_nettype wire
