"""Loopback only: the test suite may not open a connection to any other address.

:func:`block_non_loopback` replaces ``socket.socket.connect`` / ``connect_ex`` for the
session (``tests/conftest.py`` does it, autouse), so a test that would reach the real Stripe,
a mail server or anything else on the network fails at once with :class:`NetworkBlocked`
instead of silently talking to the outside world. Unix sockets and loopback addresses
(127.0.0.0/8, ::1, ``localhost``) pass: PostgreSQL, Redis and the fake Stripe live there.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any


class NetworkBlocked(RuntimeError):
    """A test tried to connect somewhere other than this machine."""


def is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths (str/bytes) and abstract sockets stay on this machine
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False  # a name other than localhost would need a lookup: not loopback
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@contextlib.contextmanager
def block_non_loopback() -> Iterator[None]:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guard(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            raise NetworkBlocked(f"tests may only connect to loopback, not {address!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        guard(sock, address)
        return original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        guard(sock, address)
        return original_connect_ex(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
