`timescale 1ns/1ps
`default_nettype none
// axi_burst_writer: the write side of an AXI4 master that stores a stream of words as INCR bursts (block library;
// used by temporal_history_axi and axi_stream_fifo, docs/EXTERNAL_MEMORY.md).
//
// Words enter an on-chip write FIFO (FIFO_DEPTH words, block RAM). A frame is NB = ceil(FRAME_PIX/BURST_PIX)
// bursts, the last one possibly partial (FRAME_PIX - (NB-1)*BURST_PIX words); `burst` is the index of the next
// burst in its frame. The next burst starts (`start`, one cycle) when all its words are in the FIFO, no burst is
// being sent and the caller allows it (`start_ok`); its address is `burst_addr` in that cycle (chosen by the
// caller: burst aligned, so no burst crosses a 4 KB boundary). A word takes BPP beats of DATA_W bits, beat 0 =
// the low bits, zero padded past PIX_W; AW and W of a burst are issued together, IDs 0, wstrb all ones.
// B is always ready: `b_done` marks each write response (a burst is in memory). The response check: a write
// response or a read beat of the caller's read channel (rvalid, rresp) that is not OKAY sets axi_error (sticky
// until reset).
module axi_burst_writer #(
    parameter integer PIX_W = 16,               // word width (bits)
    parameter integer FRAME_PIX = 64,           // words per frame (the last burst of a frame may be partial)
    parameter integer DATA_W = 32,              // AXI data width (bits: 8, 16, ..., 1024)
    parameter integer BPP = 1,                  // AXI beats per word (a power of two, BPP*DATA_W >= PIX_W)
    parameter integer BURST_PIX = 8,            // words per burst (a power of two, BURST_PIX*BPP <= 256)
    parameter integer FIFO_DEPTH = 16,          // write FIFO depth (words, a power of two >= BURST_PIX)
    parameter integer ADDR_W = 32,              // AXI address width (bits, 12..64)
    parameter integer ID_W = 1,                 // AXI ID width (bits; IDs are 0)
    // derived (do not override)
    parameter integer NB = (FRAME_PIX + BURST_PIX - 1) / BURST_PIX,   // bursts per frame
    parameter integer NB_W = (NB > 1) ? $clog2(NB) : 1                // width of `burst`
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [PIX_W-1:0]    s_axis_tdata,    // words to write, in address order
    input  wire                s_axis_tvalid,
    output wire                s_axis_tready,
    input  wire [ADDR_W-1:0]   burst_addr,      // byte address of the next burst (taken when `start`)
    input  wire                start_ok,        // the caller allows the next burst to start
    output wire                start,           // the next burst starts: `burst_addr` is taken, `burst` advances
    output wire [NB_W-1:0]     burst,           // index of the next burst in its frame (0..NB-1)
    output wire                b_done,          // a write response arrives: a burst is in memory
    // AXI4 write channels
    output wire [ID_W-1:0]     m_axi_awid,
    output wire [ADDR_W-1:0]   m_axi_awaddr,
    output wire [7:0]          m_axi_awlen,
    output wire [2:0]          m_axi_awsize,
    output wire [1:0]          m_axi_awburst,
    output wire                m_axi_awvalid,
    input  wire                m_axi_awready,
    output wire [DATA_W-1:0]   m_axi_wdata,
    output wire [DATA_W/8-1:0] m_axi_wstrb,
    output wire                m_axi_wlast,
    output wire                m_axi_wvalid,
    input  wire                m_axi_wready,
    input  wire [ID_W-1:0]     m_axi_bid,
    input  wire [1:0]          m_axi_bresp,
    input  wire                m_axi_bvalid,
    output wire                m_axi_bready,
    // the caller's read data channel, for the response check only
    input  wire                m_axi_rvalid,
    input  wire [1:0]          m_axi_rresp,
    output wire                axi_error        // a write or read response was not OKAY (sticky until reset)
);
    // ---------------------------------------------------------------- parameter checks (elaboration)
    generate
        if (PIX_W < 1 || FRAME_PIX < 1) begin : g_check_sizes
            PARAMETER_ERROR_axi_burst_writer_PIX_W_and_FRAME_PIX_must_be_at_least_1 u_error ();
        end
        if (DATA_W < 8 || DATA_W > 1024 || (DATA_W & (DATA_W - 1)) != 0) begin : g_check_data_w
            PARAMETER_ERROR_axi_burst_writer_DATA_W_must_be_a_power_of_two_from_8_to_1024 u_error ();
        end
        if (BPP < 1 || (BPP & (BPP - 1)) != 0 || BPP * DATA_W < PIX_W) begin : g_check_bpp
            PARAMETER_ERROR_axi_burst_writer_BPP_must_be_a_power_of_two_with_BPP_DATA_W_at_least_PIX_W u_error ();
        end
        if (BURST_PIX < 1 || (BURST_PIX & (BURST_PIX - 1)) != 0 || BURST_PIX * BPP > 256
            || BURST_PIX * BPP * DATA_W > 8 * 4096) begin : g_check_burst
            PARAMETER_ERROR_axi_burst_writer_BURST_PIX_must_be_a_power_of_two_with_at_most_256_beats_and_4096_bytes u_error ();
        end
        if ((FIFO_DEPTH & (FIFO_DEPTH - 1)) != 0 || FIFO_DEPTH < BURST_PIX || FIFO_DEPTH < 2) begin : g_check_fifo
            PARAMETER_ERROR_axi_burst_writer_FIFO_DEPTH_must_be_a_power_of_two_at_least_2_and_BURST_PIX u_error ();
        end
        if (ADDR_W < 12 || ADDR_W > 64 || ID_W < 1) begin : g_check_addr_w
            PARAMETER_ERROR_axi_burst_writer_ADDR_W_must_be_12_to_64_and_ID_W_at_least_1 u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- sizes and constants
    localparam integer BP_W = $clog2(BURST_PIX) + 1;                // 1..BURST_PIX words
    localparam integer BT_W = (BPP > 1) ? $clog2(BPP) : 1;
    localparam integer FC_W = ((FIFO_DEPTH > 2) ? $clog2(FIFO_DEPTH) : 1) + 2;   // axis_fifo_bram count
    localparam [31:0] NB_LAST32 = NB - 1;
    localparam [31:0] BP_FULL32 = BURST_PIX;
    localparam [31:0] LAST_PIX32 = FRAME_PIX - (NB - 1) * BURST_PIX;   // words in the last burst of a frame
    localparam [31:0] AXSIZE32 = $clog2(DATA_W / 8);
    localparam [31:0] BT_LAST32 = BPP - 1;
    localparam [31:0] BPP32 = BPP;
    localparam [NB_W-1:0] NB_LAST = NB_LAST32[NB_W-1:0];
    localparam [BP_W-1:0] BP_FULL = BP_FULL32[BP_W-1:0];
    localparam [BP_W-1:0] BP_LAST = LAST_PIX32[BP_W-1:0];
    localparam [BT_W-1:0] BT_LAST = BT_LAST32[BT_W-1:0];
    localparam [2:0] AXSIZE = AXSIZE32[2:0];
    localparam [15:0] BPP16 = BPP32[15:0];

    // ---------------------------------------------------------------- write FIFO
    wire [PIX_W-1:0] wf_data;
    wire             wf_valid;
    wire             wf_pop;
    wire [FC_W-1:0]  wf_count;
    axis_fifo_bram #(.DATA_W(PIX_W), .DEPTH(FIFO_DEPTH)) u_wfifo (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .m_axis_tdata(wf_data), .m_axis_tvalid(wf_valid), .m_axis_tready(wf_pop), .count(wf_count)
    );

    // ---------------------------------------------------------------- AW and W of a burst
    reg               busy_reg;                 // the W beats of a burst are being sent
    reg  [NB_W-1:0]   b_reg;                    // index of the next burst in its frame
    reg               awvalid_reg;
    reg  [ADDR_W-1:0] awaddr_reg;
    reg  [7:0]        awlen_reg;
    reg  [BT_W-1:0]   beat_reg;                 // beat of the word
    reg  [BP_W-1:0]   px_reg;                   // word of the burst
    reg  [BP_W-1:0]   last_px_reg;              // last word of the burst

    wire [BP_W-1:0] npix = (b_reg == NB_LAST) ? BP_LAST : BP_FULL;
    wire [15:0] len16 = {{(16-BP_W){1'b0}}, npix} * BPP16 - 16'd1;     // beats - 1 (<= 255)
    wire unused_len = &{1'b0, len16[15:8]};
    assign start = !busy_reg && !awvalid_reg && start_ok && (wf_count >= {{(FC_W-BP_W){1'b0}}, npix});
    assign burst = b_reg;
    wire w_fire = m_axi_wvalid && m_axi_wready;
    wire word_end = (beat_reg == BT_LAST);
    assign wf_pop = w_fire && word_end;
    wire [BPP*DATA_W-1:0] wf_word;
    zero_extend #(.IN_W(PIX_W), .OUT_W(BPP*DATA_W)) u_wpad (.x(wf_data), .y(wf_word));

    always @(posedge clk) begin
        if (rst) begin
            busy_reg <= 1'b0;
            b_reg <= {NB_W{1'b0}};
            awvalid_reg <= 1'b0;
            awaddr_reg <= {ADDR_W{1'b0}};
            awlen_reg <= 8'd0;
            beat_reg <= {BT_W{1'b0}};
            px_reg <= {BP_W{1'b0}};
            last_px_reg <= {BP_W{1'b0}};
        end else begin
            if (start) begin
                busy_reg <= 1'b1;
                awvalid_reg <= 1'b1;
                awaddr_reg <= burst_addr;
                awlen_reg <= len16[7:0];
                px_reg <= {BP_W{1'b0}};
                last_px_reg <= npix - 1'b1;
                b_reg <= (b_reg == NB_LAST) ? {NB_W{1'b0}} : b_reg + 1'b1;
            end else if (m_axi_awready) begin
                awvalid_reg <= 1'b0;
            end
            if (w_fire) begin
                beat_reg <= word_end ? {BT_W{1'b0}} : beat_reg + 1'b1;
                if (word_end) begin
                    px_reg <= px_reg + 1'b1;
                    if (px_reg == last_px_reg) busy_reg <= 1'b0;
                end
            end
        end
    end

    assign m_axi_awid = {ID_W{1'b0}};
    assign m_axi_awaddr = awaddr_reg;
    assign m_axi_awlen = awlen_reg;
    assign m_axi_awsize = AXSIZE;
    assign m_axi_awburst = 2'b01;               // INCR
    assign m_axi_awvalid = awvalid_reg;
    assign m_axi_wdata = wf_word[beat_reg*DATA_W +: DATA_W];
    assign m_axi_wstrb = {(DATA_W/8){1'b1}};
    assign m_axi_wlast = word_end && (px_reg == last_px_reg);
    assign m_axi_wvalid = busy_reg && wf_valid;
    assign m_axi_bready = 1'b1;
    assign b_done = m_axi_bvalid;

    // ---------------------------------------------------------------- response check
    reg error_reg;
    always @(posedge clk) begin
        if (rst) error_reg <= 1'b0;
        else if ((m_axi_bvalid && m_axi_bresp != 2'b00) || (m_axi_rvalid && m_axi_rresp != 2'b00)) error_reg <= 1'b1;
    end
    assign axi_error = error_reg;
    wire unused_bid = &{1'b0, m_axi_bid};
endmodule
`default_nettype wire
