`timescale 1ns/1ps
`default_nettype none
// sign_resize: a two's complement value x resized to OUT_W bits (block library; wiring only): sign-extended when
// OUT_W >= IN_W, else its low OUT_W bits (exact modulo 2**OUT_W: use it where the true value is known to fit).
module sign_resize #(
    parameter integer IN_W = 8,                 // input width (bits, signed)
    parameter integer OUT_W = 8                 // output width (bits)
) (
    input  wire [IN_W-1:0]  x,
    output wire [OUT_W-1:0] y
);
    generate
        if (IN_W < 1 || OUT_W < 1) begin : g_check
            PARAMETER_ERROR_sign_resize_IN_W_and_OUT_W_must_be_at_least_1 u_error ();
        end
        if (OUT_W > IN_W) begin : g_extend
            assign y = {{(OUT_W-IN_W){x[IN_W-1]}}, x};
        end else if (OUT_W == IN_W) begin : g_same
            assign y = x;
        end else begin : g_low
            assign y = x[OUT_W-1:0];
            wire unused_high = &{1'b0, x[IN_W-1:OUT_W]};
        end
    endgenerate
endmodule
`default_nettype wire
