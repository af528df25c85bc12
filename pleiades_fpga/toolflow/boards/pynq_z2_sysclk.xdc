## PYNQ-Z2 (xc7z020clg400-1): the 125 MHz system clock pin of the board wrapper (pynq_z2_top.v with an MMCM).
## Pin site from the board's master XDC (TUL PYNQ-Z2 v1.0).
set_property -dict { PACKAGE_PIN H16 IOSTANDARD LVCMOS33 } [get_ports { sysclk }]
create_clock -add -name sys_clk_pin -period 8.000 -waveform {0 4} [get_ports { sysclk }]
