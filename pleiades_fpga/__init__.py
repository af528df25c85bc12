"""pleiades-fpga: hardware co-design flow for PLEIADES temporal-kernel networks."""
__version__ = "0.1.0"
