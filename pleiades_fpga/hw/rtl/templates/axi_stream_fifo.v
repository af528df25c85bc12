`timescale 1ns/1ps
`default_nettype none
// axi_stream_fifo: a stream delay line (FIFO) whose body lives in external memory behind an AXI4 master
// (docs/EXTERNAL_MEMORY.md). Used for GroupNorm frame buffers and skip FIFOs that do not fit on chip.
//
// In: one beat = one word of PIX_W bits; frames are FRAME_PIX beats (s_axis_tlast is not used). Out: the same
// words in the same order, m_axis_tlast regenerated on every FRAME_PIX-th beat.
//
// Address map (bytes): a word takes BPP AXI beats (PIX_BYTES = BPP*DATA_W/8, word in the low bits, zero padded);
// the region is a ring of RING_BURSTS burst slots of BURST_BYTES = BURST_PIX*PIX_BYTES (a power of two <= 4096)
// at BASE_ADDR (a multiple of BURST_BYTES), so no burst crosses a 4 KB boundary. A frame is NB =
// ceil(FRAME_PIX/BURST_PIX) bursts, the last one possibly partial (LAST_PIX words, flushed as soon as the
// frame's last word is in: a consumer that waits for a whole frame cannot deadlock); each burst takes one slot.
//
// Write side (axi_burst_writer): words enter an on-chip write FIFO (FIFO_DEPTH words); a write burst starts when
// its words are all there and a ring slot is free. Read side: a slot is read back (one INCR burst) only after its
// write response came back, and only when the on-chip prefetch FIFO (FIFO_DEPTH words) has room for the whole
// burst (credits), so rready stays high; the slot is free again after the burst's last read beat. Capacity: 2*FIFO_DEPTH +
// RING_BURSTS*BURST_PIX words at least. Reset = empty (the memory is not cleared). One AXI4 master, IDs 0,
// in-order responses; a SLVERR/DECERR response sets axi_error (sticky until reset).
module axi_stream_fifo #(
    parameter integer PIX_W = 16,               // stream word width (bits)
    parameter integer FRAME_PIX = 64,           // words per frame (tlast regeneration, partial-burst flush)
    parameter integer DATA_W = 32,              // AXI data width (bits: 8, 16, ..., 1024)
    parameter integer BPP = 1,                  // AXI beats per word (a power of two, BPP*DATA_W >= PIX_W)
    parameter integer BURST_PIX = 8,            // words per burst (a power of two, BURST_PIX*BPP <= 256)
    parameter integer FIFO_DEPTH = 16,          // write and prefetch FIFO depth (words, a power of two >= 2*BURST_PIX)
    parameter integer RING_BURSTS = 16,         // burst slots of the ring in external memory (>= 1)
    parameter integer ADDR_W = 32,              // AXI address width (bits, 12..64)
    parameter integer ID_W = 1,                 // AXI ID width (bits; IDs are 0)
    parameter [63:0] BASE_ADDR = 64'h0,         // byte address of the ring (a multiple of BURST_BYTES)
    // derived (do not override)
    parameter integer PIX_BYTES = BPP * DATA_W / 8,
    parameter integer BURST_BYTES = BURST_PIX * PIX_BYTES,
    parameter integer NB = (FRAME_PIX + BURST_PIX - 1) / BURST_PIX
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [PIX_W-1:0]    s_axis_tdata,
    input  wire                s_axis_tvalid,
    output wire                s_axis_tready,
    input  wire                s_axis_tlast,
    output wire [PIX_W-1:0]    m_axis_tdata,
    output wire                m_axis_tvalid,
    input  wire                m_axis_tready,
    output wire                m_axis_tlast,
    // AXI4 master (write address, write data, write response, read address, read data)
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
    output wire [ID_W-1:0]     m_axi_arid,
    output wire [ADDR_W-1:0]   m_axi_araddr,
    output wire [7:0]          m_axi_arlen,
    output wire [2:0]          m_axi_arsize,
    output wire [1:0]          m_axi_arburst,
    output wire                m_axi_arvalid,
    input  wire                m_axi_arready,
    input  wire [ID_W-1:0]     m_axi_rid,
    input  wire [DATA_W-1:0]   m_axi_rdata,
    input  wire [1:0]          m_axi_rresp,
    input  wire                m_axi_rlast,
    input  wire                m_axi_rvalid,
    output wire                m_axi_rready,
    output wire                axi_error        // a write or read response was not OKAY (sticky until reset)
);
    // ---------------------------------------------------------------- parameter checks (elaboration)
    localparam [31:0] REGION32 = RING_BURSTS * BURST_BYTES;         // ring bytes
    localparam [31:0] BB32 = BURST_BYTES;
    localparam [63:0] REGION_END = BASE_ADDR + {32'd0, REGION32};   // first byte past the ring
    generate
        if (PIX_W < 1 || FRAME_PIX < 1 || RING_BURSTS < 1) begin : g_check_sizes
            PARAMETER_ERROR_axi_stream_fifo_PIX_W_FRAME_PIX_RING_BURSTS_must_be_at_least_1 u_error ();
        end
        if (DATA_W < 8 || DATA_W > 1024 || (DATA_W & (DATA_W - 1)) != 0) begin : g_check_data_w
            PARAMETER_ERROR_axi_stream_fifo_DATA_W_must_be_a_power_of_two_from_8_to_1024 u_error ();
        end
        if (BPP < 1 || (BPP & (BPP - 1)) != 0 || BPP * DATA_W < PIX_W) begin : g_check_bpp
            PARAMETER_ERROR_axi_stream_fifo_BPP_must_be_a_power_of_two_with_BPP_DATA_W_at_least_PIX_W u_error ();
        end
        if (BURST_PIX < 1 || (BURST_PIX & (BURST_PIX - 1)) != 0 || BURST_PIX * BPP > 256 || BURST_BYTES > 4096)
        begin : g_check_burst
            PARAMETER_ERROR_axi_stream_fifo_BURST_PIX_must_be_a_power_of_two_with_at_most_256_beats_and_4096_bytes u_error ();
        end
        if ((FIFO_DEPTH & (FIFO_DEPTH - 1)) != 0 || FIFO_DEPTH < 2 * BURST_PIX) begin : g_check_fifo
            PARAMETER_ERROR_axi_stream_fifo_FIFO_DEPTH_must_be_a_power_of_two_at_least_2_BURST_PIX u_error ();
        end
        if (ADDR_W < 12 || ADDR_W > 64 || ID_W < 1) begin : g_check_addr_w
            PARAMETER_ERROR_axi_stream_fifo_ADDR_W_must_be_12_to_64_and_ID_W_at_least_1 u_error ();
        end
        if (BASE_ADDR % {32'd0, BB32} != 64'd0 || (ADDR_W < 64 && REGION_END > (64'd1 << ADDR_W))) begin : g_check_base
            PARAMETER_ERROR_axi_stream_fifo_BASE_ADDR_must_be_burst_aligned_and_the_ring_within_ADDR_W u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- sizes and constants
    localparam integer NB_W = (NB > 1) ? $clog2(NB) : 1;
    localparam integer RS_W = (RING_BURSTS > 1) ? $clog2(RING_BURSTS) : 1;   // slot index
    localparam integer RC_W = $clog2(RING_BURSTS + 1);                       // slots counted 0..RING_BURSTS
    localparam integer PX_W = (FRAME_PIX > 1) ? $clog2(FRAME_PIX) : 1;
    localparam integer BP_W = $clog2(BURST_PIX) + 1;                         // 1..BURST_PIX
    localparam integer CR_W = $clog2(FIFO_DEPTH) + 1;                        // 0..FIFO_DEPTH credits
    localparam integer FC_W = ((FIFO_DEPTH > 2) ? $clog2(FIFO_DEPTH) : 1) + 2;  // axis_fifo_bram count
    localparam [31:0] NB_LAST32 = NB - 1;
    localparam [31:0] RS_LAST32 = RING_BURSTS - 1;
    localparam [31:0] RING32 = RING_BURSTS;
    localparam [31:0] PX_LAST32 = FRAME_PIX - 1;
    localparam [31:0] BP_FULL32 = BURST_PIX;
    localparam [31:0] LAST_PIX32 = FRAME_PIX - (NB - 1) * BURST_PIX;        // words in the last burst of a frame
    localparam [31:0] AXSIZE32 = $clog2(DATA_W / 8);
    localparam [31:0] BPP32 = BPP;
    localparam [31:0] CREDIT32 = FIFO_DEPTH;
    localparam [NB_W-1:0] NB_LAST = NB_LAST32[NB_W-1:0];
    localparam [RS_W-1:0] RS_LAST = RS_LAST32[RS_W-1:0];
    localparam [RC_W-1:0] RING = RING32[RC_W-1:0];
    localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];
    localparam [BP_W-1:0] BP_FULL = BP_FULL32[BP_W-1:0];
    localparam [BP_W-1:0] BP_LAST = LAST_PIX32[BP_W-1:0];
    localparam [CR_W-1:0] CREDIT0 = CREDIT32[CR_W-1:0];
    localparam [2:0] AXSIZE = AXSIZE32[2:0];
    localparam [15:0] BPP16 = BPP32[15:0];
    localparam [ADDR_W-1:0] BASE = BASE_ADDR[ADDR_W-1:0];
    localparam [63:0] BB64 = {32'd0, BB32};
    localparam [ADDR_W-1:0] BURST_A = BB64[ADDR_W-1:0];
    localparam [RC_W-1:0] RC_ONE = 1;

    // ---------------------------------------------------------------- ring bookkeeping
    wire w_start;                               // a write burst takes a slot
    wire ar_start;                              // a read burst of a written slot is issued
    wire r_done = m_axi_rvalid && m_axi_rlast;  // a slot's read burst completed: the slot is free
    wire b_ack;                                 // a write response: a slot's data is in memory
    reg  [RC_W-1:0] used_reg;                   // slots written or being written and not yet read back
    reg  [RC_W-1:0] ready_reg;                  // slots acknowledged and not yet requested for reading
    always @(posedge clk) begin
        if (rst) begin
            used_reg <= {RC_W{1'b0}};
            ready_reg <= {RC_W{1'b0}};
        end else begin
            used_reg <= used_reg + (w_start ? RC_ONE : {RC_W{1'b0}}) - (r_done ? RC_ONE : {RC_W{1'b0}});
            ready_reg <= ready_reg + (b_ack ? RC_ONE : {RC_W{1'b0}}) - (ar_start ? RC_ONE : {RC_W{1'b0}});
        end
    end

    // ---------------------------------------------------------------- write side: FIFO -> AW, W bursts
    // a write burst starts when its words are all in the write FIFO and a ring slot is free
    reg  [RS_W-1:0]   w_slot_reg;               // slot of the next write burst
    reg  [ADDR_W-1:0] w_addr_reg;               // its address
    wire [NB_W-1:0]   unused_w_burst;
    wire unused_tlast = &{1'b0, s_axis_tlast, unused_w_burst};
    axi_burst_writer #(.PIX_W(PIX_W), .FRAME_PIX(FRAME_PIX), .DATA_W(DATA_W), .BPP(BPP), .BURST_PIX(BURST_PIX),
                       .FIFO_DEPTH(FIFO_DEPTH), .ADDR_W(ADDR_W), .ID_W(ID_W)) u_writer (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
        .burst_addr(w_addr_reg), .start_ok(used_reg != RING), .start(w_start), .burst(unused_w_burst),
        .b_done(b_ack),
        .m_axi_awid(m_axi_awid), .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen), .m_axi_awsize(m_axi_awsize),
        .m_axi_awburst(m_axi_awburst), .m_axi_awvalid(m_axi_awvalid), .m_axi_awready(m_axi_awready),
        .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb), .m_axi_wlast(m_axi_wlast), .m_axi_wvalid(m_axi_wvalid),
        .m_axi_wready(m_axi_wready), .m_axi_bid(m_axi_bid), .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid),
        .m_axi_bready(m_axi_bready), .m_axi_rvalid(m_axi_rvalid), .m_axi_rresp(m_axi_rresp), .axi_error(axi_error)
    );

    always @(posedge clk) begin
        if (rst) begin
            w_slot_reg <= {RS_W{1'b0}};
            w_addr_reg <= BASE;
        end else if (w_start) begin
            w_slot_reg <= (w_slot_reg == RS_LAST) ? {RS_W{1'b0}} : w_slot_reg + 1'b1;
            w_addr_reg <= (w_slot_reg == RS_LAST) ? BASE : w_addr_reg + BURST_A;
        end
    end

    // ---------------------------------------------------------------- read side: AR bursts -> prefetch FIFO
    reg  [CR_W-1:0]   credit_reg;               // prefetch FIFO words neither held nor reserved
    reg  [NB_W-1:0]   r_b_reg;                  // burst index of the next read burst in its frame
    reg  [RS_W-1:0]   r_slot_reg;               // slot of the next read burst
    reg  [ADDR_W-1:0] r_addr_reg;
    reg               arvalid_reg;
    reg  [ADDR_W-1:0] araddr_reg;
    reg  [7:0]        arlen_reg;
    wire              o_fire = m_axis_tvalid && m_axis_tready;
    wire [BP_W-1:0]   r_npix = (r_b_reg == NB_LAST) ? BP_LAST : BP_FULL;
    wire [15:0]       r_len16 = {{(16-BP_W){1'b0}}, r_npix} * BPP16 - 16'd1;
    wire unused_len = &{1'b0, r_len16[15:8]};
    assign ar_start = (ready_reg != {RC_W{1'b0}}) && (credit_reg >= {{(CR_W-BP_W){1'b0}}, r_npix}) &&
                      (!arvalid_reg || m_axi_arready);

    always @(posedge clk) begin
        if (rst) begin
            credit_reg <= CREDIT0;
            r_b_reg <= {NB_W{1'b0}};
            r_slot_reg <= {RS_W{1'b0}};
            r_addr_reg <= BASE;
            arvalid_reg <= 1'b0;
            araddr_reg <= BASE;
            arlen_reg <= 8'd0;
        end else begin
            credit_reg <= credit_reg + {{(CR_W-1){1'b0}}, o_fire}
                          - (ar_start ? {{(CR_W-BP_W){1'b0}}, r_npix} : {CR_W{1'b0}});
            if (ar_start) begin
                arvalid_reg <= 1'b1;
                araddr_reg <= r_addr_reg;
                arlen_reg <= r_len16[7:0];
                r_b_reg <= (r_b_reg == NB_LAST) ? {NB_W{1'b0}} : r_b_reg + 1'b1;
                r_slot_reg <= (r_slot_reg == RS_LAST) ? {RS_W{1'b0}} : r_slot_reg + 1'b1;
                r_addr_reg <= (r_slot_reg == RS_LAST) ? BASE : r_addr_reg + BURST_A;
            end else if (m_axi_arready) begin
                arvalid_reg <= 1'b0;
            end
        end
    end

    assign m_axi_arid = {ID_W{1'b0}};
    assign m_axi_araddr = araddr_reg;
    assign m_axi_arlen = arlen_reg;
    assign m_axi_arsize = AXSIZE;
    assign m_axi_arburst = 2'b01;               // INCR
    assign m_axi_arvalid = arvalid_reg;
    assign m_axi_rready = 1'b1;                 // every outstanding word has a reserved prefetch place

    // R beats -> words (beat 0 in the low bits)
    wire [BPP*DATA_W-1:0] r_word;
    wire                  r_push;               // the last beat of a word arrives
    beats_to_word #(.DATA_W(DATA_W), .BPP(BPP)) u_rword (
        .clk(clk), .rst(rst), .valid(m_axi_rvalid), .data(m_axi_rdata), .word(r_word), .push(r_push)
    );
    wire unused_r_word = &{1'b0, r_word};       // bits past PIX_W are padding

    wire             unused_pf_ready;
    wire [FC_W-1:0]  unused_pf_count;
    axis_fifo_bram #(.DATA_W(PIX_W), .DEPTH(FIFO_DEPTH)) u_prefetch (
        .clk(clk), .rst(rst),
        .s_axis_tdata(r_word[PIX_W-1:0]), .s_axis_tvalid(r_push), .s_axis_tready(unused_pf_ready),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .count(unused_pf_count)
    );

    // ---------------------------------------------------------------- output frames: tlast from a word count
    reg [PX_W-1:0] o_px_reg;                    // index of the output word in its frame
    always @(posedge clk) begin
        if (rst) o_px_reg <= {PX_W{1'b0}};
        else if (o_fire) o_px_reg <= (o_px_reg == PX_LAST) ? {PX_W{1'b0}} : o_px_reg + 1'b1;
    end
    assign m_axis_tlast = (o_px_reg == PX_LAST);

    wire unused_rid = &{1'b0, m_axi_rid};
endmodule
`default_nettype wire
