## PYNQ-Z2 (xc7z020clg400-1): pins used by the pleiades-fpga board wrapper (pynq_z2_top.v).
## Pin sites from the board's master XDC (TUL PYNQ-Z2 v1.0).
## A USB-UART adapter (3.3 V) on Pmod JA: JA1 = uart_rx (host -> FPGA), JA2 = uart_tx (FPGA -> host).
## The clock: pynq_z2_sysclk.xdc (the 125 MHz sysclk pin, on-chip designs) or the Zynq PS's FCLK_CLK0 (designs with
## external memory: constrained by the processing_system7 IP).

## Button BTN0 (active high) = reset
set_property -dict { PACKAGE_PIN D19 IOSTANDARD LVCMOS33 } [get_ports { btn0 }]

## UART on Pmod JA
set_property -dict { PACKAGE_PIN Y18 IOSTANDARD LVCMOS33 PULLUP true } [get_ports { uart_rx }]
set_property -dict { PACKAGE_PIN Y19 IOSTANDARD LVCMOS33 } [get_ports { uart_tx }]

## LEDs LD0..LD3
set_property -dict { PACKAGE_PIN R14 IOSTANDARD LVCMOS33 } [get_ports { led[0] }]
set_property -dict { PACKAGE_PIN P14 IOSTANDARD LVCMOS33 } [get_ports { led[1] }]
set_property -dict { PACKAGE_PIN N16 IOSTANDARD LVCMOS33 } [get_ports { led[2] }]
set_property -dict { PACKAGE_PIN M14 IOSTANDARD LVCMOS33 } [get_ports { led[3] }]

## The button and the UART pins are asynchronous to the clock
set_false_path -from [get_ports { btn0 uart_rx }]
set_false_path -to [get_ports { uart_tx led[*] }]
