// Seeded random pause pattern for a stream side (simulation harness).
// Every burst of 1..4 cycles is paused with probability THRESH / 65536 (xorshift32 generator);
// `load` restarts the sequence from `seed`, so a run is reproducible from its seed.
`timescale 1ns/1ps
`default_nettype none
module pause_gen (
    input  wire        clk,
    input  wire        load,
    input  wire [31:0] seed,
    input  wire [15:0] thresh,
    output reg         pause
);
    reg  [31:0] x;
    reg  [1:0]  left;
    wire [31:0] a  = x ^ (x << 13);
    wire [31:0] b  = a ^ (a >> 17);
    wire [31:0] nx = b ^ (b << 5);
    initial begin
        x = 32'h1;
        left = 2'd0;
        pause = 1'b0;
    end
    always @(posedge clk) begin
        if (load) begin
            x     <= (seed == 32'd0) ? 32'h9e3779b9 : seed;
            pause <= 1'b0;
            left  <= 2'd0;
        end else if (left == 2'd0) begin
            x     <= nx;
            pause <= nx[15:0] < thresh;
            left  <= nx[17:16];
        end else begin
            left <= left - 2'd1;
        end
    end
endmodule
`default_nettype wire
