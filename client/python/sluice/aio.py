"""sluice.aio: the sluice client over asyncio, for async agent frameworks.

    from sluice import aio

    async with await aio.connect("127.0.0.1:7400") as client:
        r = await client.enqueue("jobs", b"hello")
        [task] = await client.lease("jobs", wait_ms=1000)
        await client.ack(task.token)

:class:`AsyncClient` has every method of :class:`sluice.Client`, with the
same arguments, results and exceptions, as coroutines. Requests from any
number of tasks are pipelined on one connection and matched by request id
(a long-polled lease never holds back an ack). Reconnects as the sync client
does: requests in flight when the connection drops fail with Unavailable; the
next one reconnects, with backoff from 50 ms to 2 s, until its timeout.
An AsyncClient belongs to the event loop it was connected on.

:class:`Worker` runs ``async def handler(task, ctx)`` with ``concurrency``
handlers at once; ``ctx.once`` takes a plain or an async function.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import signal
import socket
import ssl
import time
from typing import Any, Awaitable, Callable, Optional

from . import _codec as C
from . import _tls
from ._api import Req, RequestMethods, parse_address
from .client import _HELLO_ANSWER_SHOWN, _READ_CHUNK, _complete, hello_answer, not_sluice
from ._reconnect import Reconnect
from .errors import (
    LEASE_GONE,
    Cancelled,
    InvalidArgument,
    ProtocolError,
    SluiceError,
    Unavailable,
)
from .types import LeasedTask, ServerInfo
from .wire.fb.Body import Body
from .worker import JSON, Codec, Fatal, LeaseLost, Retry, WorkerStats, default_worker_name, describe

__all__ = ["AsyncClient", "connect", "Worker", "Context"]


class _AConn:
    def __init__(self, client: "AsyncClient", reader, writer, frames: C.FrameReader):
        self.client = client
        self.reader = reader
        self.writer = writer
        self.frames = frames
        self.pending: dict[int, tuple[Req, asyncio.Future]] = {}
        self.dead = False
        self.task: Optional[asyncio.Task] = None

    def fail(self, reason: str) -> None:
        if self.dead:
            return
        self.dead = True
        self.client._lost(self)
        lost, self.pending = self.pending, {}
        try:
            self.writer.close()
        except Exception:
            pass
        msg = (
            "client closed"
            if reason == "client closed"
            else f"connection to broker {self.client._endpoint()} lost ({reason}); the request "
            "may or may not have been applied; the next call reconnects"
        )
        for _, fut in lost.values():
            if not fut.done():
                fut.set_exception(Unavailable(msg))
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def read_loop(self) -> None:
        try:
            while not self.dead:
                data = await self.reader.read(_READ_CHUNK)
                if not data:
                    self.fail("broker closed the connection")
                    return
                self.frames.feed(data)
                while not self.dead:
                    buf = self.frames.next()
                    if buf is None:
                        break
                    rid, body_type, table = C.decode_frame(buf)
                    if rid == 0:
                        msg = "(no message)"
                        if body_type == Body.Error and table is not None:
                            msg = str(C.read_body(body_type, table, Body.Error, C.parse_empty))
                        self.fail(f"broker reported a connection error: {msg}")
                        return
                    entry = self.pending.pop(rid, None)
                    if entry is None:
                        continue  # timed out already
                    req, fut = entry
                    if fut.done():
                        continue
                    outcome = _complete(req, C.read_body(body_type, table, req.want, req.parse))
                    if isinstance(outcome, BaseException):
                        fut.set_exception(outcome)
                    else:
                        fut.set_result(outcome)
        except ProtocolError as e:
            self.fail(f"undecodable frame from broker: {e.message}")
        except asyncio.CancelledError:
            pass
        except (OSError, ConnectionError) as e:
            self.fail(str(e))


class AsyncClient(RequestMethods):
    """A connection to one broker, for asyncio. Create it with
    ``await aio.connect(address, token)`` (or construct it and call
    ``await client.connect()``)."""

    def __init__(
        self,
        address="127.0.0.1:7400",
        token: Optional[str] = None,
        *,
        client_name: str = "sluice-python-aio",
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        reconnect_initial_backoff: float = 0.05,
        reconnect_max_backoff: float = 2.0,
        tls: "bool | ssl.SSLContext" = False,
        ca_file: Optional[str] = None,
        cert_file: Optional[str] = None,
        key_file: Optional[str] = None,
        server_hostname: Optional[str] = None,
    ):
        """TLS arguments as sluice.Client's (docs/security.md)."""
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
        self._conn: Optional[_AConn] = None
        self._closed = False
        self._info = ServerInfo()
        self._connect_lock: Optional[asyncio.Lock] = None
        self._reconnect = Reconnect(reconnect_initial_backoff, reconnect_max_backoff)

    async def connect(self) -> "AsyncClient":
        """One connect + Hello attempt (bounded by connect_timeout). Raises
        Unavailable, Unauthenticated, ProtocolError."""
        self._conn = await self._connect_once(time.monotonic() + self.connect_timeout)
        return self

    async def close(self) -> None:
        """Closes the connection; requests in flight fail with Unavailable,
        later calls too. Idempotent."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail("client closed")
            if conn.task is not None:
                try:
                    await conn.task
                except BaseException:
                    pass
            try:
                await conn.writer.wait_closed()
            except Exception:
                pass

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.dead

    @property
    def server_info(self) -> ServerInfo:
        return self._info

    @property
    def address(self) -> str:
        return self._endpoint()

    def set_address(self, address) -> None:
        """Points later connects at another address."""
        self._host, self._port = parse_address(address)

    def _endpoint(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    def _lost(self, conn: _AConn) -> None:
        if self._conn is conn:
            self._conn = None

    async def _connect_once(self, deadline: float) -> _AConn:
        endpoint = self._endpoint()
        timeout = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
        tls_args = {}
        if self._tls is not None:
            tls_args = {"ssl": self._tls, "server_hostname": self._server_hostname or self._host}
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=_READ_CHUNK, **tls_args),
                timeout,
            )
        except asyncio.TimeoutError:
            raise Unavailable(
                f"connecting to {endpoint} timed out after {int(timeout * 1000)} ms"
            ) from None
        except ssl.SSLError as e:
            raise _tls.handshake_failed(endpoint, e) from None
        except OSError as e:
            raise Unavailable(f"cannot connect to {endpoint}: {e.strerror or e}") from None
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hello_id = next(self._ids)
            writer.write(C.encode_hello(hello_id, self.client_name, self.token))
            await writer.drain()
            frames = C.FrameReader()
            answer = bytearray()
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        f"connecting to {endpoint} timed out after {int(timeout * 1000)} ms "
                        "(no answer to hello)"
                    )
                try:
                    data = await asyncio.wait_for(reader.read(_READ_CHUNK), left)
                except asyncio.TimeoutError:
                    continue
                except (OSError, ConnectionError) as e:
                    if answer:
                        raise not_sluice(endpoint, answer) from None
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
                    frames.feed(data)
                    buf = frames.next()
                    if buf is None:
                        continue
                    rid, body_type, table = C.decode_frame(buf)
                except ProtocolError:
                    raise not_sluice(endpoint, answer) from None
                self._info = hello_answer(endpoint, body_type, rid, hello_id, table)
                break
        except BaseException:
            writer.close()
            raise
        conn = _AConn(self, reader, writer, frames)
        conn.task = asyncio.get_running_loop().create_task(conn.read_loop())
        return conn

    async def _get_conn(self, deadline: float) -> _AConn:
        if self._closed:
            raise Unavailable("client is closed; create a new one")
        conn = self._conn
        if conn is not None and not conn.dead:
            return conn
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            while True:
                if self._closed:
                    raise Unavailable("client is closed; create a new one")
                conn = self._conn
                if conn is not None and not conn.dead:
                    return conn
                now = time.monotonic()
                pause, give_up = self._reconnect.wait(now, deadline)
                if pause > 0:
                    await asyncio.sleep(pause)
                if give_up:
                    raise self._unreachable()
                try:
                    conn = await self._connect_once(deadline)
                except Unavailable as e:
                    self._reconnect.failed(e.message)
                    if time.monotonic() >= deadline:
                        raise self._unreachable() from None
                    continue
                self._reconnect.succeeded()
                if self._closed:
                    conn.fail("client closed")
                    raise Unavailable("client is closed; create a new one")
                self._conn = conn
                return conn

    def _unreachable(self) -> Unavailable:
        return self._reconnect.unreachable(self._endpoint())

    async def _run(self, req: Req):
        timeout = self.request_timeout + req.extra_timeout
        deadline = time.monotonic() + timeout
        rid = next(self._ids)
        frame = req.encode(rid)
        body = len(frame) - C.LENGTH_PREFIX_BYTES
        limit = self._info.max_frame_bytes
        if limit and body > limit:
            raise InvalidArgument(
                f"request of {body} bytes exceeds the broker's max frame size {limit}; "
                "send fewer or smaller tasks per request"
            )
        fut = asyncio.get_running_loop().create_future()
        conn = await self._get_conn(deadline)
        conn.pending[rid] = (req, fut)
        try:
            conn.writer.write(frame)
            await conn.writer.drain()
        except (OSError, ConnectionError, RuntimeError) as e:
            conn.fail(f"write failed: {e}")
        try:
            return await asyncio.wait_for(fut, max(0.001, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            conn.pending.pop(rid, None)
            raise Unavailable(
                f"no response from broker {self._endpoint()} within the request timeout "
                f"({self.request_timeout:g} s); the request may or may not have been applied"
            ) from None
        except asyncio.CancelledError:
            conn.pending.pop(rid, None)
            raise


async def connect(address="127.0.0.1:7400", token: Optional[str] = None, **options) -> AsyncClient:
    """Connects and says Hello; returns the AsyncClient (see its options)."""
    return await AsyncClient(address, token, **options).connect()


# ---------------------------------------------------------------- worker


class Context:
    """The asyncio twin of :class:`sluice.worker.Context` (same rules)."""

    def __init__(self, worker: "Worker", task: LeasedTask):
        self._w = worker
        self.task = task
        self._journal: dict[str, bytes] = {e.step: e.value for e in task.journal}
        self._checkpoint_raw = task.checkpoint
        self._pending_checkpoint: Optional[bytes] = None
        self.lease_lost = False
        self.cancelled = False

    @property
    def attempt(self) -> int:
        return self.task.attempt

    @property
    def checkpoint_value(self) -> Any:
        raw = self._checkpoint_raw
        if raw is None:
            return None
        try:
            return self._w.codec.decode(raw)
        except (ValueError, UnicodeDecodeError):
            return raw

    @property
    def journal(self) -> dict[str, bytes]:
        return dict(self._journal)

    @property
    def stopping(self) -> bool:
        return self._w._stopping

    def find(self, step: str, default: Any = None) -> Any:
        raw = self._journal.get(step)
        return default if raw is None else self._w.codec.decode(raw)

    def effect_key(self, step: str) -> str:
        return f"sluice:{self.task.id}:{step}"

    async def once(self, step: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """As sluice.worker.Context.once; ``fn`` may be a coroutine function
        (or return an awaitable)."""
        raw = self._journal.get(step)
        if raw is not None:
            return self._w.codec.decode(raw)
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        await self.record(step, result)
        return result

    async def record(self, step: str, value: Any) -> None:
        raw = self._w.codec.encode(value)
        try:
            await self._w.client.journal_put(self.task.token, step, raw)
        except LEASE_GONE as e:
            self.lease_lost = True
            raise LeaseLost(e) from None
        except Cancelled as e:
            self.lease_lost = self.cancelled = True
            raise LeaseLost(e) from None
        self._journal[step] = raw

    def checkpoint(self, value: Any) -> None:
        """Saves a checkpoint, sent with the next heartbeat or before a nack;
        ``await ctx.flush_checkpoint()`` makes it durable now."""
        raw = self._w.codec.encode(value)
        self._checkpoint_raw = raw
        self._pending_checkpoint = raw

    async def flush_checkpoint(self) -> None:
        raw, self._pending_checkpoint = self._pending_checkpoint, None
        if raw is None:
            return
        try:
            await self._w.client.heartbeat(self.task.token, self._w.lease_ms, raw)
        except LEASE_GONE as e:
            self.lease_lost = True
            raise LeaseLost(e) from None
        except Cancelled as e:
            self.lease_lost = self.cancelled = True
            raise LeaseLost(e) from None
        except SluiceError:
            if self._pending_checkpoint is None:
                self._pending_checkpoint = raw
            raise


class Worker:
    """Runs ``async def handler(task, ctx)`` for the tasks of ``queue``,
    ``concurrency`` at once, on the running event loop. The same behaviour
    as :class:`sluice.Worker` (ack on return, nack on an exception, Fatal
    dead-letters, heartbeats carry checkpoints, LeaseLost drops the attempt);
    acks are sent per task (the broker commits concurrent ones together)."""

    def __init__(
        self,
        queue: str,
        handler: Callable[[LeasedTask, Context], Awaitable[Any]],
        concurrency: int = 1,
        *,
        client: Optional[AsyncClient] = None,
        address: Optional[str] = None,
        token: Optional[str] = None,
        lease_ms: int = 30000,
        wait_ms: int = 5000,
        heartbeat_interval: Optional[float] = None,
        worker_name: Optional[str] = None,
        codec: Codec = JSON,
        on_error: Optional[Callable[[BaseException], None]] = None,
    ):
        if not queue:
            raise ValueError("Worker: queue is empty")
        if concurrency < 1:
            raise ValueError("Worker: concurrency must be at least 1")
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.wait_ms = wait_ms
        self.heartbeat_interval = heartbeat_interval or max(0.001, lease_ms / 3000.0)
        self.worker_name = worker_name or default_worker_name()
        self.codec = codec
        self.on_error = on_error
        self.client = client
        self._own_client = client is None
        self._address = address or os.environ.get("SLUICE_BROKER", "127.0.0.1:7400")
        self._token = token
        self._stopping = False
        self._stats = WorkerStats()
        self._tasks: list[asyncio.Task] = []
        self._queue: Optional[asyncio.Queue] = None
        self._free: Optional[asyncio.Semaphore] = None
        self._stop_event: Optional[asyncio.Event] = None

    def stats(self) -> WorkerStats:
        return WorkerStats(**vars(self._stats))

    def _report(self, e: BaseException) -> None:
        if self.on_error is not None:
            try:
                self.on_error(e)
            except Exception:
                pass

    async def start(self) -> "Worker":
        if self.client is None:
            self.client = await connect(
                self._address, self._token, client_name="sluice-python-aio-worker"
            )
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._free = asyncio.Semaphore(self.concurrency)
        self._stop_event = asyncio.Event()
        self._lease_task = loop.create_task(self._lease_loop())
        self._tasks = [loop.create_task(self._handler_loop()) for _ in range(self.concurrency)]
        return self

    async def stop(self) -> None:
        """Stops leasing (a lease still out is awaited, at most wait_ms, and
        its tasks are released), lets running handlers finish and their acks
        or nacks be answered. Idempotent."""
        if self._stopping or self._queue is None:
            return
        self._stopping = True
        self._stop_event.set()
        await self._lease_task
        for _ in self._tasks:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_client:
            await self.client.close()

    def request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self, install_signal_handlers: bool = True) -> None:
        """start(), wait for SIGTERM / SIGINT (or request_stop()), stop()."""
        await self.start()
        loop = asyncio.get_running_loop()
        installed = []
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._stop_event.set)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        try:
            await self._stop_event.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    async def __aenter__(self) -> "Worker":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _lease_loop(self) -> None:
        pause = 0.0
        while not self._stopping:
            await self._free.acquire()
            n = 1
            while n < self.concurrency and not self._free.locked():
                await self._free.acquire()
                n += 1
            if self._stopping:
                for _ in range(n):
                    self._free.release()
                return
            try:
                tasks = await self.client.lease(
                    self.queue, n, self.wait_ms, self.lease_ms, self.worker_name
                )
                pause = 0.0
            except SluiceError as e:
                tasks = []
                pause = min(2.0, max(0.05, pause * 2))
                if not self._stopping:
                    self._report(e)
            for _ in range(n - len(tasks)):
                self._free.release()
            if self._stopping:
                for t in tasks:
                    self._free.release()
                    self._stats.released += 1
                    try:
                        await self.client.nack(
                            t.token, "worker stopped before the task started", False, 0
                        )
                    except SluiceError as e:
                        self._report(e)
                return
            self._stats.leased += len(tasks)
            for t in tasks:
                self._queue.put_nowait(t)
            if pause:
                try:
                    await asyncio.wait_for(self._stop_event.wait(), pause)
                except asyncio.TimeoutError:
                    pass

    async def _handler_loop(self) -> None:
        while True:
            task = await self._queue.get()
            if task is None:
                return
            try:
                await self._run_one(task)
            finally:
                self._free.release()

    async def _heartbeat(self, task: LeasedTask, ctx: Context) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            cp, ctx._pending_checkpoint = ctx._pending_checkpoint, None
            try:
                await self.client.heartbeat(task.token, self.lease_ms, cp)
            except LEASE_GONE:
                ctx.lease_lost = True
                return
            except Cancelled:
                ctx.lease_lost = ctx.cancelled = True
                return
            except SluiceError as e:
                if cp is not None and ctx._pending_checkpoint is None:
                    ctx._pending_checkpoint = cp
                self._report(e)

    async def _run_one(self, task: LeasedTask) -> None:
        ctx = Context(self, task)
        hb = asyncio.get_running_loop().create_task(self._heartbeat(task, ctx))
        outcome: Optional[BaseException] = None
        try:
            await self.handler(task, ctx)
        except asyncio.CancelledError:
            hb.cancel()
            raise
        except Exception as e:
            outcome = e
        finally:
            hb.cancel()
            try:
                await hb
            except BaseException:
                pass
        if ctx.cancelled:
            self._stats.cancelled += 1
            return
        if isinstance(outcome, LeaseLost):
            self._stats.lease_lost += 1
            return
        try:
            if outcome is None:
                await self.client.ack(task.token)
                self._stats.succeeded += 1
                return
            if ctx._pending_checkpoint is not None:
                try:
                    await self.client.heartbeat(task.token, self.lease_ms, ctx._pending_checkpoint)
                except SluiceError as e:
                    self._report(e)
            fatal = isinstance(outcome, Fatal)
            delay = outcome.delay_ms if isinstance(outcome, Retry) else None
            await self.client.nack(task.token, describe(outcome), fatal, delay)
            if fatal:
                self._stats.failed += 1
            else:
                self._stats.retried += 1
        except LEASE_GONE:
            self._stats.lease_lost += 1
        except SluiceError as e:
            self._report(e)
