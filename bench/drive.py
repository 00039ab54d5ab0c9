"""Serving an app with gunicorn and driving it with wrk on loopback; sampling it with py-spy.

The benchmark's machinery (``bench.run`` says what is measured and judged): every run is
bounded in time, every server is on 127.0.0.1 and is stopped when its block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from bench.catalog import ROOT, WORK_DIR

LUA_REPORT = Path(__file__).resolve().parent / "report.lua"


# --- gunicorn -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gunicorn:
    """The settings both apps are served with."""

    workers: int = 3
    worker_class: str = "sync"
    threads: int = 1

    def command(self, app: str, port: int) -> list[str]:
        command = [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
                   "--worker-class", self.worker_class, "--bind", f"127.0.0.1:{port}",
                   "--log-level", "warning"]
        if self.worker_class == "gthread":
            command += ["--threads", str(self.threads)]
        return [*command, app]

    def describe(self) -> str:
        threads = f", {self.threads} threads each" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def serve(settings: Gunicorn, app: str, environ: dict[str, str], ready_path: str,
          log_name: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run gunicorn on a free loopback port until the block ends; yields (base URL, process).

    Raises ClickException when it does not answer ``ready_path`` with 200 within a minute.
    """
    port = free_port()
    log_path = WORK_DIR / f"{log_name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(settings.command(app, port), cwd=ROOT, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise click.ClickException(f"gunicorn for {app} exited; see {log_path}")
            with contextlib.suppress(OSError):
                if http_get(base + ready_path, timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise click.ClickException(f"{app} did not answer {ready_path}; see {log_path}")
            time.sleep(0.3)
        yield base, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- wrk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    threads: int = 1
    connections: int = 8
    seconds: int = 12
    warmup: int = 3


@dataclass
class Measurement:
    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int]
    # Distinct URLs taken in turn (0: the one URL); fewer than requests means some repeated.
    paths: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, load: Load, seconds: int, paths: list[str] | None = None,
        name: str = "page") -> Measurement:
    """One wrk run against ``url`` (or ``paths`` in turn, on ``url``'s server)."""
    environ = dict(os.environ, BENCH_PATHS="")
    if paths:
        paths_file = WORK_DIR / f"paths-{name}.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        environ["BENCH_PATHS"] = str(paths_file)
    command = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s",
               "--timeout", "10s", "--latency", "-s", str(LUA_REPORT), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            env=environ).stdout
    match = re.search(r"^BENCH_JSON (.*)$", output, re.MULTILINE)
    if match is None:
        raise click.ClickException(f"wrk printed no figures:\n{output}")
    figures = json.loads(match.group(1))
    return Measurement(
        requests=figures["requests"], seconds=figures["duration_us"] / 1e6,
        bytes=figures["bytes"], p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000, p99_ms=figures["p99_us"] / 1000,
        errors={key: figures[key] for key in ("connect_errors", "read_errors", "write_errors",
                                              "status_errors", "timeouts") if figures[key]},
        paths=figures["paths"],
    )


# --- Profiling (optional) --------------------------------------------------------------------


def py_spy_profiler(pid: int, page: str, summary: list[str],
                    ) -> Callable[[], contextlib.AbstractContextManager]:
    """py-spy sampling every gunicorn worker (waits included) while a page is measured (the
    figures drop a little while it samples). The collapsed stacks go to
    bench/.work/profiles/<page>.txt (flamegraph.pl and speedscope read them); a summary of
    where requests spend their time is appended to ``summary``."""

    @contextlib.contextmanager
    def profiling() -> Iterator[None]:
        binary = os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")
        if binary is None:
            raise click.ClickException("--profile needs py-spy on PATH (or BENCH_PY_SPY)")
        out = WORK_DIR / "profiles" / f"{page}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen([binary, "record", "--pid", str(pid), "--subprocesses",
                                "--idle", "--rate", "250", "--format", "raw",
                                "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            summary.extend(summarise_stacks(out))

    return profiling


def _frame(frame: str) -> str:
    """``Flask.wsgi_app (flask/app.py:1511)`` -> ``Flask.wsgi_app (flask/app.py)``."""
    return re.sub(r":\d+\)$", ")", frame)


def summarise_stacks(path: Path, top: int = 14) -> list[str]:
    """Where the workers' time inside ``handle_request`` goes, from py-spy's collapsed stacks:
    functions by inclusive share (wrappers that hold nearly all of it left out), then the
    innermost frames (self time, including waits on sockets)."""
    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    total = handling = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ")]
        total += samples
        start = next((i for i, f in enumerate(frames) if ".handle_request (" in f), None)
        if start is None:
            continue
        handling += samples
        inside = frames[start + 1:]
        for frame in set(inside):
            inclusive[frame] += samples
        if inside:
            innermost[inside[-1]] += samples
    if not handling:
        return [f"    {path.name}: no samples inside a request"]
    lines = [f"    {path.name}: {total:,} samples over the workers, {handling / total:.0%} of "
             "them handling a request (the rest waiting for one); shares of request time:"]
    shown = [(f, n) for f, n in inclusive.most_common() if n / handling < 0.97][:top]
    lines += [f"      {n / handling:6.1%}  {f}" for f, n in shown]
    lines.append("    innermost frames (self time, waits included):")
    lines += [f"      {n / handling:6.1%}  {f}" for f, n in innermost.most_common(top // 2)]
    return lines
