"""sluice.Client: a connection to one sluiced broker over the native protocol.

    client = sluice.Client("127.0.0.1:7400")
    r = client.enqueue("jobs", b"hello", priority=2)
    [task] = client.lease("jobs", wait_ms=1000)
    client.ack(task.token)

Threads: every method is thread-safe and may be called from any number of
threads at once. Requests are pipelined on the one TCP connection with
request ids and their responses matched out of order, so a long-polled lease
never blocks other calls. One background reader thread per connection reads
responses and completes the callers' waits; a caller's thread writes its own
request (under a lock). ``client.futures`` is a view whose methods send
without waiting and return ``concurrent.futures.Future`` objects, for
pipelining from one thread; their callbacks run on the reader thread and must
not call a blocking method of the same client.

Errors are exceptions (sluice.errors): the broker's status codes one to one,
and for client-side failures, as the C++ client (client/client.h):
Unavailable (not connected, connection lost, timed out, closed; a request
written before the connection dropped may or may not have been applied),
ProtocolError (the peer is not a sluice broker, an undecodable frame),
InvalidArgument (a request over the broker's max frame size, a bad value).

TLS (docs/security.md): ``tls=True`` with ``ca_file`` (the CA that signed
the broker's certificate; None: the system's trust store) and, for a broker
with mTLS, ``cert_file`` and ``key_file``; or ``tls=`` an ssl.SSLContext of
your own. The broker's certificate must name the host connected to (or
``server_hostname``). A failed handshake is Unavailable with the reason.

Reconnect: when the connection drops, every request in flight fails with
Unavailable. The next request reconnects (and says Hello again); attempts are
spaced with exponential backoff from 50 ms doubling up to 2 s; a request
waiting for the connection fails with Unavailable when its timeout passes,
and at once with Unauthenticated or ProtocolError when the broker refuses
the client (retrying cannot help then).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import socket
import ssl
import threading
import time
import weakref
from typing import Any, Optional

from . import _codec as C
from . import _tls
from ._api import Req, RequestMethods, parse_address
from ._reconnect import Reconnect
from .errors import InvalidArgument, ProtocolError, SluiceError, Unavailable, error_for_code
from .types import ServerInfo
from .wire.fb.Body import Body

_READ_CHUNK = 256 << 10
#: Bytes of a non-sluice answer to hello shown in the error.
_HELLO_ANSWER_SHOWN = 48
#: How often the reader thread looks for requests past their deadline.
_SWEEP_S = 0.1


def not_sluice(endpoint: str, answer: bytes) -> ProtocolError:
    if answer[:1] in (b"\x15", b"\x16") and answer[1:2] == b"\x03":
        # A TLS record: a TLS terminator in front of sluiced (sluiced itself
        # answers a plaintext hello with a plaintext Error).
        return ProtocolError(
            f"the peer at {endpoint} speaks TLS and answered the plaintext hello with a TLS "
            "record; connect with tls=True and ca_file"
        )
    return ProtocolError(
        f"the peer at {endpoint} is not a sluice broker: it answered hello with "
        f"{bytes(answer[:_HELLO_ANSWER_SHOWN])!r}, not a sluice frame"
    )


def hello_answer(endpoint: str, body_type: int, rid: int, hello_id: int, table) -> ServerInfo:
    """The ServerInfo of the broker's answer to hello, or raises: the Error's
    code ("broker refused hello: ..."), or ProtocolError for anything but a
    HelloOk to our hello."""
    if body_type == Body.Error and table is not None:
        from .wire.fb.Error import Error

        e = Error()
        e.Init(table.Bytes, table.Pos)
        raise error_for_code(e.Code(), "broker refused hello: " + C._str(e.Message()))
    if rid != hello_id or body_type != Body.HelloOk or table is None:
        raise ProtocolError(
            f"the peer at {endpoint} answered hello with a {C.body_name(body_type)} frame "
            f"(request id {rid}), not HelloOk: not a sluice broker"
        )
    return C.parse_hello_ok(table)


class _Pending:
    """One request awaiting its response. ``done`` is held until the answer
    (a value or an exception) is in ``outcome``; ``callback`` (futures) runs
    on the thread that completes it."""

    __slots__ = ("req", "deadline", "done", "outcome", "callback", "finished")

    def __init__(self, req: Req, deadline: float, callback=None):
        self.req = req
        self.deadline = deadline
        self.done = threading.Lock()
        self.done.acquire()
        self.outcome: Any = None
        self.callback = callback
        self.finished = False

    def finish(self, outcome) -> None:
        # Called once per pending: whoever pops it from the connection's map.
        self.outcome = outcome
        self.finished = True
        self.done.release()
        if self.callback is not None:
            self.callback(outcome)


def _complete(req: Req, outcome):
    """The caller's value, or the exception to raise."""
    if isinstance(outcome, BaseException):
        return outcome
    if req.post is None:
        return outcome
    try:
        return req.post(outcome)
    except SluiceError as e:
        return e


class _Conn:
    """One TCP connection after a successful hello, and its reader thread."""

    def __init__(self, client: "Client", sock: socket.socket, reader: C.FrameReader):
        self.client = client
        self.sock = sock
        self.frames = reader
        self.lock = threading.Lock()  # pending, dead
        self.wlock = threading.Lock()  # one sendall at a time
        self.pending: dict[int, _Pending] = {}
        self.dead = False
        self.thread = threading.Thread(target=self._read_loop, name="sluice-reader", daemon=True)

    def send(self, rid: int, p: _Pending, frame: bytes) -> bool:
        """Registers and writes. False: the connection was already dead, the
        request was not written (the caller may go to another connection)."""
        with self.lock:
            if self.dead:
                return False
            self.pending[rid] = p
        try:
            with self.wlock:
                self.sock.sendall(frame)
        except OSError as e:
            self.fail(f"write failed: {e}")
        return True

    def forget(self, rid: int) -> Optional[_Pending]:
        with self.lock:
            return self.pending.pop(rid, None)

    def fail(self, reason: str) -> None:
        """Drops the connection; every request in flight fails Unavailable."""
        with self.lock:
            if self.dead:
                return
            self.dead = True
            lost = self.pending
            self.pending = {}
        self.client._lost(self, reason)
        # Shutdown wakes the reader's recv; the reader closes the socket as
        # it exits (holding wlock), so no thread ever uses a closed, maybe
        # reused, descriptor.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        msg = (
            "client closed"
            if reason == "client closed"
            else f"connection to broker {self.client._endpoint()} lost ({reason}); the request "
            "may or may not have been applied; the next call reconnects"
        )
        for p in lost.values():
            p.finish(Unavailable(msg))

    def _sweep(self) -> None:
        now = time.monotonic()
        with self.lock:
            late = [rid for rid, p in self.pending.items() if p.deadline <= now]
            expired = [self.pending.pop(rid) for rid in late]
        if expired:
            msg = (
                f"no response from broker {self.client._endpoint()} within the request "
                "timeout; the request may or may not have been applied"
            )
            for p in expired:
                p.finish(Unavailable(msg))

    def _read_loop(self) -> None:
        _sweeper.watch(self)
        try:
            while not self.dead:
                try:
                    data = self.sock.recv(_READ_CHUNK)
                except OSError as e:
                    self.fail(str(e))
                    return
                if not data:
                    self.fail("broker closed the connection")
                    return
                try:
                    self._on_bytes(data)
                except ProtocolError as e:
                    self.fail(f"undecodable frame from broker: {e.message}")
                    return
        finally:
            with self.wlock:
                self.sock.close()

    def _on_bytes(self, data: bytes) -> None:
        self.frames.feed(data)
        while True:
            buf = self.frames.next()
            if buf is None:
                return
            rid, body_type, table = C.decode_frame(buf)
            if rid == 0:
                msg = "(no message)"
                if body_type == Body.Error and table is not None:
                    msg = str(C.read_body(body_type, table, Body.Error, C.parse_empty))
                self.fail(f"broker reported a connection error: {msg}")
                return
            p = self.forget(rid)
            if p is None:
                continue  # timed out already
            p.finish(_complete(p.req, C.read_body(body_type, table, p.req.want, p.req.parse)))


class _Sweeper:
    """One daemon thread for every connection of the process: every 100 ms it
    fails the requests past their deadline (futures have no waiter to time
    them out). The readers block in recv meanwhile, one syscall per read."""

    def __init__(self):
        self._conns: "weakref.WeakSet[_Conn]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def watch(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.add(conn)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sluice-sweeper", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(_SWEEP_S)
            with self._lock:
                conns = [c for c in self._conns if not c.dead]
            for c in conns:
                c._sweep()


_sweeper = _Sweeper()


class Client(RequestMethods):
    """A connection to one broker. See the module docstring."""

    def __init__(
        self,
        address="127.0.0.1:7400",
        token: Optional[str] = None,
        *,
        client_name: str = "sluice-python",
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        reconnect_initial_backoff: float = 0.05,
        reconnect_max_backoff: float = 2.0,
        connect: bool = True,
        tls: "bool | ssl.SSLContext" = False,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        server_hostname: Optional[str] = None,
    ):
        """Connects and says Hello (one attempt, bounded by connect_timeout)
        unless ``connect`` is False (then the first call connects). Raises
        Unavailable (cannot connect, TLS handshake failed), Unauthenticated
        (token refused), ProtocolError (not a sluice broker, version refused),
        InvalidArgument (a TLS file that cannot be used).
        ``request_timeout`` (seconds) bounds each call from its start to its
        answer; a lease waits ``wait_ms`` on top. TLS: the module docstring."""
        self._host, self._port = parse_address(address)
        self._tls = _tls.resolve(tls, ca_file, cert_file, key_file)
        self._server_hostname = server_hostname
        self.token = token or ""
        self.client_name = client_name
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.reconnect_initial_backoff = reconnect_initial_backoff
        self.reconnect_max_backoff = reconnect_max_backoff
        self._ids = itertools.count(1)
        self._mu = threading.Lock()  # _conn, _closed, _info, address
        self._connect_lock = threading.Lock()  # one connect attempt at a time
        self._conn: Optional[_Conn] = None
        self._closed = False
        self._info = ServerInfo()
        self._reconnect = Reconnect(reconnect_initial_backoff, reconnect_max_backoff)
        self.futures = _FuturesView(self)
        if connect:
            conn = self._connect_once(time.monotonic() + connect_timeout)
            with self._mu:
                self._conn = conn

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Closes the connection; outstanding requests fail with Unavailable
        ("client closed"), later calls too. Idempotent."""
        with self._mu:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail("client closed")
            if conn.thread is not threading.current_thread():
                conn.thread.join(timeout=5)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def connected(self) -> bool:
        """True while the connection is up (a hint: it may drop right after)."""
        c = self._conn
        return c is not None and not c.dead

    @property
    def server_info(self) -> ServerInfo:
        """What the broker said in its last HelloOk."""
        return self._info

    @property
    def address(self) -> str:
        return self._endpoint()

    def set_address(self, address) -> None:
        """Points later connects at another address (the broker came back on
        another port). The current connection, if any, stays until it drops."""
        host, port = parse_address(address)
        with self._mu:
            self._host, self._port = host, port

    def _endpoint(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    # ------------------------------------------------------------ connecting

    def _connect_once(self, deadline: float) -> _Conn:
        """One TCP connect + Hello, bounded by connect_timeout and deadline."""
        endpoint = self._endpoint()
        timeout = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
        try:
            sock = socket.create_connection((self._host, self._port), timeout=timeout)
        except socket.timeout:
            raise Unavailable(
                f"connecting to {endpoint} timed out after {int(timeout * 1000)} ms"
            ) from None
        except OSError as e:
            raise Unavailable(f"cannot connect to {endpoint}: {e.strerror or e}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._start_tls(sock, endpoint, timeout)
            hello_id = next(self._ids)
            sock.sendall(C.encode_hello(hello_id, self.client_name, self.token))
            reader = C.FrameReader()
            answer = bytearray()
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        f"connecting to {endpoint} timed out after {int(timeout * 1000)} ms "
                        "(no answer to hello)"
                    )
                sock.settimeout(left)
                try:
                    data = sock.recv(_READ_CHUNK)
                except socket.timeout:
                    continue
                except OSError as e:
                    data = b""
                    if not answer:
                        raise Unavailable(f"hello to {endpoint} got no answer: {e}") from None
                if not data:
                    if answer:
                        raise not_sluice(endpoint, answer)
                    raise Unavailable(
                        f"hello to {endpoint} got no answer: broker closed the connection"
                    )
                if len(answer) < _HELLO_ANSWER_SHOWN:
                    answer += data[: _HELLO_ANSWER_SHOWN - len(answer)]
                try:
                    reader.feed(data)
                    buf = reader.next()
                    if buf is None:
                        continue
                    rid, body_type, table = C.decode_frame(buf)
                except ProtocolError:
                    raise not_sluice(endpoint, answer) from None
                info = hello_answer(endpoint, body_type, rid, hello_id, table)
                break
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        reader.max_frame_bytes = C.MAX_FRAME_BYTES_CEILING
        conn = _Conn(self, sock, reader)
        self._info = info
        # Frames that came with the HelloOk (none today) are read by the thread.
        conn.thread.start()
        return conn

    def _start_tls(self, sock: socket.socket, endpoint: str, timeout: float) -> _tls.TlsSocket:
        """The TLS handshake on the connected ``sock``, bounded by ``timeout``."""
        tls = _tls.TlsSocket(sock, self._tls, self._server_hostname or self._host)
        sock.settimeout(timeout)
        try:
            tls.handshake()
        except socket.timeout:
            raise Unavailable(
                f"TLS handshake with {endpoint} timed out after {int(timeout * 1000)} ms"
            ) from None
        except (ssl.SSLError, OSError) as e:
            raise _tls.handshake_failed(endpoint, e) from None
        return tls

    def _get_conn(self, deadline: float) -> _Conn:
        """The live connection, connecting (with backoff) until deadline."""
        while True:
            with self._mu:
                if self._closed:
                    raise Unavailable("client is closed; create a new one")
                conn = self._conn
            if conn is not None and not conn.dead:
                return conn
            with self._connect_lock:
                with self._mu:
                    if self._closed:
                        raise Unavailable("client is closed; create a new one")
                    conn = self._conn
                if conn is not None and not conn.dead:
                    return conn
                now = time.monotonic()
                pause, give_up = self._reconnect.wait(now, deadline)
                if pause > 0:
                    time.sleep(pause)
                if give_up:
                    raise self._unreachable()
                try:
                    conn = self._connect_once(deadline)
                except Unavailable as e:
                    self._reconnect.failed(e.message)
                    if time.monotonic() >= deadline:
                        raise self._unreachable() from None
                    continue
                self._reconnect.succeeded()
                with self._mu:
                    if self._closed:
                        conn.fail("client closed")
                        raise Unavailable("client is closed; create a new one")
                    self._conn = conn
                return conn

    def _unreachable(self) -> Unavailable:
        return self._reconnect.unreachable(self._endpoint())

    def _lost(self, conn: _Conn, reason: str) -> None:
        with self._mu:
            if self._conn is conn:
                self._conn = None

    # ------------------------------------------------------------ requests

    def _send(self, req: Req, callback=None) -> tuple[_Conn, int, _Pending]:
        deadline = time.monotonic() + self.request_timeout + req.extra_timeout
        rid = next(self._ids)
        frame = req.encode(rid)
        body = len(frame) - C.LENGTH_PREFIX_BYTES
        limit = self._info.max_frame_bytes
        if limit and body > limit:
            raise InvalidArgument(
                f"request of {body} bytes exceeds the broker's max frame size {limit}; "
                "send fewer or smaller tasks per request"
            )
        p = _Pending(req, deadline, callback)
        while True:
            conn = self._get_conn(deadline)
            # False: the connection died before the write; nothing was sent.
            if conn.send(rid, p, frame):
                return conn, rid, p

    def _run(self, req: Req):
        conn, rid, p = self._send(req)
        # The reader thread fails the request at its deadline (it sweeps
        # every 100 ms); the extra second only guards against a stuck reader.
        if not p.done.acquire(timeout=max(0.0, p.deadline - time.monotonic()) + 1.0):
            if conn.forget(rid) is not None:
                raise Unavailable(
                    f"no response from broker {self._endpoint()} within the request timeout "
                    f"({self.request_timeout:g} s); the request may or may not have been applied"
                )
            p.done.acquire()  # being finished right now by another thread
        outcome = p.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run_future(self, req: Req) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def done(outcome):
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

        try:
            self._send(req, done)
        except SluiceError as e:
            fut.set_exception(e)
        return fut

    def __repr__(self) -> str:
        return f"sluice.Client({self._endpoint()!r}, connected={self.connected})"


class _FuturesView(RequestMethods):
    """``client.futures``: the same methods, sent without waiting; each
    returns a concurrent.futures.Future of its result (or exception)."""

    def __init__(self, client: Client):
        self._client = client

    def _run(self, req: Req) -> concurrent.futures.Future:
        return self._client._run_future(req)
