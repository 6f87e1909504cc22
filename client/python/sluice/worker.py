"""sluice.Worker: the lease / heartbeat / ack loop, with an effect journal.

    def handle(task, ctx):
        order = ctx.once("charge", charge_card, task.payload)   # at most once per step
        ctx.checkpoint({"charged": order})
        ctx.once("email", send_receipt, order)

    sluice.Worker("orders", handle, concurrency=4, address="127.0.0.1:7400").run()

Behaviour (the C++ Worker's, client/worker.h): one lease thread long-polls
``lease`` for at most as many tasks as there are idle handler threads;
``concurrency`` handler threads run the handler; one heartbeat thread extends
the lease of every running task every ``heartbeat_interval`` (default a third
of ``lease_ms``), carrying the checkpoint saved since the last heartbeat.

The handler's end decides the task's fate:

- it returns: the task is acked. The ack is queued and the handler thread
  takes its next task at once; at most one Ack request is in flight and the
  tokens queued meanwhile go together in the next one.
- it raises :class:`Fatal`: nacked fatal, straight to the dead-letter set.
- it raises :class:`Retry` (``delay_ms`` optional) or any other exception:
  nacked for a retry, with the exception's text kept in the task history.
  A checkpoint saved but not yet sent goes first, so the next attempt sees it.
- the lease was lost (a heartbeat or a journal write answered StaleLease or
  NotFound) or an operator cancelled the task (Cancelled): nothing is sent;
  the attempt's work is dropped (:class:`LeaseLost` raised inside the handler
  by ctx.once / ctx.record ends it early).

Stopping: :meth:`Worker.stop` stops leasing, lets running handlers finish
(and acks or nacks them), waits for every queued ack, and releases (nacks,
delay 0) any task a lease brought after stop. :meth:`Worker.run` does
start(), waits for SIGTERM or SIGINT, then stop(): a deploy's SIGTERM never
loses or strands a task. A worker that made its own client closes it.

Delivery is at least once: a handler may see a task again after a crash or
a lost lease. ``ctx.once`` and the journal make re-running safe; see
:meth:`Context.once` for the exact rule.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .client import Client
from .errors import LEASE_GONE, Cancelled, SluiceError
from .types import LeasedTask, LeaseToken

#: Most tokens in one Ack request.
MAX_ACK_BATCH = 1024


class Retry(Exception):
    """Raise (or, in a BatchWorker, return) to nack the task for a retry;
    ``delay_ms`` replaces the retry backoff once."""

    def __init__(self, error: str = "", delay_ms: Optional[int] = None):
        super().__init__(error)
        self.error = error
        self.delay_ms = delay_ms


class Fatal(Exception):
    """Raise (or, in a BatchWorker, return) to dead-letter the task: no retry."""

    def __init__(self, error: str = ""):
        super().__init__(error)
        self.error = error


class LeaseLost(Exception):
    """The attempt no longer counts (its lease is gone, or an operator
    cancelled the task): raised inside a handler by ctx.once / ctx.record.
    The Worker drops the attempt (no ack, no nack). ``cause`` is the broker's
    answer (StaleLease, NotFound or Cancelled)."""

    def __init__(self, cause: SluiceError):
        super().__init__(str(cause))
        self.cause = cause


class Codec:
    """How ctx.once results, journal values and checkpoints become bytes."""

    def __init__(self, name: str, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any]):
        self.name = name
        self.encode = encode
        self.decode = decode

    def __repr__(self) -> str:
        return f"sluice.{self.name}"


def _json_encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _raw_encode(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if value is None:
        return b""
    return bytes(value)


#: Values as JSON (the default): once() returns on replay what fn returned,
#: through a JSON round trip; checkpoints are any JSON value.
JSON = Codec("JSON", _json_encode, lambda raw: json.loads(raw))
#: Values as bytes, unchanged (str is sent as UTF-8).
RAW = Codec("RAW", _raw_encode, lambda raw: raw)


def default_worker_name() -> str:
    return f"{socket.gethostname() or 'worker'}:{os.getpid()}"


def describe(e: BaseException) -> str:
    if isinstance(e, (Retry, Fatal)):
        return e.error
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@dataclass
class WorkerStats:
    leased: int = 0
    succeeded: int = 0  # acked (the broker confirmed)
    retried: int = 0  # nacked for a retry
    failed: int = 0  # nacked fatal
    lease_lost: int = 0  # the attempt was dropped: lease gone (StaleLease / NotFound)
    cancelled: int = 0  # an operator cancelled the task while it ran
    released: int = 0  # leased after stop(), given back


class _Running:
    """One running task, shared by its handler thread and the heartbeater."""

    __slots__ = ("token", "next_heartbeat", "checkpoint", "in_flight", "lost", "cancelled")

    def __init__(self, token: LeaseToken, next_heartbeat: float):
        self.token = token
        self.next_heartbeat = next_heartbeat
        self.checkpoint: Optional[bytes] = None  # saved, not yet sent
        self.in_flight = False
        self.lost = False
        self.cancelled = False


class Context:
    """Handed to the handler with its task; used from the handler's thread
    only, valid during that call."""

    def __init__(self, worker: "Worker", task: LeasedTask, running: _Running):
        self._w = worker
        self.task = task
        self._running = running
        self._journal: dict[str, bytes] = {e.step: e.value for e in task.journal}
        self._checkpoint_raw = task.checkpoint

    # ---- what earlier attempts left

    @property
    def attempt(self) -> int:
        """This attempt's number: 1 for the first, life-wide, never reused."""
        return self.task.attempt

    @property
    def checkpoint_value(self) -> Any:
        """The last checkpoint: saved by this attempt, else by an earlier one
        (None if none), decoded with the worker's codec (JSON by default; a
        checkpoint that does not decode, e.g. written by another client, is
        returned as bytes)."""
        raw = self._checkpoint_raw
        if raw is None:
            return None
        try:
            return self._w.codec.decode(raw)
        except (ValueError, UnicodeDecodeError):
            return raw

    @property
    def journal(self) -> dict[str, bytes]:
        """step -> raw value of every journal record, earlier attempts' and
        this one's."""
        return dict(self._journal)

    def find(self, step: str, default: Any = None) -> Any:
        """The decoded value recorded under ``step``, or ``default``."""
        raw = self._journal.get(step)
        return default if raw is None else self._w.codec.decode(raw)

    def effect_key(self, step: str) -> str:
        """A key naming this task's step, the same in every attempt: pass it as
        the idempotency key of the system ``fn`` calls (see :meth:`once`)."""
        return f"sluice:{self.task.id}:{step}"

    # ---- effects

    def once(self, step: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Runs ``fn(*args, **kwargs)`` only if the task's journal has no
        record for ``step`` yet, records its result under ``step`` (durable
        before it returns) and returns it; if the step was recorded, by this
        attempt or an earlier one, returns the recorded result without
        calling ``fn``.

        The rule this relies on (and the only one under which "exactly once"
        holds): the journal record is written *after* ``fn``'s effect, so a
        crash, a lost lease or an unreachable broker between the two leaves
        the effect done and unrecorded, and the next attempt calls ``fn``
        again. ``fn`` must therefore be idempotent per step: before acting,
        it looks at the system it changes for its own earlier effect, keyed
        by :meth:`effect_key` (an idempotency key the service honours, a
        unique row, a line tagged with the key in a file), and returns the
        earlier result instead of acting twice; that check and the act must
        be atomic against a concurrent attempt (a lock, a unique constraint),
        since after a lease expiry two attempts of a task can run at once.
        The journal then makes the common case cheap (no call at all) and
        the check covers the crash window. Without such a check the
        guarantee is at least once, and a crash in that window repeats the
        effect.

        Raises :class:`LeaseLost` when the lease is gone (the worker drops
        the attempt). The result must suit the worker's codec (JSON: any
        JSON value)."""
        raw = self._journal.get(step)
        if raw is not None:
            return self._w.codec.decode(raw)
        result = fn(*args, **kwargs)
        self.record(step, result)
        return result

    def record(self, step: str, value: Any) -> None:
        """Records ``value`` under ``step`` in the journal (durable on
        return). Raises LeaseLost when the lease is gone."""
        raw = self._w.codec.encode(value)
        try:
            self._w.client.journal_put(self.task.token, step, raw)
        except LEASE_GONE as e:
            self._w._mark_lost(self._running, False)
            raise LeaseLost(e) from None
        except Cancelled as e:
            self._w._mark_lost(self._running, True)
            raise LeaseLost(e) from None
        self._journal[step] = raw

    def checkpoint(self, value: Any, flush: bool = False) -> None:
        """Saves a checkpoint (encoded with the worker's codec): sent with the
        next heartbeat, or before a nack, and handed to the next attempt as
        ``ctx.checkpoint_value``. ``flush``: send it now and return once it
        is durable (raises LeaseLost if the lease is gone)."""
        raw = self._w.codec.encode(value)
        self._checkpoint_raw = raw
        with self._w._mu:
            self._running.checkpoint = raw
        if flush:
            self.flush_checkpoint()

    def flush_checkpoint(self) -> None:
        """Sends the saved checkpoint now with a heartbeat; durable on return."""
        with self._w._mu:
            raw, self._running.checkpoint = self._running.checkpoint, None
        if raw is None:
            return
        try:
            self._w.client.heartbeat(self.task.token, self._w.lease_ms, raw)
        except LEASE_GONE as e:
            self._w._mark_lost(self._running, False)
            raise LeaseLost(e) from None
        except Cancelled as e:
            self._w._mark_lost(self._running, True)
            raise LeaseLost(e) from None
        except SluiceError:
            with self._w._mu:
                if self._running.checkpoint is None:
                    self._running.checkpoint = raw
            raise

    # ---- state

    @property
    def lease_lost(self) -> bool:
        """True once a heartbeat found the lease gone (or the task cancelled):
        give up quickly, the result will be dropped."""
        return self._running.lost

    @property
    def cancelled(self) -> bool:
        """True once a heartbeat answered Cancelled (an operator cancelled it)."""
        return self._running.cancelled

    @property
    def stopping(self) -> bool:
        """True once stop() was called; long handlers may wind down."""
        return self._w._stopping


class Worker:
    """Runs ``handler(task, ctx)`` for the tasks of ``queue``, ``concurrency``
    at a time. See the module docstring."""

    def __init__(
        self,
        queue: str,
        handler: Callable[[LeasedTask, Context], Any],
        concurrency: int = 1,
        *,
        client: Optional[Client] = None,
        address: Optional[str] = None,
        token: Optional[str] = None,
        lease_ms: int = 30000,
        wait_ms: int = 5000,
        lease_batch: int = 0,
        heartbeat_interval: Optional[float] = None,
        worker_name: Optional[str] = None,
        codec: Codec = JSON,
        on_error: Optional[Callable[[BaseException], None]] = None,
    ):
        """``client``: a Client to use (it must outlive the worker); else the
        worker connects to ``address`` (default $SLUICE_BROKER or
        127.0.0.1:7400) with ``token`` on start(), and closes that client on
        stop(). ``lease_ms``: each lease, extended by heartbeats every
        ``heartbeat_interval`` seconds (default lease_ms / 3). ``wait_ms``:
        one lease long poll. ``on_error(exc)`` hears the errors the worker
        handles itself (failed leases, retried after a pause; failed acks,
        nacks, heartbeats) from worker threads."""
        if not queue:
            raise ValueError("Worker: queue is empty")
        if concurrency < 1:
            raise ValueError("Worker: concurrency must be at least 1")
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.lease_ms = lease_ms
        self.wait_ms = wait_ms
        self.lease_batch = lease_batch or concurrency
        self.heartbeat_interval = (
            heartbeat_interval if heartbeat_interval else max(0.001, lease_ms / 3000.0)
        )
        self.worker_name = worker_name or default_worker_name()
        self.codec = codec
        self.on_error = on_error
        self._own_client = client is None
        self._address = address or os.environ.get("SLUICE_BROKER", "127.0.0.1:7400")
        self._token = token
        self.client: Optional[Client] = client

        self._mu = threading.Lock()
        self._cv = threading.Condition(self._mu)
        self._started = False
        self._stopping = False
        self._stopped = False
        self._lease_outstanding = False
        self._lease_pause = 0.0
        self._queue: list[LeasedTask] = []
        self._running_count = 0
        self._running: dict[int, _Running] = {}
        self._next_slot = 0
        self._acks: list[LeaseToken] = []  # succeeded, ack not sent yet
        self._ack_in_flight = False
        self._to_release: list[LeaseToken] = []  # leased after stop, nack not sent yet
        self._releases = 0  # release nacks in flight
        self._stats = WorkerStats()
        self._threads: list[threading.Thread] = []
        self._heartbeat_exit = False
        self._stop_requested = threading.Event()

    # ------------------------------------------------------------ control

    def start(self) -> "Worker":
        """Starts the threads (connecting first when the worker owns its
        client; raises what the connect raises)."""
        with self._mu:
            if self._started:
                raise RuntimeError("Worker.start called twice")
            self._started = True
        if self.client is None:
            try:
                self.client = Client(self._address, self._token, client_name="sluice-python-worker")
            except BaseException:
                with self._mu:
                    self._started = False
                raise
        self._spawn(self._lease_loop, "sluice-lease")
        for i in range(self.concurrency):
            self._spawn(self._handler_loop, f"sluice-handler-{i}")
        self._background = [
            self._spawn(self._heartbeat_loop, "sluice-heartbeat", keep=False),
            self._spawn(self._sender_loop, "sluice-acks", keep=False),
        ]
        return self

    def _spawn(self, target, name: str, keep: bool = True) -> threading.Thread:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        if keep:
            self._threads.append(t)
        return t

    def stop(self) -> None:
        """Stops leasing, lets running handlers finish, waits for their acks
        and nacks, then joins every thread. Idempotent; not from a handler."""
        with self._mu:
            if not self._started or self._stopped:
                return
            self._stopping = True
            self._cv.notify_all()
        self._stop_requested.set()
        for t in self._threads:
            t.join()
        with self._mu:
            # The lease still out (at most wait_ms) is released when it comes;
            # every ack and release must be answered before stop returns.
            while (
                self._lease_outstanding
                or self._acks
                or self._ack_in_flight
                or self._to_release
                or self._releases
            ):
                self._cv.wait()
            self._heartbeat_exit = True
            self._cv.notify_all()
        for t in self._background:
            t.join()
        if self._own_client:
            self.client.close()
        with self._mu:
            self._stopped = True

    def run(self, install_signal_handlers: bool = True) -> None:
        """start(), then block until SIGTERM / SIGINT (or request_stop()),
        then stop(). Signal handlers are installed only from the main thread
        and restored on return."""
        previous = {}
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self._stop_requested.set())
        try:
            self.start()
            while not self._stop_requested.wait(0.5):
                pass
        finally:
            self.stop()
            for sig, h in previous.items():
                signal.signal(sig, h)

    def request_stop(self) -> None:
        """Makes run() return (after stop()); safe from any thread or a
        signal handler."""
        self._stop_requested.set()

    def stats(self) -> WorkerStats:
        with self._mu:
            return WorkerStats(**vars(self._stats))

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ errors

    def _report(self, e: BaseException) -> None:
        if self.on_error is None:
            return
        with self._mu:
            if self._stopped:
                return
        try:
            self.on_error(e)
        except Exception:
            pass

    def _mark_lost(self, running: _Running, cancelled: bool) -> None:
        with self._mu:
            running.lost = True
            if cancelled:
                running.cancelled = True

    # ------------------------------------------------------------ leasing

    def _free_slots(self) -> int:
        busy = self._running_count + len(self._queue)
        return max(0, self.concurrency - busy)

    def _lease_loop(self) -> None:
        with self._mu:
            while True:
                while not self._stopping and (self._lease_outstanding or self._free_slots() == 0):
                    self._cv.wait()
                if self._stopping:
                    return
                if self._lease_pause > 0:
                    self._cv.wait(self._lease_pause)
                    if self._stopping:
                        return
                n = min(self.lease_batch, self._free_slots())
                self._lease_outstanding = True
                self._mu.release()
                try:
                    fut = self.client.futures.lease(
                        self.queue, n, self.wait_ms, self.lease_ms, self.worker_name
                    )
                    fut.add_done_callback(self._on_leased)
                finally:
                    self._mu.acquire()

    def _on_leased(self, fut) -> None:
        error = fut.exception()
        tasks = [] if error is not None else fut.result()
        with self._mu:
            self._lease_outstanding = False
            if self._stopping:
                self._to_release.extend(t.token for t in tasks)
                self._stats.released += len(tasks)
            else:
                if error is None:
                    self._lease_pause = 0.0
                    self._stats.leased += len(tasks)
                    self._queue.extend(tasks)
                else:
                    self._lease_pause = min(2.0, max(0.05, self._lease_pause * 2))
            self._cv.notify_all()
        if error is not None and not self._stopping:
            self._report(error)

    # ------------------------------------------------------------ handlers

    def _handler_loop(self) -> None:
        while True:
            with self._mu:
                while not self._queue and not self._stopping:
                    self._cv.wait()
                if not self._queue:
                    return  # stopping and nothing left to run
                task = self._queue.pop(0)
                self._running_count += 1
                slot = self._next_slot
                self._next_slot += 1
                running = _Running(task.token, time.monotonic() + self.heartbeat_interval)
                self._running[slot] = running
            outcome: Optional[BaseException] = None
            try:
                self.handler(task, Context(self, task, running))
            except BaseException as e:  # noqa: B902 - every end of a handler is reported
                outcome = e
            with self._mu:
                del self._running[slot]
            try:
                self._finish(task, running, outcome)
            finally:
                with self._mu:
                    self._running_count -= 1
                    self._cv.notify_all()
            if isinstance(outcome, (KeyboardInterrupt, SystemExit)):
                raise outcome

    def _finish(self, task: LeasedTask, running: _Running, outcome: Optional[BaseException]):
        with self._mu:
            if running.cancelled or isinstance(outcome, LeaseLost):
                if running.cancelled:
                    self._stats.cancelled += 1
                else:
                    self._stats.lease_lost += 1
                return
            checkpoint, running.checkpoint = running.checkpoint, None
        if outcome is None:
            self._queue_ack(task.token)
            return
        fatal = isinstance(outcome, Fatal)
        delay = outcome.delay_ms if isinstance(outcome, Retry) else None
        if checkpoint is not None:
            # The next attempt must see what this one saved: persist it first.
            try:
                self.client.heartbeat(task.token, self.lease_ms, checkpoint)
            except SluiceError as e:
                self._report(e)
        try:
            self.client.nack(task.token, describe(outcome), fatal, delay)
        except LEASE_GONE:
            with self._mu:
                self._stats.lease_lost += 1
            return
        except SluiceError as e:
            self._report(e)
            return
        with self._mu:
            if fatal:
                self._stats.failed += 1
            else:
                self._stats.retried += 1

    # ------------------------------------------------------------ acks

    # A handler thread that succeeded queues its token and takes its next
    # task at once. The sender thread keeps at most one Ack request in
    # flight; the tokens queued while it is out go together in the next one.
    # (Requests are sent from this thread, never from a response callback:
    # those run on the client's reader thread, which must keep reading.)

    def _queue_ack(self, token: LeaseToken) -> None:
        with self._mu:
            self._acks.append(token)
            self._cv.notify_all()

    def _sender_loop(self) -> None:
        with self._mu:
            while True:
                while not self._heartbeat_exit and not self._to_release and (
                    self._ack_in_flight or not self._acks
                ):
                    self._cv.wait()
                if self._heartbeat_exit:
                    return
                release, self._to_release = self._to_release, []
                self._releases += len(release)
                batch: list[LeaseToken] = []
                if self._acks and not self._ack_in_flight:
                    batch, self._acks = self._acks[:MAX_ACK_BATCH], self._acks[MAX_ACK_BATCH:]
                    self._ack_in_flight = True
                self._mu.release()
                try:
                    for token in release:
                        self._send_release(token)
                    if batch:
                        self._send_acks(batch)
                finally:
                    self._mu.acquire()

    def _send_release(self, token: LeaseToken) -> None:
        try:
            f = self.client.futures.nack(token, "worker stopped before the task started", False, 0)
        except SluiceError as e:
            f = None
            self._report(e)
        if f is None:
            self._on_released(None)
        else:
            f.add_done_callback(self._on_released)

    def _on_released(self, fut) -> None:
        with self._mu:
            self._releases -= 1
            self._cv.notify_all()

    def _send_acks(self, tokens: list[LeaseToken]) -> None:
        try:
            fut = self.client.futures.ack_many(tokens)
        except SluiceError as e:
            fut = None
            failed = e
        if fut is None:
            self._on_acked(len(tokens), None, failed)
        else:
            fut.add_done_callback(lambda f: self._on_acked(len(tokens), f))

    def _on_acked(self, n: int, fut, error: Optional[BaseException] = None) -> None:
        if fut is not None:
            error = fut.exception()
        codes = [error] * n if error is not None else fut.result()
        report = []
        with self._mu:
            for c in codes:
                if c is None:
                    self._stats.succeeded += 1
                elif isinstance(c, LEASE_GONE):
                    self._stats.lease_lost += 1
                else:
                    report.append(c)
        for e in report[:1] if error is not None else report:
            self._report(e)
        with self._mu:
            self._ack_in_flight = False
            self._cv.notify_all()

    # ------------------------------------------------------------ heartbeats

    def _heartbeat_loop(self) -> None:
        tick = min(0.25, max(0.005, self.heartbeat_interval / 4))
        with self._mu:
            while not self._heartbeat_exit:
                self._cv.wait(tick)
                if self._heartbeat_exit:
                    return
                now = time.monotonic()
                due = [
                    r
                    for r in self._running.values()
                    if not r.in_flight and not r.lost and now >= r.next_heartbeat
                ]
                for r in due:
                    r.in_flight = True
                    cp, r.checkpoint = r.checkpoint, None
                    self._mu.release()
                    try:
                        self._send_heartbeat(r, cp)
                    finally:
                        self._mu.acquire()

    def _send_heartbeat(self, r: _Running, cp: Optional[bytes]) -> None:
        def done(fut) -> None:
            e = fut.exception()
            report = None
            with self._mu:
                r.in_flight = False
                r.next_heartbeat = time.monotonic() + self.heartbeat_interval
                if e is not None:
                    if isinstance(e, LEASE_GONE):
                        r.lost = True
                    elif isinstance(e, Cancelled):
                        r.lost = r.cancelled = True
                    else:
                        report = e
                        if cp is not None and r.checkpoint is None:
                            r.checkpoint = cp  # keep it for the next try
            if report is not None:
                self._report(report)

        try:
            fut = self.client.futures.heartbeat(r.token, self.lease_ms, cp)
        except SluiceError as e:  # refused before sending (e.g. checkpoint too large)
            with self._mu:
                r.in_flight = False
                r.next_heartbeat = time.monotonic() + self.heartbeat_interval
            self._report(e)
            return
        fut.add_done_callback(done)
