"""CLI subcommands, one module each (see pleiades_fpga.cli)."""
