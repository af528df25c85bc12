"""Command-line entry point: ``pleiades-fpga <command> ...``.

Each subcommand lives in ``pleiades_fpga.commands.<name>`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import pleiades_fpga.commands as _commands
from pleiades_fpga.errors import PleiadesError


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (PleiadesError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
