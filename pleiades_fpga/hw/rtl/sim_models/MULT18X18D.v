`timescale 1ns/1ps
`default_nettype none
// MULT18X18D: behavioural SIMULATION model of the ECP5 sysDSP 18x18 multiplier (Icarus, Verilator), for the
// subset of the primitive mac_lane uses (MUL_CELL 1). Synthesis never reads it: Yosys defines SYNTHESIS, so the
// module is absent there and synth_ecp5 maps the instance to its own cell (techlibs/ecp5/cells_bb.v, whose
// parameter names and defaults this model repeats). Semantics (Lattice FPGA-TN-02205, ECP5 sysDSP usage guide):
//   A, B    : 18-bit operands, two's complement when SIGNEDA / SIGNEDB is 1 (the sign control travels with its
//             operand: it is registered by that operand's input register)
//   input registers A, B (REG_INPUTA_CLK / REG_INPUTB_CLK = "CLK0") -> 36-bit product -> pipeline register
//   (REG_PIPELINE_CLK = "CLK0") -> output register (REG_OUTPUT_CLK = "CLK0") -> P; "NONE" bypasses a register.
//   Every register used is clocked by CLK0 and enabled by CE0 (data registers: no power-up value, GSR "DISABLED").
// Not modelled, refused: any other parameter value fails elaboration (PARAMETER_ERROR_MULT18X18D_<rule>);
// RST0..RST3 or SOURCEA / SOURCEB (shift-register cascade) at 1 on a CLK0 edge stops the simulation with an
// error. C, CLK1..3, CE1..3 are unused by this subset (C feeds only the ROC output, which is not modelled); the
// cascade and register outputs (SRIA/SRIB, SROA/SROB, ROA/ROB/ROC, SIGNEDP) are not ports of the model, so
// connecting them fails elaboration.
`ifndef SYNTHESIS
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE",          // A input register: "NONE" or "CLK0"
    parameter REG_INPUTA_CE = "CE0",            // its clock enable: "CE0" only
    parameter REG_INPUTA_RST = "RST0",          // its reset: "RST0" only (RST0 must stay 0)
    parameter REG_INPUTB_CLK = "NONE",          // B input register: "NONE" or "CLK0"
    parameter REG_INPUTB_CE = "CE0",            // its clock enable: "CE0" only
    parameter REG_INPUTB_RST = "RST0",          // its reset: "RST0" only
    parameter REG_INPUTC_CLK = "NONE",          // C input register: "NONE" only (C is not modelled)
    parameter REG_INPUTC_CE = "CE0",            // "CE0" only
    parameter REG_INPUTC_RST = "RST0",          // "RST0" only
    parameter REG_PIPELINE_CLK = "NONE",        // product (pipeline) register: "NONE" or "CLK0"
    parameter REG_PIPELINE_CE = "CE0",          // its clock enable: "CE0" only
    parameter REG_PIPELINE_RST = "RST0",        // its reset: "RST0" only
    parameter REG_OUTPUT_CLK = "NONE",          // output register: "NONE" or "CLK0"
    parameter REG_OUTPUT_CE = "CE0",            // its clock enable: "CE0" only
    parameter REG_OUTPUT_RST = "RST0",          // its reset: "RST0" only
    parameter CLK0_DIV = "ENABLED",             // clock divider settings: "ENABLED" (the default) only
    parameter CLK1_DIV = "ENABLED",
    parameter CLK2_DIV = "ENABLED",
    parameter CLK3_DIV = "ENABLED",
    parameter HIGHSPEED_CLK = "NONE",           // "NONE" only
    parameter GSR = "DISABLED",                 // "DISABLED" only (the cell's default "ENABLED" is refused here)
    parameter CAS_MATCH_REG = "FALSE",          // "FALSE" only
    parameter SOURCEB_MODE = "B_SHIFT",         // "B_SHIFT" only (B from the B pins while SOURCEB is 0)
    parameter MULT_BYPASS = "DISABLED",         // "DISABLED" only
    parameter RESETMODE = "SYNC"                // "SYNC" only
) (
    input  wire A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input  wire B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input  wire C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input  wire SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input  wire CLK3, CLK2, CLK1, CLK0, CE3, CE2, CE1, CE0, RST3, RST2, RST1, RST0,
    output wire P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
    generate
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0") || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
            || (REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0")
            || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0") || REG_INPUTC_CLK != "NONE") begin : g_check_clk
            PARAMETER_ERROR_MULT18X18D_register_clocks_must_be_NONE_or_CLK0_and_C_NONE u_error ();
        end
        if (REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0" || REG_INPUTC_CE != "CE0" || REG_PIPELINE_CE != "CE0"
            || REG_OUTPUT_CE != "CE0" || REG_INPUTA_RST != "RST0" || REG_INPUTB_RST != "RST0"
            || REG_INPUTC_RST != "RST0" || REG_PIPELINE_RST != "RST0" || REG_OUTPUT_RST != "RST0") begin : g_check_ce
            PARAMETER_ERROR_MULT18X18D_register_enables_must_be_CE0_and_resets_RST0 u_error ();
        end
        if (CLK0_DIV != "ENABLED" || CLK1_DIV != "ENABLED" || CLK2_DIV != "ENABLED" || CLK3_DIV != "ENABLED"
            || HIGHSPEED_CLK != "NONE" || GSR != "DISABLED" || CAS_MATCH_REG != "FALSE"
            || SOURCEB_MODE != "B_SHIFT" || MULT_BYPASS != "DISABLED" || RESETMODE != "SYNC") begin : g_check_mode
            PARAMETER_ERROR_MULT18X18D_unmodelled_mode_parameter_keep_the_defaults_and_GSR_DISABLED u_error ();
        end
    endgenerate

    // operands with their sign extension bit (SIGNEDA / SIGNEDB): 19-bit two's complement
    wire [18:0] a_in = {SIGNEDA & A17, A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [18:0] b_in = {SIGNEDB & B17, B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [18:0] a_q;                            // after the A input register (or not)
    wire [18:0] b_q;
    wire [35:0] m_in;                           // product
    wire [35:0] m_q;                            // after the pipeline register (or not)
    wire [35:0] p_q;                            // after the output register (or not)
    generate
        if (REG_INPUTA_CLK == "CLK0") begin : g_reg_a
            reg [18:0] a_reg;
            always @(posedge CLK0) if (CE0) a_reg <= a_in;
            assign a_q = a_reg;
        end else begin : g_comb_a
            assign a_q = a_in;
        end
        if (REG_INPUTB_CLK == "CLK0") begin : g_reg_b
            reg [18:0] b_reg;
            always @(posedge CLK0) if (CE0) b_reg <= b_in;
            assign b_q = b_reg;
        end else begin : g_comb_b
            assign b_q = b_in;
        end
    endgenerate
    wire signed [37:0] prod = $signed(a_q) * $signed(b_q);     // exact: |product| < 2**36
    assign m_in = prod[35:0];
    generate
        if (REG_PIPELINE_CLK == "CLK0") begin : g_reg_m
            reg [35:0] m_reg;
            always @(posedge CLK0) if (CE0) m_reg <= m_in;
            assign m_q = m_reg;
        end else begin : g_comb_m
            assign m_q = m_in;
        end
        if (REG_OUTPUT_CLK == "CLK0") begin : g_reg_p
            reg [35:0] p_reg;
            always @(posedge CLK0) if (CE0) p_reg <= m_q;
            assign p_q = p_reg;
        end else begin : g_comb_p
            assign p_q = m_q;
        end
    endgenerate
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p_q;

    // the unmodelled controls must stay 0
    always @(posedge CLK0) begin
        if ((RST0 | RST1 | RST2 | RST3) === 1'b1) begin
            $display("ERROR: MULT18X18D %m: RST0..RST3 are not modelled; tie them to 0");
            $finish;
        end
        if ((SOURCEA | SOURCEB) === 1'b1) begin
            $display("ERROR: MULT18X18D %m: SOURCEA / SOURCEB (cascade) are not modelled; tie them to 0");
            $finish;
        end
    end
    wire unused_ok = &{1'b0, prod[37:36], C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0, CLK3, CLK2, CLK1, CE3, CE2, CE1, CE0};  // CE0 too: unused when no register is on
endmodule
`endif
`default_nettype wire
