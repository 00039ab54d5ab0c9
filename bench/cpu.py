"""CPU time per request, in this process: ``python -m bench.cpu PATH [PATH...]``.

Calls the WSGI apps directly (no HTTP, no gunicorn, no test client) with the environ a
cookie-less client such as wrk sends, and prints the process CPU time per request of the
hello app and of each PATH on the marketplace (against the bench database and Redis, like
``bench.profile_page``), with their ratio. On a machine whose cores are shared with other work
the wrk figures of ``bench.run`` swing with the neighbours; CPU time per request does not, so
this is the figure to steer by while working on a page, and ``bench.run`` the one to report.

The ratio here is not the benchmark's ratio: under gunicorn both apps also pay for HTTP
parsing, the socket and wrk itself, which narrows the gap.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from bench.catalog import BenchEnv

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """What gunicorn hands the app for ``GET path`` from a client that sends no cookies."""
    path_info, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path_info,
        "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def cpu_per_request(app: WSGIApp, path: str, count: int,
                    headers: dict[str, str] | None = None) -> tuple[float, int, list[str]]:
    """(CPU microseconds per request, the last status, the last response's header names)."""
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        answer["status"], answer["headers"] = int(status.split()[0]), response_headers

    def one() -> None:
        body = app(environ(path, headers), start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close:
            close()

    for _ in range(max(count // 10, 20)):
        one()
    started = time.process_time()
    for _ in range(count):
        one()
    elapsed = time.process_time() - started
    return elapsed / count * 1e6, answer["status"], [name for name, _ in answer["headers"]]


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--requests", "count", type=click.IntRange(min=1), default=3000,
              show_default=True)
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
              help="A request header (repeatable), e.g. Accept-Language=de.")
@click.option("--search-backend", type=click.Choice(["whoosh", "postgres"]), default="whoosh",
              show_default=True)
def main(paths: tuple[str, ...], count: int, headers: tuple[str, ...],
         search_backend: str) -> None:
    """CPU time per request of PATHs on the marketplace, against the hello app."""
    from bench.hello import app as hello
    from marketplace import create_app

    env = BenchEnv.from_environ(search_backend=search_backend)
    env.apply()
    app = create_app()
    extra = dict(header.split("=", 1) for header in headers)
    baseline, _, _ = cpu_per_request(hello, "/", count)
    click.echo(f"{'hello /':<60} {baseline:8.1f} us/req  1.00")
    for path in paths:
        spent, status, names = cpu_per_request(app, path, count, extra)
        click.echo(f"{path[:60]:<60} {spent:8.1f} us/req  {spent / baseline:.2f}x  "
                   f"{status}  headers: {', '.join(names)}")


if __name__ == "__main__":
    main()
