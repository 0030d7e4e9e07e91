"""One pooled HTTP session per account and process: calls reuse connections."""

import logging
import os
import socket
import ssl
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import urllib3

from centrapay import client as client_module
from centrapay.client import CentrapayClient, shared_session
from centrapay.errors import CentrapayUnknownOutcome


def api_connections(control):
    return [c["connection"] for c in control.calls() if c["path"].startswith("/api")]


def make_client(sandbox, api_key=None):
    key = api_key or sandbox.api_key
    return CentrapayClient(
        sandbox.base_url, key, session=shared_session(sandbox.base_url, key)
    )


def create_request(client, sandbox, external_ref):
    """A NZD 2.00 request of the sandbox's merchant config."""
    return client.create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal("2.00"),
        currency="NZD",
        external_ref=external_ref,
    )


def test_clients_of_one_account_reuse_one_connection(sandbox, control):
    created = create_request(make_client(sandbox), sandbox, "pool-1")
    # A client per call, as Odoo makes them: each call still reuses the first
    # call's connection.
    for _ in range(4):
        with make_client(sandbox) as client:
            client.get_payment_request(created["id"])
    connections = api_connections(control)
    assert len(connections) == 5
    assert len(set(connections)) == 1, connections


def test_the_shared_session_is_per_account(sandbox):
    first = shared_session(sandbox.base_url, sandbox.api_key)
    assert shared_session(sandbox.base_url + "/", sandbox.api_key) is first
    assert shared_session(sandbox.base_url, sandbox.api_key + "x") is not first


def test_threads_share_the_pool_without_a_connection_per_call(sandbox, control):
    created = create_request(make_client(sandbox), sandbox, "pool-threads")
    errors = []

    def reads():
        try:
            for _ in range(5):
                make_client(sandbox).get_payment_request(created["id"])
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=reads) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    connections = api_connections(control)
    assert len(connections) == 31
    # At most one connection per thread at once (plus the create's, reused).
    assert len(set(connections)) <= 6, sorted(set(connections))


def test_a_forked_child_opens_its_own_connections(sandbox):
    shared_session(sandbox.base_url, sandbox.api_key)
    assert client_module._shared_sessions
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it inherited the parent's sessions
        os.write(write_end, b"1" if client_module._shared_sessions else b"0")
        os._exit(0)
    os.close(write_end)
    inherited = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert inherited == b"0"


TLS = Path(__file__).parent / "tls"


@pytest.fixture(autouse=True)
def _no_warm_pool_left():
    """Each test's warm pools end with it (the keepers' threads stop)."""
    yield
    for entry in list(client_module._warming.values()):
        entry["until"] = 0


def open_connections(client):
    """The connections of the client's pool that are open, as taken next."""
    pool = client._connection_pool()
    return [c for c in list(pool.pool.queue) if getattr(c, "sock", None) is not None]


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_a_pool_kept_warm_serves_calls_at_once_without_a_handshake(sandbox, control):
    client = make_client(sandbox)
    created = create_request(client, sandbox, "pool-warm")
    control.clear_calls()
    # Each call waits, so that the three are served at the same time.
    control.add_fault(method="GET", kind="latency", seconds=0.3, times=3)
    client.keep_warm(3, seconds=0.5)
    wait_for(lambda: len(open_connections(client)) == 3)
    # Its thread done, the calls below have the pool to themselves.
    wait_for(lambda: client._connection_pool() not in client_module._warming)
    # TCP connections, no HTTP request: Centrapay counts no call.
    assert api_connections(control) == []
    opened_before = sandbox._httpd.connections_accepted
    warm = {id(c): c.sock for c in open_connections(client)}
    barrier = threading.Barrier(3)

    def read():
        barrier.wait(5)
        make_client(sandbox).get_payment_request(created["id"])

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Three calls at once, on connections opened before them (the sandbox
    # numbers connections as it accepts them), the three kept warm.
    used = set(api_connections(control))
    assert len(used) == 3
    assert max(used) <= opened_before
    assert {id(c): c.sock for c in open_connections(client)} == warm


def test_a_warm_connection_the_server_closed_is_opened_again(sandbox):
    client = make_client(sandbox)
    client.keep_warm(2, seconds=5)
    wait_for(lambda: len(open_connections(client)) == 2)
    before = {c.sock for c in open_connections(client)}
    sandbox._httpd.close_connections()  # as a server closes idle keep-alives
    wait_for(
        lambda: (
            len(open_connections(client)) == 2
            and not before & {c.sock for c in open_connections(client)}
        )
    )


def test_keeping_warm_ends_with_its_time(sandbox):
    client = make_client(sandbox)
    client.keep_warm(1, seconds=0.2)
    wait_for(lambda: len(open_connections(client)) == 1)
    wait_for(lambda: client._connection_pool() not in client_module._warming)
    before = {c.sock for c in open_connections(client)}
    sandbox._httpd.close_connections()
    time.sleep(2 * client_module.WARM_CHECK_SECONDS)
    # Nothing opened it again: the closed connection is still the one on top.
    assert {c.sock for c in open_connections(client)} == before


def test_at_least_never_lowers_the_count_nor_shortens_the_time(sandbox):
    client = make_client(sandbox)
    pool = client._connection_pool()
    client.keep_warm(3, seconds=5)
    until = client_module._warming[pool]["until"]
    # A till's RPC asks for at least one: the engine's three are kept.
    client.keep_warm(1, seconds=0.1, at_least=True)
    assert client_module._warming[pool]["count"] == 3
    assert client_module._warming[pool]["until"] >= until
    client.keep_warm(4, seconds=5, at_least=True)
    assert client_module._warming[pool]["count"] == 4
    # The engine's own renewal sets the count (a till closed).
    client.keep_warm(2, seconds=0.1)
    assert client_module._warming[pool]["count"] == 2
    wait_for(lambda: pool not in client_module._warming)


def test_a_renewal_as_the_time_runs_out_is_not_lost(sandbox):
    client = make_client(sandbox)
    pool = client._connection_pool()
    client.keep_warm(1, seconds=5)
    ending = client_module._warming[pool]
    # Its time is up: its thread may be past its last look, about to remove
    # it. A renewal now gets an entry and a thread of its own.
    ending["until"] = 0
    client.keep_warm(1, seconds=5, at_least=True)
    assert client_module._warming[pool] is not ending
    time.sleep(2 * client_module.WARM_CHECK_SECONDS)
    assert pool in client_module._warming
    client_module._warming[pool]["until"] = 0
    wait_for(lambda: pool not in client_module._warming)


def test_a_warm_connection_is_opened_again_before_a_servers_idle_timeout(
    sandbox, monkeypatch
):
    monkeypatch.setattr(client_module, "WARM_MAX_AGE_SECONDS", 0.3)
    client = make_client(sandbox)
    client.keep_warm(1, seconds=5)
    wait_for(lambda: len(open_connections(client)) == 1)
    first = open_connections(client)[0].sock
    # The server never closed it: it is replaced for its age alone.
    wait_for(lambda: open_connections(client) and open_connections(client)[0].sock
             is not first)  # fmt: skip


def test_a_call_while_the_keeper_looks_takes_a_warm_connection(
    sandbox, control, monkeypatch
):
    client = make_client(sandbox)
    created = create_request(client, sandbox, "pool-look")
    client.keep_warm(2, seconds=5)
    wait_for(lambda: len(open_connections(client)) == 2)
    opened_before = sandbox._httpd.connections_accepted
    looking, go_on = threading.Event(), threading.Event()
    probe = client_module._idle_and_open

    def slow_probe(conn):
        # The keeper's look at a connection, slowed as a busy server's
        # threads slow it: a call comes meanwhile.
        if not looking.is_set():
            looking.set()
            go_on.wait(5)
        return probe(conn)

    monkeypatch.setattr(client_module, "_idle_and_open", slow_probe)
    wait_for(looking.is_set)
    control.clear_calls()
    reader = threading.Thread(
        target=lambda: make_client(sandbox).get_payment_request(created["id"])
    )
    reader.start()
    time.sleep(0.2)
    go_on.set()
    reader.join(10)
    # It waited for the look, then took a connection kept warm: none opened.
    assert api_connections(control) and max(api_connections(control)) <= opened_before


def test_an_old_connection_serves_until_its_successor_is_open(sandbox, monkeypatch):
    client = make_client(sandbox)
    client.keep_warm(1, seconds=5)
    wait_for(lambda: len(open_connections(client)) == 1)
    first = open_connections(client)[0].sock
    opening, go_on = threading.Event(), threading.Event()
    connect = urllib3.connection.HTTPConnection.connect

    def slow_connect(conn):
        # The successor's handshakes take their round trips.
        opening.set()
        go_on.wait(5)
        return connect(conn)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", slow_connect)
    monkeypatch.setattr(client_module, "WARM_MAX_AGE_SECONDS", 0.0)
    wait_for(opening.is_set)
    # Replaced for its age: until its successor is open, a call still finds it.
    assert [c.sock for c in open_connections(client)] == [first]
    go_on.set()
    wait_for(
        lambda: (
            len(open_connections(client)) == 1
            and open_connections(client)[0].sock is not first
        )
    )


def test_an_unreachable_centrapay_is_said_once_and_tried_less_often(caplog):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = CentrapayClient(url, "key", session=shared_session(url, "key"))
    with caplog.at_level(logging.INFO):
        client.keep_warm(4, seconds=3.5)
        pool = client._connection_pool()
        wait_for(lambda: pool not in client_module._warming, seconds=10)
    said = [r for r in caplog.records if f":{port} ahead of calls" in r.getMessage()]
    # One line for the outage (four connections), not four every second.
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "4 connection(s)" in said[0].getMessage()


class TlsServer:
    """A TLS 1.3 server on 127.0.0.1 that keeps every connection open and
    records what comes on it (the post-handshake session tickets it sends by
    default are what a warm connection must take in)."""

    def __init__(self, name):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(TLS / f"{name}.crt", TLS / f"{name}.key")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted, self.received = 0, b""
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                raw, _address = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._hold, args=(raw,), daemon=True).start()

    def _hold(self, raw):
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                while data := conn.recv(4096):
                    self.received += data
        except OSError:
            return

    def close(self):
        self.listener.close()


def tls_client(server, monkeypatch, trusted):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS / f"{trusted}.crt"))
    url = f"https://127.0.0.1:{server.port}"
    return CentrapayClient(url, "tls-key", session=shared_session(url, "tls-key"))


def test_a_tls_connection_kept_warm_stays_open_and_ready(monkeypatch):
    server = TlsServer("localhost")
    try:
        client = tls_client(server, monkeypatch, "localhost")
        client.keep_warm(2, seconds=5)
        wait_for(lambda: len(open_connections(client)) == 2)
        first = {c.sock for c in open_connections(client)}
        time.sleep(3 * client_module.WARM_CHECK_SECONDS)
        # Not opened again at each check (the tickets read as "dropped" to
        # urllib3), and a call would take them as they are.
        assert server.accepted == 2
        assert {c.sock for c in open_connections(client)} == first
        assert not any(
            urllib3.util.connection.is_connection_dropped(c)
            for c in open_connections(client)
        )
    finally:
        server.close()


def test_a_server_with_a_certificate_for_another_name_never_gets_the_key(
    monkeypatch,
):
    server = TlsServer("other")
    try:
        client = tls_client(server, monkeypatch, "other")
        client.keep_warm(1, seconds=5)
        wait_for(lambda: server.accepted >= 1)
        time.sleep(client_module.WARM_CHECK_SECONDS)
        assert open_connections(client) == []
        with pytest.raises(CentrapayUnknownOutcome):
            client.get_payment_request("pr-1")
        assert b"tls-key" not in server.received
    finally:
        server.close()
