## PYNQ-Z2 (xc7z020clg400-1): pins used by the pleiades-fpga board wrapper (pynq_z2_top.v).
## Pin sites from the board's master XDC (TUL PYNQ-Z2 v1.0).
## A USB-UART adapter (3.3 V) on Pmod JA: JA1 = uart_rx (host -> FPGA), JA2 = uart_tx (FPGA -> host).

## 125 MHz system clock
set_property -dict { PACKAGE_PIN H16 IOSTANDARD LVCMOS33 } [get_ports { sysclk }]
create_clock -add -name sys_clk_pin -period 8.000 -waveform {0 4} [get_ports { sysclk }]

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
