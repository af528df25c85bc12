`timescale 1ns/1ps
`default_nettype none
// zero_extend: y = x padded with zeros above its MSB to OUT_W bits (block library; wiring only). Pads a packed
// vector of lanes to a whole number of lane groups (the lanes past the last channel read zero).
module zero_extend #(
    parameter integer IN_W = 8,                 // input width (bits)
    parameter integer OUT_W = 8                 // output width (bits, >= IN_W)
) (
    input  wire [IN_W-1:0]  x,
    output wire [OUT_W-1:0] y
);
    generate
        if (IN_W < 1 || OUT_W < IN_W) begin : g_check
            PARAMETER_ERROR_zero_extend_OUT_W_must_be_at_least_IN_W_and_IN_W_at_least_1 u_error ();
        end
        if (OUT_W > IN_W) begin : g_pad
            assign y = {{(OUT_W-IN_W){1'b0}}, x};
        end else begin : g_same
            assign y = x;
        end
    endgenerate
endmodule
`default_nettype wire
