// AXI-Stream protocol checker and coverage counters for one stream (simulation harness).
// Checks: while tvalid && !tready, the next cycle keeps tvalid high and tdata/tlast unchanged
// (KIND 1: tvalid dropped, 2: tdata changed, 3: tlast changed); tlast exactly on beat BEATS-1 of
// every frame (4: tlast missing, 5: tlast early). Counts violations and records the first one
// (kind, frame, beat); counts beats, frames, stall cycles and the longest stall. With `trace_en`
// every transferred beat is written (hex, one a line) to TRACE_FILE.
`timescale 1ns/1ps
`default_nettype none
module axis_stream_checker #(
    parameter integer W          = 8,
    parameter integer BEATS      = 1,
    parameter         TRACE_FILE = "trace.hex"
) (
    input  wire         clk,
    input  wire         rst,
    input  wire         trace_en,
    input  wire [W-1:0] tdata,
    input  wire         tvalid,
    input  wire         tready,
    input  wire         tlast,
    output reg  [31:0]  errors /*verilator public_flat_rd*/,
    output reg  [2:0]   first_kind /*verilator public_flat_rd*/,
    output reg  [31:0]  first_frame /*verilator public_flat_rd*/,
    output reg  [31:0]  first_beat /*verilator public_flat_rd*/,
    output reg  [31:0]  beats /*verilator public_flat_rd*/,
    output reg  [31:0]  frames /*verilator public_flat_rd*/,
    output reg  [31:0]  stall_cycles /*verilator public_flat_rd*/,
    output reg  [31:0]  max_stall /*verilator public_flat_rd*/
);
    reg  [31:0] beat;
    reg  [31:0] stall;
    reg         held;  // last cycle had tvalid && !tready
    reg [W-1:0] held_data;
    reg         held_last;
    integer     fd;
    reg  [2:0]  kind;
    wire        fire = tvalid && tready;
    initial begin
        errors = 32'd0; first_kind = 3'd0; first_frame = 32'd0; first_beat = 32'd0;
        beats = 32'd0; frames = 32'd0; stall_cycles = 32'd0; max_stall = 32'd0;
        beat = 32'd0; stall = 32'd0; held = 1'b0; held_last = 1'b0; fd = 0;
    end
    // `kind` and the trace file handle are process-local temporaries (blocking on purpose)
    /* verilator lint_off BLKSEQ */
    // all work is skipped on idle cycles (no beat offered, none held): most streams idle most of the time
    always @(posedge clk) begin
        if (rst) begin
            errors <= 32'd0; first_kind <= 3'd0; first_frame <= 32'd0; first_beat <= 32'd0;
            beats <= 32'd0; frames <= 32'd0; stall_cycles <= 32'd0; max_stall <= 32'd0;
            beat <= 32'd0; stall <= 32'd0; held <= 1'b0;
        end else if (tvalid || held) begin
            kind = 3'd0;
            if (held && !tvalid) kind = 3'd1;
            else if (held && tdata != held_data) kind = 3'd2;
            else if (held && tlast != held_last) kind = 3'd3;
            else if (fire && beat == BEATS - 1 && !tlast) kind = 3'd4;
            else if (fire && beat != BEATS - 1 && tlast) kind = 3'd5;
            if (kind != 3'd0) begin
                errors <= errors + 32'd1;
                if (errors == 32'd0) begin
                    first_kind  <= kind;
                    first_frame <= frames;
                    first_beat  <= beat;
                end
            end
            held <= tvalid && !tready;
            if (tvalid && !tready) begin
                held_data <= tdata;
                held_last <= tlast;
                stall_cycles <= stall_cycles + 32'd1;
                stall <= stall + 32'd1;
                if (stall + 32'd1 > max_stall) max_stall <= stall + 32'd1;
            end else begin
                stall <= 32'd0;
            end
            if (fire) begin
                beats <= beats + 32'd1;
                if (beat == BEATS - 1) begin
                    beat   <= 32'd0;
                    frames <= frames + 32'd1;
                end else begin
                    beat <= beat + 32'd1;
                end
                if (trace_en) begin
                    if (fd == 0) fd = $fopen(TRACE_FILE, "w");
                    $fwrite(fd, "%h\n", tdata);
                    $fflush(fd);
                end
            end
        end
    end
    /* verilator lint_on BLKSEQ */
endmodule
`default_nettype wire
