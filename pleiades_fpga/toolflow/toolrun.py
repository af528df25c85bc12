"""Run an external tool (Yosys, nextpnr, ecppack) as a child process with a progress spinner.

Tools are found by :mod:`pleiades_fpga.toolflow.locate`. The tool's output goes to a log file; a tqdm spinner
shows the elapsed time and the last log line.
Ctrl-C (KeyboardInterrupt) and SIGTERM (:func:`sigterm_interrupts`) kill the child's process group before
re-raising, so no tool is left running after the command ends.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from pleiades_fpga.errors import PleiadesError


class ToolError(PleiadesError):
    """An external tool failed; the message names the tool, its exit code and the log file."""


def _tail(path: Path, n: int = 1) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return []
    return [ln for ln in lines if ln.strip()][-n:]


def yowasp_mounts(dirs: list[Path | str]) -> str:
    """``YOWASP_MOUNT`` value that maps each directory to itself (nested ones dropped).

    YoWASP tools run in a WebAssembly sandbox; by default they see the root subdirectories, but
    cannot write into sticky world-writable ones such as /tmp. Explicit mounts fix that.
    """
    resolved = sorted({Path(d).resolve() for d in dirs}, key=lambda p: len(p.parts))
    keep: list[Path] = []
    for d in resolved:
        if any(k == d or k in d.parents for k in keep):
            continue
        if any(ch in str(d) for ch in ":="):
            raise PleiadesError(f"directory {d} contains ':' or '=', which the YoWASP tools cannot mount")
        keep.append(d)
    return ":".join(f"{d}={d}" for d in keep)


@contextlib.contextmanager
def sigterm_interrupts():
    """While inside (also as a decorator): SIGTERM raises KeyboardInterrupt in the main thread, so the cleanup
    written for Ctrl-C (stopping child processes, removing temporary files) also runs when the command is
    terminated (``kill``, ``timeout``); the earlier handler is restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL, wait: float = 10.0) -> None:
    """Stop a child started with ``start_new_session=True`` and everything it started (its process group):
    ``sig``, then SIGKILL when it has not ended within ``wait`` seconds."""
    for s in dict.fromkeys((sig, signal.SIGKILL)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, s)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(s)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass


@sigterm_interrupts()
def run_tool(cmd: list[str], log: Path, desc: str, cwd: Path | None = None,
             progress: bool = True, timeout: float | None = None,
             mounts: list[Path | str] | None = None, watch: Path | None = None,
             cancel: threading.Event | None = None) -> float:
    """Run ``cmd`` with stdout+stderr to ``log``; return the wall time in seconds.

    ``mounts``: directories a YoWASP tool must read or write (see :func:`yowasp_mounts`); ``watch``: the
    file whose last line the spinner shows (default ``log``; e.g. the tool's own log file).
    Shows a tqdm spinner with the last log line when ``progress``; raises :class:`ToolError` on a
    non-zero exit (with the log's last lines) and kills the child on Ctrl-C, after ``timeout`` s or once ``cancel``
    is set (a caller running tools in threads: Ctrl-C reaches only its main thread).
    """
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = None
    if mounts:
        env = dict(os.environ, YOWASP_MOUNT=yowasp_mounts(mounts))
    start = time.time()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True)
        bar = tqdm(desc=desc, bar_format="{desc}: {elapsed} {postfix}", disable=not progress,
                   file=sys.stderr, leave=True)
        every = 0.5 if sys.stderr.isatty() else 15.0   # keep non-interactive logs short
        shown = start
        try:
            while True:
                try:
                    proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    now = time.time()
                    if cancel is not None and cancel.is_set():
                        kill_group(proc)
                        raise ToolError(f"{desc}: cancelled; log in {log}")
                    if timeout is not None and now - start > timeout:
                        kill_group(proc)
                        raise ToolError(f"{desc}: {cmd[0]} exceeded {timeout:.0f} s; log in {log}")
                    if now - shown >= every:
                        shown = now
                        last = _tail(watch or log)
                        if last:
                            bar.set_postfix_str(last[0][:70], refresh=False)
                        bar.refresh()
        except BaseException:
            kill_group(proc)
            raise
        finally:
            bar.close()
    elapsed = time.time() - start
    if proc.returncode != 0:
        tail = "\n".join(_tail(log, 15))
        raise ToolError(f"{desc} failed ({Path(cmd[0]).name} exit code {proc.returncode}); log {log}:\n{tail}")
    return elapsed


__all__ = ["ToolError", "kill_group", "run_tool", "sigterm_interrupts", "yowasp_mounts"]
