"""Streaming RTL backend: Verilog templates and block library (``templates/*.v``), simulation models of the vendor
cells they instantiate (``sim_models/*.v``), the Verilog emitter
(``verilog``), ROMs and layer wrappers (``rom``), cycle models, lint helpers."""
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# simulation models of vendor cells the templates instantiate (absent under SYNTHESIS: synthesis maps the real cell)
SIM_MODELS_DIR = Path(__file__).resolve().parent / "sim_models"


def template_path(module: str) -> Path:
    """Path of the hand-written template ``templates/<module>.v``."""
    path = TEMPLATES_DIR / f"{module}.v"
    if not path.is_file():
        from pleiades_fpga.errors import PleiadesError

        known = ", ".join(sorted(p.stem for p in TEMPLATES_DIR.glob("*.v")))
        raise PleiadesError(f"no RTL template named {module!r} in {TEMPLATES_DIR}; known templates: {known}")
    return path


__all__ = ["SIM_MODELS_DIR", "TEMPLATES_DIR", "template_path"]
