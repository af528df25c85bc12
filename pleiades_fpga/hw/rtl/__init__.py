"""Streaming RTL backend: Verilog templates and block library (``templates/*.v``), the Verilog emitter
(``verilog``), ROMs and layer wrappers (``rom``), cycle models, lint helpers."""
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def template_path(module: str) -> Path:
    """Path of the hand-written template ``templates/<module>.v``."""
    path = TEMPLATES_DIR / f"{module}.v"
    if not path.is_file():
        from pleiades_fpga.errors import PleiadesError

        known = ", ".join(sorted(p.stem for p in TEMPLATES_DIR.glob("*.v")))
        raise PleiadesError(f"no RTL template named {module!r} in {TEMPLATES_DIR}; known templates: {known}")
    return path


__all__ = ["TEMPLATES_DIR", "template_path"]
