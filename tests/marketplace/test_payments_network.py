"""The suite runs with loopback-only sockets (tests/conftest.py): nothing reaches the network,
so no test can talk to the real Stripe even by mistake."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.network import NetworkBlocked, is_loopback


@pytest.mark.parametrize("address", [("192.0.2.1", 443), ("203.0.113.7", 443)])
def test_an_ipv4_connection_off_this_machine_raises(address):
    with pytest.raises(NetworkBlocked) as blocked:
        socket.create_connection(address, timeout=1)

    assert str(blocked.value) == f"tests may only connect to loopback, not {address!r}"


def test_an_ipv6_connection_off_this_machine_raises():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkBlocked):
            sock.connect(("2001:db8::1", 443, 0, 0))
        with pytest.raises(NetworkBlocked):
            sock.connect_ex(("2001:db8::1", 443, 0, 0))


def test_a_name_is_not_resolved_behind_the_guards_back():
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("api.stripe.com", 443))


def test_loopback_connections_still_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.close()


@pytest.mark.parametrize("address, expected", [
    (("127.0.0.1", 80), True), (("127.8.9.10", 80), True), (("::1", 80, 0, 0), True),
    (("::ffff:127.0.0.1", 80, 0, 0), True), (("localhost", 80), True), ("/tmp/socket", True),
    (("10.0.0.1", 80), False), (("::ffff:8.8.8.8", 80, 0, 0), False), (("example.com", 80), False),
])
def test_what_counts_as_loopback(address, expected):
    assert is_loopback(address) is expected
