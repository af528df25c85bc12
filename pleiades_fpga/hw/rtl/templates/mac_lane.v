`timescale 1ns/1ps
`default_nettype none
// mac_lane: one PE lane of a folded MAC engine (block library).
// Stage 1: N products x[n] * w[n] (x IN_W bits, signed if IN_SIGNED; w W_W bits signed), registered while
// en is high (the multipliers get a cycle of their own: memory outputs in, DSP blocks).
// Stage 2: with acc_en high, acc <= (first ? bias : acc) + sum of the products (the bias enters at the
// first step of an output). Exact modulo 2**ACC_W: ACC_W must hold a product and the bias (checked).
module mac_lane #(
    parameter integer N = 1,                    // products per step (SIMD, or 1 for a depthwise lane)
    parameter integer IN_W = 4,                 // activation width (bits)
    parameter integer IN_SIGNED = 0,            // 1: activations are two's complement
    parameter integer W_W = 4,                  // weight width (bits, signed)
    parameter integer BIAS_W = 8,               // bias width (bits, signed)
    parameter integer ACC_W = 16                // accumulator width (bits, signed)
) (
    input  wire                     clk,
    input  wire                     en,         // register the products of this step
    input  wire                     acc_en,     // accumulate the registered products
    input  wire                     first,      // ... starting from the bias
    input  wire [N*IN_W-1:0]        x,          // lane n at [n*IN_W +: IN_W]
    input  wire [N*W_W-1:0]         w,          // lane n at [n*W_W +: W_W]
    input  wire signed [BIAS_W-1:0] bias,
    output wire signed [ACC_W-1:0]  acc
);
    localparam integer PW = IN_W + 1 + W_W;     // exact product width
    generate
        if (N < 1) begin : g_check_n
            PARAMETER_ERROR_mac_lane_N_must_be_at_least_1 u_error ();
        end
        if (ACC_W < PW || ACC_W < BIAS_W) begin : g_check_acc_w
            PARAMETER_ERROR_mac_lane_ACC_W_must_hold_a_product_and_the_bias u_error ();
        end
    endgenerate

    reg signed [PW-1:0] prod_reg [0:N-1];
    genvar n;
    generate
        for (n = 0; n < N; n = n + 1) begin : g_mul
            wire [IN_W-1:0] xv = x[n*IN_W +: IN_W];
            wire signed [IN_W:0] xe = {((IN_SIGNED != 0) ? xv[IN_W-1] : 1'b0), xv};
            wire signed [W_W-1:0] wv = w[n*W_W +: W_W];
            wire signed [PW-1:0] xe_x = {{(PW-IN_W-1){xe[IN_W]}}, xe};
            wire signed [PW-1:0] wv_x = {{(PW-W_W){wv[W_W-1]}}, wv};
            always @(posedge clk) begin
                if (en) prod_reg[n] <= xe_x * wv_x;
            end
        end
    endgenerate

    reg  signed [ACC_W-1:0] acc_reg;
    wire signed [ACC_W-1:0] base = first ? {{(ACC_W-BIAS_W){bias[BIAS_W-1]}}, bias} : acc_reg;
    reg  signed [ACC_W-1:0] sum;
    integer t;
    always @(*) begin
        sum = base;
        for (t = 0; t < N; t = t + 1) begin
            sum = sum + {{(ACC_W-PW){prod_reg[t][PW-1]}}, prod_reg[t]};
        end
    end
    always @(posedge clk) begin
        if (acc_en) acc_reg <= sum;
    end
    assign acc = acc_reg;
endmodule
`default_nettype wire
