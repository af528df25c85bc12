`timescale 1ns/1ps
`default_nettype none
// temporal_history_axi: window provider of a temporal convolution whose frame history lives in external
// memory behind an AXI4 master (docs/EXTERNAL_MEMORY.md). Followed by pointwise_mvu, it computes the layer.
//
// In: one beat = one pixel of the newest frame x_t (C_IN channels of IN_W bits), tlast on the frame's last
// pixel. Out: one beat per pixel = its window, lane (c*K + k) = channel c of tap k (tap 0 = oldest frame
// x_{t-K+1}, tap K-1 = x_t), so a dense layer is pointwise_mvu over C_IN*K inputs (weight [o][c*K + k] =
// w[o, c, k]) and a depthwise one is pointwise_mvu with GROUP_IN = K (output c reads lanes c*K .. c*K+K-1).
//
// Address map (bytes): a pixel takes BPP AXI beats (PIX_BYTES = BPP*DATA_W/8, pixel word in the low bits of
// beat 0..BPP-1, zero padded); frame slot s (s = 0..K-2) holds one frame at BASE_ADDR + s*SLOT_BYTES, pixel p
// at + p*PIX_BYTES; SLOT_BYTES = NB*BURST_BYTES (NB = ceil(PIXELS/BURST_PIX) bursts of BURST_BYTES =
// BURST_PIX*PIX_BYTES, a power of two <= 4096, so no burst crosses a 4 KB boundary); the region is
// (K-1)*SLOT_BYTES. Frame f (counted from reset) is written into slot f mod (K-1); its history frame of age
// a (1..K-1) is in slot (f-a) mod (K-1).
//
// Reads: for each burst b of a frame, a group of up to K-1 INCR read bursts (age 1, 2, ...) fills one
// prefetch FIFO per age (FIFO_DEPTH pixels, block RAM). A group is requested when FIFO_DEPTH credits allow it
// (so rready stays high) and, for age 1, only after the write burst b of the previous frame was acknowledged
// (read after write). Writes (axi_burst_writer): each accepted pixel goes to a write FIFO; a write burst starts
// when its pixels are all there. A pixel is accepted only when its history pixels have arrived, so pixel p of
// frame f is written into the slot of frame f-K+1 after that pixel was read (write after read).
// Reset: a count of frames since reset (saturating at K-1) marks which ages exist; the others are neither
// read nor written, their taps are zero (causal zero padding) without clearing the memory.
// One AXI4 master per layer (IDs 0, in-order responses); a SLVERR/DECERR response sets axi_error (sticky).
module temporal_history_axi #(
    parameter integer C_IN = 4,                 // input channels
    parameter integer IN_W = 8,                 // input activation width (bits)
    parameter integer K = 3,                    // temporal taps (frames), >= 2
    parameter integer PIXELS = 64,              // pixels per frame (H*W)
    parameter integer DATA_W = 32,              // AXI data width (bits: 8, 16, ..., 1024)
    parameter integer BPP = 1,                  // AXI beats per pixel (a power of two, BPP*DATA_W >= C_IN*IN_W)
    parameter integer BURST_PIX = 8,            // pixels per burst (a power of two, BURST_PIX*BPP <= 256)
    parameter integer FIFO_DEPTH = 32,          // prefetch depth in pixels per age (a power of two >= 2*BURST_PIX)
    parameter integer ADDR_W = 32,              // AXI address width (bits, 12..64)
    parameter integer ID_W = 1,                 // AXI ID width (bits; IDs are 0)
    parameter [63:0] BASE_ADDR = 64'h0,         // byte address of slot 0 (a multiple of BURST_BYTES)
    // derived (do not override)
    parameter integer PIX_W = C_IN * IN_W,
    parameter integer WIN_W = K * PIX_W,
    parameter integer SLOTS = K - 1,
    parameter integer PIX_BYTES = BPP * DATA_W / 8,
    parameter integer BURST_BYTES = BURST_PIX * PIX_BYTES,
    parameter integer NB = (PIXELS + BURST_PIX - 1) / BURST_PIX,
    parameter integer SLOT_BYTES = NB * BURST_BYTES,
    parameter integer OUTSTANDING = 1 << $clog2((K - 1) * (FIFO_DEPTH / BURST_PIX + 1))
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [PIX_W-1:0]    s_axis_tdata,
    input  wire                s_axis_tvalid,
    output wire                s_axis_tready,
    input  wire                s_axis_tlast,
    output wire [WIN_W-1:0]    m_axis_tdata,
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
    localparam [31:0] REGION32 = (K - 1) * SLOT_BYTES;              // region bytes
    localparam [31:0] BB32 = BURST_BYTES;
    localparam [63:0] REGION_END = BASE_ADDR + {32'd0, REGION32};   // first byte past the region
    generate
        if (C_IN < 1 || IN_W < 1 || PIXELS < 1 || K < 2) begin : g_check_sizes
            PARAMETER_ERROR_temporal_history_axi_C_IN_IN_W_PIXELS_at_least_1_and_K_at_least_2 u_error ();
        end
        if (DATA_W < 8 || DATA_W > 1024 || (DATA_W & (DATA_W - 1)) != 0) begin : g_check_data_w
            PARAMETER_ERROR_temporal_history_axi_DATA_W_must_be_a_power_of_two_from_8_to_1024 u_error ();
        end
        if (BPP < 1 || (BPP & (BPP - 1)) != 0 || BPP * DATA_W < C_IN * IN_W) begin : g_check_bpp
            PARAMETER_ERROR_temporal_history_axi_BPP_must_be_a_power_of_two_with_BPP_DATA_W_at_least_C_IN_IN_W u_error ();
        end
        if (BURST_PIX < 1 || (BURST_PIX & (BURST_PIX - 1)) != 0 || BURST_PIX * BPP > 256 || BURST_BYTES > 4096)
        begin : g_check_burst
            PARAMETER_ERROR_temporal_history_axi_BURST_PIX_must_be_a_power_of_two_with_at_most_256_beats_and_4096_bytes u_error ();
        end
        if ((FIFO_DEPTH & (FIFO_DEPTH - 1)) != 0 || FIFO_DEPTH < 2 * BURST_PIX) begin : g_check_fifo
            PARAMETER_ERROR_temporal_history_axi_FIFO_DEPTH_must_be_a_power_of_two_at_least_2_BURST_PIX u_error ();
        end
        if (ADDR_W < 12 || ADDR_W > 64 || ID_W < 1) begin : g_check_addr_w
            PARAMETER_ERROR_temporal_history_axi_ADDR_W_must_be_12_to_64_and_ID_W_at_least_1 u_error ();
        end
        if (BASE_ADDR % {32'd0, BB32} != 64'd0 || (ADDR_W < 64 && REGION_END > (64'd1 << ADDR_W))) begin : g_check_base
            PARAMETER_ERROR_temporal_history_axi_BASE_ADDR_must_be_burst_aligned_and_the_region_within_ADDR_W u_error ();
        end
    endgenerate

    // ---------------------------------------------------------------- sizes and constants
    localparam integer NB_W = (NB > 1) ? $clog2(NB) : 1;
    localparam integer SL_W = (SLOTS > 1) ? $clog2(SLOTS) : 1;
    localparam integer V_W = $clog2(K);                             // 0..K-1 history frames
    localparam integer AGE_W = (SLOTS > 1) ? $clog2(SLOTS) : 1;     // age - 1
    localparam integer PX_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam integer BP_W = $clog2(BURST_PIX) + 1;                // 1..BURST_PIX
    localparam integer BB_LOG = $clog2(BURST_BYTES);
    localparam integer CR_W = $clog2(FIFO_DEPTH + PIXELS + BURST_PIX) + 2;  // signed credit counter
    localparam integer RW_W = $clog2(NB + FIFO_DEPTH / BURST_PIX + 4) + 3;   // signed read-after-write counter
    localparam [31:0] NB_LAST32 = NB - 1;
    localparam [31:0] SL_LAST32 = SLOTS - 1;
    localparam [31:0] V_MAX32 = SLOTS;
    localparam [31:0] PX_LAST32 = PIXELS - 1;
    localparam [31:0] BP_FULL32 = BURST_PIX;
    localparam [31:0] LAST_PIX32 = PIXELS - (NB - 1) * BURST_PIX;  // pixels in the last burst of a frame
    localparam [31:0] AXSIZE32 = $clog2(DATA_W / 8);
    localparam [NB_W-1:0] NB_LAST = NB_LAST32[NB_W-1:0];
    localparam [SL_W-1:0] SL_LAST = SL_LAST32[SL_W-1:0];
    localparam [V_W-1:0] V_MAX = V_MAX32[V_W-1:0];
    localparam [PX_W-1:0] PX_LAST = PX_LAST32[PX_W-1:0];
    localparam [BP_W-1:0] BP_FULL = BP_FULL32[BP_W-1:0];
    localparam [BP_W-1:0] BP_LAST = LAST_PIX32[BP_W-1:0];
    localparam [ADDR_W-1:0] BASE = BASE_ADDR[ADDR_W-1:0];
    localparam [31:0] SLOT32 = SLOT_BYTES;
    localparam [31:0] LAST_OFF32 = (K - 2) * SLOT_BYTES;
    localparam [63:0] SLOT_BYTES64 = {32'd0, SLOT32};
    localparam [63:0] LAST_SLOT64 = BASE_ADDR + {32'd0, LAST_OFF32};
    localparam [ADDR_W-1:0] SLOT_A = SLOT_BYTES64[ADDR_W-1:0];
    localparam [ADDR_W-1:0] LAST_SLOT_A = LAST_SLOT64[ADDR_W-1:0];
    localparam [31:0] CREDIT32 = FIFO_DEPTH;
    localparam [31:0] NB32 = NB;
    localparam [31:0] BPP32 = BPP;
    localparam [CR_W-1:0] CREDIT0 = CREDIT32[CR_W-1:0];
    localparam [RW_W-1:0] NB_RW = NB32[RW_W-1:0];
    localparam [2:0] AXSIZE = AXSIZE32[2:0];
    localparam [15:0] BPP16 = BPP32[15:0];

    // ---------------------------------------------------------------- shared counters
    wire               fire;                    // a pixel is accepted (its window is queued)
    wire               ar_start;                // the read engine reserves a group of BURST pixels
    wire [BP_W-1:0]    ar_npix;                 // pixels in that group
    reg  [CR_W-1:0]    credit_reg;              // free prefetch FIFO pixels not reserved (signed)
    reg  [RW_W-1:0]    raw_reg;                 // groups started - write bursts acknowledged (signed)
    wire               b_ack;                   // a write response (a write burst is in memory)

    always @(posedge clk) begin
        if (rst) begin
            credit_reg <= CREDIT0;
            raw_reg <= {RW_W{1'b0}};
        end else begin
            credit_reg <= credit_reg + {{(CR_W-1){1'b0}}, fire} - (ar_start ? {{(CR_W-BP_W){1'b0}}, ar_npix} : {CR_W{1'b0}});
            raw_reg <= raw_reg + {{(RW_W-1){1'b0}}, ar_start} - {{(RW_W-1){1'b0}}, b_ack};
        end
    end

    // ---------------------------------------------------------------- read engine: AR channel
    reg               ar_busy_reg;              // issuing the bursts of a group
    reg  [NB_W-1:0]   ar_b_reg;                 // burst index of the group in its frame
    reg  [V_W-1:0]    ar_v_reg;                 // history frames that exist for the group's frame
    reg  [V_W-1:0]    ar_age_reg;               // age of the next burst (1..ar_v_reg)
    reg  [SL_W-1:0]   ar_ws_reg;                // slot the group's frame is written into
    reg  [ADDR_W-1:0] ar_ws_base_reg;           // its base address
    reg  [SL_W-1:0]   ar_rs_reg;                // slot of the next burst's age
    reg  [ADDR_W-1:0] ar_rs_base_reg;
    reg               arvalid_reg;
    reg  [ADDR_W-1:0] araddr_reg;
    reg  [7:0]        arlen_reg;
    wire              desc_ready;               // room for one more outstanding read burst
    wire [AGE_W-1:0]  desc_age;                 // age - 1 of the oldest outstanding read burst
    wire              desc_valid;

    assign ar_npix = (ar_b_reg == NB_LAST) ? BP_LAST : BP_FULL;
    wire credit_ok = !credit_reg[CR_W-1] && (credit_reg >= {{(CR_W-BP_W){1'b0}}, ar_npix});
    wire raw_ok = (ar_v_reg == {V_W{1'b0}}) || raw_reg[RW_W-1] || (raw_reg < NB_RW);
    assign ar_start = !ar_busy_reg && credit_ok && raw_ok;
    wire ar_load = ar_busy_reg && (!arvalid_reg || m_axi_arready) && desc_ready;
    wire ar_group_done = (ar_start && ar_v_reg == {V_W{1'b0}}) || (ar_load && ar_age_reg == ar_v_reg);
    wire ar_rs_wrap = (ar_rs_reg == {SL_W{1'b0}});
    wire ar_ws_first = (ar_ws_reg == {SL_W{1'b0}});
    wire [ADDR_W-1:0] ar_b_off = {{(ADDR_W-NB_W){1'b0}}, ar_b_reg} << BB_LOG;
    wire [15:0] ar_len16 = {{(16-BP_W){1'b0}}, ar_npix} * BPP16 - 16'd1;   // beats - 1 (<= 255)
    wire unused_len = &{1'b0, ar_len16[15:8]};

    always @(posedge clk) begin
        if (rst) begin
            ar_busy_reg <= 1'b0;
            ar_b_reg <= {NB_W{1'b0}};
            ar_v_reg <= {V_W{1'b0}};
            ar_age_reg <= {V_W{1'b0}};
            ar_ws_reg <= {SL_W{1'b0}};
            ar_ws_base_reg <= BASE;
            ar_rs_reg <= {SL_W{1'b0}};
            ar_rs_base_reg <= BASE;
            arvalid_reg <= 1'b0;
            araddr_reg <= BASE;
            arlen_reg <= 8'd0;
        end else begin
            if (ar_start && ar_v_reg != {V_W{1'b0}}) begin   // first age: the slot before the written one
                ar_busy_reg <= 1'b1;
                ar_age_reg <= {{(V_W-1){1'b0}}, 1'b1};
                ar_rs_reg <= ar_ws_first ? SL_LAST : ar_ws_reg - 1'b1;
                ar_rs_base_reg <= ar_ws_first ? LAST_SLOT_A : ar_ws_base_reg - SLOT_A;
            end
            if (ar_load) begin
                arvalid_reg <= 1'b1;
                araddr_reg <= ar_rs_base_reg + ar_b_off;
                arlen_reg <= ar_len16[7:0];
                ar_age_reg <= ar_age_reg + 1'b1;
                ar_rs_reg <= ar_rs_wrap ? SL_LAST : ar_rs_reg - 1'b1;
                ar_rs_base_reg <= ar_rs_wrap ? LAST_SLOT_A : ar_rs_base_reg - SLOT_A;
                if (ar_age_reg == ar_v_reg) ar_busy_reg <= 1'b0;
            end else if (m_axi_arready) begin
                arvalid_reg <= 1'b0;
            end
            if (ar_group_done) begin
                if (ar_b_reg == NB_LAST) begin                // next frame
                    ar_b_reg <= {NB_W{1'b0}};
                    if (ar_v_reg != V_MAX) ar_v_reg <= ar_v_reg + 1'b1;
                    ar_ws_reg <= (ar_ws_reg == SL_LAST) ? {SL_W{1'b0}} : ar_ws_reg + 1'b1;
                    ar_ws_base_reg <= (ar_ws_reg == SL_LAST) ? BASE : ar_ws_base_reg + SLOT_A;
                end else begin
                    ar_b_reg <= ar_b_reg + 1'b1;
                end
            end
        end
    end

    assign m_axi_arid = {ID_W{1'b0}};
    assign m_axi_araddr = araddr_reg;
    assign m_axi_arlen = arlen_reg;
    assign m_axi_arsize = AXSIZE;
    assign m_axi_arburst = 2'b01;               // INCR
    assign m_axi_arvalid = arvalid_reg;

    // outstanding read bursts in order: the age of each, so that R beats reach their FIFO
    wire [AGE_W-1:0] load_age = ar_age_reg[AGE_W-1:0] - 1'b1;
    wire             unused_desc_last;
    axis_fifo #(.DATA_W(AGE_W), .DEPTH(OUTSTANDING)) u_desc (
        .clk(clk), .rst(rst),
        .s_axis_tdata(load_age), .s_axis_tvalid(ar_load), .s_axis_tready(desc_ready), .s_axis_tlast(1'b0),
        .m_axis_tdata(desc_age), .m_axis_tvalid(desc_valid), .m_axis_tready(m_axi_rvalid && m_axi_rlast),
        .m_axis_tlast(unused_desc_last)
    );

    // ---------------------------------------------------------------- read engine: R channel -> pixels
    // rready is always high: every outstanding beat has a reserved FIFO place (credits).
    wire [BPP*DATA_W-1:0] r_word;               // the pixel's beats, beat 0 in the low bits
    wire                  r_push;               // the last beat of a pixel arrives
    beats_to_word #(.DATA_W(DATA_W), .BPP(BPP)) u_rword (
        .clk(clk), .rst(rst), .valid(m_axi_rvalid), .data(m_axi_rdata), .word(r_word), .push(r_push)
    );
    assign m_axi_rready = 1'b1;
    wire unused_r_word = &{1'b0, r_word};       // bits past PIX_W are padding

    // ---------------------------------------------------------------- prefetch FIFOs (one per age) and window
    reg  [PX_W-1:0] px_reg;                     // pixel index of the next input pixel
    reg  [V_W-1:0]  v_reg;                      // history frames that exist for the input frame
    wire            q_full;                     // the window queue holds two beats
    wire [SLOTS-1:0] hist_valid;                // head pixel of each age FIFO present
    wire [SLOTS-1:0] age_on;                    // the age exists for the input frame
    wire [SLOTS*PIX_W-1:0] hist_data;           // head pixel of each age FIFO (age a at index a-1)
    wire            wf_ready;                   // the write FIFO has room

    genvar a;
    generate
        for (a = 1; a <= SLOTS; a = a + 1) begin : g_age
            localparam [31:0] AGE32 = a;
            localparam [V_W-1:0] AGE = AGE32[V_W-1:0];
            localparam [AGE_W-1:0] AGE_I = AGE32[AGE_W-1:0] - 1'b1;
            wire unused_ready;
            wire [$clog2(FIFO_DEPTH)+1:0] unused_count;
            assign age_on[a-1] = (v_reg >= AGE);
            axis_fifo_bram #(.DATA_W(PIX_W), .DEPTH(FIFO_DEPTH)) u_fifo (
                .clk(clk), .rst(rst),
                .s_axis_tdata(r_word[PIX_W-1:0]), .s_axis_tvalid(r_push && desc_age == AGE_I),
                .s_axis_tready(unused_ready),
                .m_axis_tdata(hist_data[(a-1)*PIX_W +: PIX_W]), .m_axis_tvalid(hist_valid[a-1]),
                .m_axis_tready(fire && age_on[a-1]), .count(unused_count)
            );
        end
    endgenerate

    wire hist_ok = &(hist_valid | ~age_on);
    assign s_axis_tready = hist_ok && wf_ready && !q_full;
    assign fire = s_axis_tvalid && s_axis_tready;

    always @(posedge clk) begin
        if (rst) begin
            px_reg <= {PX_W{1'b0}};
            v_reg <= {V_W{1'b0}};
        end else if (fire) begin
            if (px_reg == PX_LAST) begin
                px_reg <= {PX_W{1'b0}};
                if (v_reg != V_MAX) v_reg <= v_reg + 1'b1;
            end else begin
                px_reg <= px_reg + 1'b1;
            end
        end
    end

    wire [WIN_W-1:0] window;
    genvar c, k;
    generate
        for (c = 0; c < C_IN; c = c + 1) begin : g_ch
            for (k = 0; k < K; k = k + 1) begin : g_tap
                if (k == K - 1) begin : g_cur
                    assign window[(c*K + k)*IN_W +: IN_W] = s_axis_tdata[c*IN_W +: IN_W];
                end else begin : g_hist                 // age K-1-k
                    assign window[(c*K + k)*IN_W +: IN_W] = age_on[K-2-k]
                        ? hist_data[(K-2-k)*PIX_W + c*IN_W +: IN_W] : {IN_W{1'b0}};
                end
            end
        end
    endgenerate

    axis_out_queue #(.DATA_W(WIN_W)) u_queue (
        .clk(clk), .rst(rst), .push(fire), .push_data(window), .push_last(s_axis_tlast), .full(q_full),
        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast)
    );

    // ---------------------------------------------------------------- write engine: AW, W, B channels
    // a write burst starts when its pixels are all in the write FIFO; burst b of a frame goes to its slot + b
    reg  [SL_W-1:0]   w_s_reg;                  // slot of the frame being written
    reg  [ADDR_W-1:0] w_s_base_reg;             // its base address
    wire              w_start;                  // a write burst starts
    wire [NB_W-1:0]   w_b;                      // burst index of the next write burst in its frame
    wire [ADDR_W-1:0] w_b_off = {{(ADDR_W-NB_W){1'b0}}, w_b} << BB_LOG;
    axi_burst_writer #(.PIX_W(PIX_W), .FRAME_PIX(PIXELS), .DATA_W(DATA_W), .BPP(BPP), .BURST_PIX(BURST_PIX),
                       .FIFO_DEPTH(FIFO_DEPTH), .ADDR_W(ADDR_W), .ID_W(ID_W)) u_writer (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(fire), .s_axis_tready(wf_ready),
        .burst_addr(w_s_base_reg + w_b_off), .start_ok(1'b1), .start(w_start), .burst(w_b), .b_done(b_ack),
        .m_axi_awid(m_axi_awid), .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen), .m_axi_awsize(m_axi_awsize),
        .m_axi_awburst(m_axi_awburst), .m_axi_awvalid(m_axi_awvalid), .m_axi_awready(m_axi_awready),
        .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb), .m_axi_wlast(m_axi_wlast), .m_axi_wvalid(m_axi_wvalid),
        .m_axi_wready(m_axi_wready), .m_axi_bid(m_axi_bid), .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid),
        .m_axi_bready(m_axi_bready), .m_axi_rvalid(m_axi_rvalid), .m_axi_rresp(m_axi_rresp), .axi_error(axi_error)
    );

    always @(posedge clk) begin
        if (rst) begin
            w_s_reg <= {SL_W{1'b0}};
            w_s_base_reg <= BASE;
        end else if (w_start && w_b == NB_LAST) begin   // the frame's last burst: the next frame's slot
            w_s_reg <= (w_s_reg == SL_LAST) ? {SL_W{1'b0}} : w_s_reg + 1'b1;
            w_s_base_reg <= (w_s_reg == SL_LAST) ? BASE : w_s_base_reg + SLOT_A;
        end
    end
    wire unused_ids = &{1'b0, m_axi_rid, desc_valid};
endmodule
`default_nettype wire
