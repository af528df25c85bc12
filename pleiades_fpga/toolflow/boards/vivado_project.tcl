# pleiades-fpga Vivado project flow (body). The generated build_vivado.tcl sets these variables first:
#   pl_part        Vivado part, e.g. xc7z020clg400-1
#   pl_top         top module (the board wrapper)
#   pl_sources     list of Verilog files (absolute paths)
#   pl_xdc         list of constraint files
#   pl_out         output directory (project, reports, bitstream)
#   pl_jobs        parallel jobs for the runs
# With external memory (the network's AXI4 master into the PS DDR, docs/EXTERNAL_MEMORY.md "PYNQ-Z2") also:
#   pl_ps_block       block design name; the board top instantiates <pl_ps_block>_wrapper
#   pl_axi_data_bits  the network's AXI data width;  pl_axi_id_bits  its ID width
#   pl_fclk_mhz       FCLK_CLK0 (the design's clock)
#   pl_ddr_base       DDR window of the external regions (the board top puts it in the upper address bits)
#   pl_ddr_window     its size (bytes, a power of two); the whole 512 MB DDR is mapped at 0 for the HP port
# Run:  vivado -mode batch -source build_vivado.tcl
# Result: $pl_out/<top>.bit, $pl_out/reports/{utilization,timing,power}.rpt

foreach var {pl_part pl_top pl_sources pl_xdc pl_out pl_jobs} {
    if {![info exists $var]} {
        error "pleiades-fpga: variable $var is not set; run the generated build_vivado.tcl, not this body"
    }
}
foreach f [concat $pl_sources $pl_xdc] {
    if {![file exists $f]} {
        error "pleiades-fpga: missing source file $f; regenerate the build (pleiades-fpga synth ... --target pynq-z2)"
    }
}

file mkdir $pl_out
file mkdir [file join $pl_out reports]
create_project -force pleiades [file join $pl_out project] -part $pl_part
set_property target_language Verilog [current_project]
add_files -norecurse -fileset sources_1 $pl_sources
add_files -norecurse -fileset constrs_1 $pl_xdc

if {[info exists pl_ps_block]} {
    # Zynq PS block design: S_AXI (the network's AXI4 master) -> AXI SmartConnect (AXI4 -> AXI3 bursts of <= 16
    # beats, width to 64 bits, ID compaction) -> S_AXI_HP0 (64-bit) -> DDR. FCLK_CLK0 clocks SmartConnect, HP0
    # and (port fclk) the design; the design's reset (port aresetn, active low) resets SmartConnect.
    set board [lindex [get_board_parts -quiet -latest_file_version {*pynq-z2*}] 0]
    if {$board eq ""} {
        error "pleiades-fpga: the PYNQ-Z2 board files (board part tul.com.tw:pynq-z2) are not installed; the PS's DDR\
            and MIO settings come from them. Copy the board's 'pynq-z2' board files into <Vivado>/data/boards/board_files\
            (or set_param board.repoPaths) and rerun"
    }
    set_property board_part $board [current_project]
    create_bd_design $pl_ps_block
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 ps7]
    apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
    set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {0} CONFIG.PCW_USE_S_AXI_HP0 {1} \
        CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} CONFIG.PCW_EN_CLK0_PORT {1} CONFIG.PCW_EN_RST0_PORT {1} \
        CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $pl_fclk_mhz] $ps
    set fclk_hz [expr {round([get_property CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ $ps] * 1e6)}]
    set smc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 axi_smc]
    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $smc
    set s_axi [create_bd_intf_port -mode Slave -vlnv xilinx.com:interface:aximm_rtl:1.0 S_AXI]
    set_property -dict [list CONFIG.PROTOCOL {AXI4} CONFIG.READ_WRITE_MODE {READ_WRITE} CONFIG.ADDR_WIDTH {32} \
        CONFIG.DATA_WIDTH $pl_axi_data_bits CONFIG.ID_WIDTH $pl_axi_id_bits CONFIG.HAS_BURST {1} \
        CONFIG.HAS_LOCK {0} CONFIG.HAS_CACHE {0} CONFIG.HAS_PROT {0} CONFIG.HAS_QOS {0} CONFIG.HAS_REGION {0} \
        CONFIG.HAS_WSTRB {1} CONFIG.HAS_BRESP {1} CONFIG.HAS_RRESP {1} CONFIG.FREQ_HZ $fclk_hz] $s_axi
    set fclk [create_bd_port -dir O -type clk fclk]
    set_property -dict [list CONFIG.FREQ_HZ $fclk_hz CONFIG.ASSOCIATED_BUSIF {S_AXI} \
        CONFIG.ASSOCIATED_RESET {aresetn}] $fclk
    create_bd_port -dir O -type rst fclk_resetn
    set aresetn [create_bd_port -dir I -type rst aresetn]
    set_property CONFIG.POLARITY {ACTIVE_LOW} $aresetn
    connect_bd_intf_net $s_axi [get_bd_intf_pins axi_smc/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins axi_smc/M00_AXI] [get_bd_intf_pins ps7/S_AXI_HP0]
    connect_bd_net [get_bd_pins ps7/FCLK_CLK0] $fclk [get_bd_pins axi_smc/aclk] [get_bd_pins ps7/S_AXI_HP0_ACLK]
    connect_bd_net [get_bd_pins ps7/FCLK_RESET0_N] [get_bd_ports fclk_resetn]
    connect_bd_net $aresetn [get_bd_pins axi_smc/aresetn]
    # the whole DDR at its physical address: the board top's addresses are physical (window base + offset)
    assign_bd_address -target_address_space [get_bd_addr_spaces S_AXI] \
        [get_bd_addr_segs ps7/S_AXI_HP0/HP0_DDR_LOWOCM] -offset 0x00000000 -range 512M
    if {$pl_ddr_base + $pl_ddr_window > 0x20000000} {
        error "pleiades-fpga: DDR window $pl_ddr_base + $pl_ddr_window lies outside the 512 MB DDR"
    }
    validate_bd_design
    save_bd_design
    set bd_file [get_files $pl_ps_block.bd]
    generate_target all $bd_file
    add_files -norecurse -fileset sources_1 [make_wrapper -files $bd_file -top]
    update_compile_order -fileset sources_1
}
set_property top $pl_top [get_filesets sources_1]
update_compile_order -fileset sources_1

launch_runs synth_1 -jobs $pl_jobs
wait_on_run synth_1
if {[get_property PROGRESS [get_runs synth_1]] != "100%"} {
    error "pleiades-fpga: synthesis failed; see [file join $pl_out project pleiades.runs synth_1 runme.log]"
}

launch_runs impl_1 -to_step write_bitstream -jobs $pl_jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] != "100%"} {
    error "pleiades-fpga: implementation failed; see [file join $pl_out project pleiades.runs impl_1 runme.log]"
}

open_run impl_1
report_utilization -file [file join $pl_out reports utilization.rpt]
report_utilization -hierarchical -file [file join $pl_out reports utilization_hier.rpt]
report_timing_summary -file [file join $pl_out reports timing.rpt]
report_power -file [file join $pl_out reports power.rpt]
set bit [lindex [glob -nocomplain [file join $pl_out project pleiades.runs impl_1 *.bit]] 0]
if {$bit eq ""} {
    error "pleiades-fpga: no bitstream was written"
}
file copy -force $bit [file join $pl_out $pl_top.bit]
puts "pleiades-fpga: bitstream [file join $pl_out $pl_top.bit]"
