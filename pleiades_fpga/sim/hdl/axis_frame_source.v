// AXI-Stream source of whole frames from a memory loaded in bulk (simulation harness).
// On `load` the first `n_beats` words of FILE are read into the memory ($readmemh); while `run`
// is high the beats are sent in order, tlast on the last beat of every frame of BEATS beats, with
// idle gaps from `pause` (tvalid, once high, stays high until the beat is taken).
`timescale 1ns/1ps
`default_nettype none
module axis_frame_source #(
    parameter integer W     = 8,
    parameter integer BEATS = 1,
    parameter integer DEPTH = 2,
    parameter         FILE  = "frames.hex"
) (
    input  wire         clk,
    input  wire         load,
    input  wire         run,
    input  wire [31:0]  n_beats,
    input  wire         pause,
    output wire [W-1:0] tdata,
    output reg          tvalid,
    input  wire         tready,
    output wire         tlast,
    output reg  [31:0]  sent
);
    localparam integer AW = $clog2(DEPTH);
    reg [W-1:0] mem [0:DEPTH-1];
    reg [31:0]  beat;  // beat within the frame
    wire        fire = tvalid && tready;
    wire [31:0] next = sent + {31'd0, fire};
    assign tdata = mem[sent[AW-1:0]];
    assign tlast = beat == BEATS - 1;
    initial begin
        tvalid = 1'b0;
        sent   = 32'd0;
        beat   = 32'd0;
    end
    always @(posedge clk) begin
        if (load) $readmemh(FILE, mem, 0, n_beats - 1);
        if (load || !run) begin
            tvalid <= 1'b0;
            sent   <= 32'd0;
            beat   <= 32'd0;
        end else begin
            sent <= next;
            if (fire) beat <= tlast ? 32'd0 : beat + 32'd1;
            if (!tvalid || fire) tvalid <= !pause && next < n_beats;
        end
    end
endmodule
`default_nettype wire
