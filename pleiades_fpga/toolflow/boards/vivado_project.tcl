# pleiades-fpga Vivado project flow (body). The generated build_vivado.tcl sets these variables first:
#   pl_part        Vivado part, e.g. xc7z020clg400-1
#   pl_top         top module (the board wrapper)
#   pl_sources     list of Verilog files (absolute paths)
#   pl_xdc         list of constraint files
#   pl_out         output directory (project, reports, bitstream)
#   pl_jobs        parallel jobs for the runs
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
