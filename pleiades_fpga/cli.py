"""Command-line entry point: ``pleiades-fpga <command> ...``.

Each subcommand lives in ``pleiades_fpga.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).

The one error path (:func:`main`): a :class:`PleiadesError` (bad input, with the fix in its message), an
``OSError`` (a file-system problem: missing path, permissions, disk full) or a ``MemoryError`` prints
``error: ...`` without a traceback and exits 2; Ctrl-C exits 130; any other exception is a bug: a short
message, and the full traceback is saved to a file under ``$PLEIADES_CRASH_DIR`` (default
``~/.cache/pleiades-fpga/crash``), exit 1. Option values are range-checked by argparse (``pleiades_fpga.argtypes``),
which exits 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import pleiades_fpga.commands as _commands
from pleiades_fpga.errors import PleiadesError

EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
CRASH_DIR_ENV = "PLEIADES_CRASH_DIR"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pleiades-fpga",
        description="PLEIADES temporal-kernel networks: train, quantize, export, generate RTL, verify, report.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"pleiades_fpga.commands.{info.name}")
        module.register(sub)
    return parser


def crash_dir() -> Path:
    """Where full tracebacks of unexpected exceptions are saved: ``$PLEIADES_CRASH_DIR`` or
    ``~/.cache/pleiades-fpga/crash``."""
    return Path(os.environ.get(CRASH_DIR_ENV) or Path.home() / ".cache" / "pleiades-fpga" / "crash")


def save_crash_report(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the command line and the traceback of ``exc`` to a new file in :func:`crash_dir`; its path,
    or None when it cannot be written."""
    try:
        directory = crash_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        text = "pleiades-fpga " + " ".join(argv) + "\n\n" + "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        path.write_text(text)
        return path
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # argument conversion too: an option converter may raise anything
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USER_ERROR
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PleiadesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        print(f"error: {exc} (check the path, its permissions and the free disk space)", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        print("error: out of memory; ask for less (fewer clips or frames, a larger bin size, a lower resolution)",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: short message, traceback to a file
        saved = save_crash_report(exc, argv)
        where = f"full traceback saved to {saved}" if saved else "the traceback could not be saved"
        print(f"internal error: {type(exc).__name__}: {exc}\nthis is a bug in pleiades-fpga; {where} "
              "(please include it in a bug report)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
