"""sluice.BatchWorker: batches from the broker's batching scheduler, for
inference servers that run tasks in batches (GPU slots; docs/batching.md).
It mirrors the C++ BatchWorker (client/batch_worker.h).

    def infer(batch):                       # a sluice.LeasedBatch
        outputs = model([t.payload for t in batch.tasks])
        return [None] * len(batch.tasks)    # one outcome per task, in order

    w = sluice.BatchWorker("infer", ["llama-8b"], infer, slots=2, max_tasks=32,
                           max_wait_ms=10, address="127.0.0.1:7400")
    w.run()                                 # until SIGTERM; or start() / stop()

Behaviour: start() registers the worker (BatchRegister) and raises the
broker's error if the registration is refused (InvalidArgument names the
field). Then one thread per slot long-polls BatchLease (``poll_wait_ms`` per
poll) and runs the handler on the batch it gets; the broker forms a batch of
one batch key's tasks, at most ``max_tasks`` tasks and ``max_cost`` cost, and
never holds more of this worker's batches than it has slots.

Outcomes: the handler returns one outcome per task of ``batch.tasks``, in
order. ``None``, ``True`` or any value that is not an exception: success.
A :class:`sluice.Retry` instance (``delay_ms`` optional) or another
exception instance: nacked for a retry with its text; a :class:`sluice.Fatal`
instance: nacked fatal (dead letter). Every success of the batch is acked in
ONE Ack request, every other task nacked, all at once; the slot polls again
once every answer came. A handler that raises, or returns another number of
outcomes than the batch has tasks, gets every task of the batch retried with
an error saying so (kept in each task's history).

One heartbeat thread extends every running batch (BatchHeartbeat by
``lease_ms``, 0 = the batch's own lease) every ``heartbeat_interval`` seconds;
default a third of ``lease_ms``, or, with ``lease_ms`` 0, a third of the time
left on the first deadline by this machine's clock, kept within 10 ms .. 10 s.
A batch whose heartbeat answers StaleLease or NotFound (or holds no task any
more) is no longer heartbeated.

The registration lives as long as the connection. When a poll answers
NotFound (the client reconnected, or the broker restarted) the worker
registers again, once for all its slots (``stats().reregistered``), and goes
on with the new ``worker_id``. Batches running then keep being heartbeated
under the id they were leased with.

stop() stops polling; a poll still out may bring one more batch per slot,
which runs (releasing it would use up an attempt of each task). It returns
once every running batch finished and its acks and nacks were answered. The
handler runs on the slot threads, ``slots`` at once: it must be thread-safe
when slots > 1 (PyTorch releases the GIL inside its kernels, so slots overlap
the host work of one batch with the device work of another).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .client import Client
from .errors import LEASE_GONE, NotFound, SluiceError
from .types import BatchRegistration, LeasedBatch
from .worker import Fatal, Retry, default_worker_name, describe

_MIN_PAUSE = 0.05
_MAX_PAUSE = 2.0


@dataclass
class BatchWorkerStats:
    batches: int = 0  # batches handed to the handler
    tasks: int = 0  # tasks in them
    succeeded: int = 0  # acked (the broker confirmed)
    retried: int = 0  # nacked retryable (also a handler that raised or miscounted)
    failed: int = 0  # nacked fatal
    reregistered: int = 0  # registrations after the first (NotFound from a poll)
    lease_lost: int = 0  # ack / nack answered StaleLease or NotFound


class _Running:
    __slots__ = ("worker_id", "batch_id", "interval", "next_heartbeat", "in_flight", "lost")

    def __init__(self, worker_id: int, batch_id: int, interval: float):
        self.worker_id = worker_id
        self.batch_id = batch_id
        self.interval = interval
        self.next_heartbeat = time.monotonic() + interval
        self.in_flight = False
        self.lost = False


def _classify(outcome: Any) -> tuple[str, str, Optional[int]]:
    """('ack' | 'retry' | 'fatal', error text, delay_ms) of one outcome."""
    if isinstance(outcome, Fatal):
        return "fatal", describe(outcome), None
    if isinstance(outcome, Retry):
        return "retry", describe(outcome), outcome.delay_ms
    if isinstance(outcome, BaseException):
        return "retry", describe(outcome), None
    return "ack", "", None


class BatchWorker:
    """See the module docstring."""

    def __init__(
        self,
        queue: str,
        batch_keys: Sequence[str],
        handler: Callable[[LeasedBatch], Sequence[Any]],
        *,
        slots: int = 1,
        max_tasks: int = 64,
        max_cost: int = 0,
        max_wait_ms: int = 5,
        lease_ms: int = 0,
        worker_name: Optional[str] = None,
        client: Optional[Client] = None,
        address: Optional[str] = None,
        token: Optional[str] = None,
        poll_wait_ms: int = 1000,
        heartbeat_interval: Optional[float] = None,
        on_error: Optional[Callable[[BaseException], None]] = None,
    ):
        """``client``: a Client to use (it must outlive the worker; its
        connection carries the registration); else the worker connects to
        ``address`` (default $SLUICE_BROKER or 127.0.0.1:7400) on start() and
        closes that client on stop()."""
        if isinstance(batch_keys, str):
            raise TypeError("batch_keys is a list of str, not one str")
        self.registration = BatchRegistration(
            queue=queue,
            batch_keys=list(batch_keys),
            slots=slots,
            max_tasks=max_tasks,
            max_cost=max_cost,
            max_wait_ms=max_wait_ms,
            lease_ms=lease_ms,
            worker=worker_name or default_worker_name(),
        )
        self.handler = handler
        self.poll_wait_ms = poll_wait_ms
        self.heartbeat_interval = heartbeat_interval
        self.on_error = on_error
        self.client = client
        self._own_client = client is None
        self._address = address or os.environ.get("SLUICE_BROKER", "127.0.0.1:7400")
        self._token = token

        self._mu = threading.Lock()
        self._cv = threading.Condition(self._mu)
        self._started = False
        self._stopping = False
        self._stopped = False
        self._heartbeat_exit = False
        self._registering = False
        self._worker_id = 0
        self._generation = 0
        self._next_key = 1
        self._running: dict[int, _Running] = {}
        self._heartbeats_in_flight = 0
        self._stats = BatchWorkerStats()
        self._slots: list[threading.Thread] = []
        self._heartbeater: Optional[threading.Thread] = None
        self._stop_requested = threading.Event()

    # ------------------------------------------------------------ control

    def start(self) -> "BatchWorker":
        """Registers and starts the threads; raises the broker's error when it
        refuses the registration (nothing started then)."""
        with self._mu:
            if self._started:
                raise RuntimeError("BatchWorker.start called twice")
            self._started = True
        try:
            if self.client is None:
                self.client = Client(self._address, self._token, client_name="sluice-python-batch")
            worker_id = self.client.batch_register(self.registration)
        except BaseException:
            with self._mu:
                self._started = False
            if self._own_client and self.client is not None:
                self.client.close()
                self.client = None
            raise
        with self._mu:
            self._worker_id = worker_id
        for i in range(self.registration.slots):
            t = threading.Thread(target=self._slot_loop, name=f"sluice-slot-{i}", daemon=True)
            t.start()
            self._slots.append(t)
        self._heartbeater = threading.Thread(
            target=self._heartbeat_loop, name="sluice-batch-heartbeat", daemon=True
        )
        self._heartbeater.start()
        return self

    def stop(self) -> None:
        """Stops polling, finishes the running batches and their acks and
        nacks, joins every thread. Idempotent; not from the handler."""
        with self._mu:
            if self._heartbeater is None or self._stopped:
                return
            self._stopping = True
            self._cv.notify_all()
        self._stop_requested.set()
        for t in self._slots:
            t.join()
        with self._mu:
            self._heartbeat_exit = True
            self._cv.notify_all()
        self._heartbeater.join()
        with self._mu:
            while self._heartbeats_in_flight:
                self._cv.wait()
        if self._own_client:
            self.client.close()
        with self._mu:
            self._stopped = True

    def run(self, install_signal_handlers: bool = True) -> None:
        """start(), block until SIGTERM / SIGINT (or request_stop()), stop()."""
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
        self._stop_requested.set()

    def stats(self) -> BatchWorkerStats:
        with self._mu:
            return BatchWorkerStats(**vars(self._stats))

    @property
    def worker_id(self) -> int:
        """The current registration's id (changes when the worker registers
        again); 0 before start()."""
        with self._mu:
            return self._worker_id

    def __enter__(self) -> "BatchWorker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ internals

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

    def _pause(self, seconds: float) -> bool:
        """Sleeps unless stopping; False when stopping."""
        with self._mu:
            if seconds > 0 and not self._stopping:
                self._cv.wait(seconds)
            return not self._stopping

    def _slot_loop(self) -> None:
        pause = 0.0
        while self._pause(pause):
            with self._mu:
                worker_id, generation = self._worker_id, self._generation
            try:
                batch = self.client.batch_lease(worker_id, self.poll_wait_ms)
            except NotFound:
                try:
                    self._reregister(generation)
                    pause = 0.0
                except SluiceError as e:
                    pause = min(_MAX_PAUSE, max(_MIN_PAUSE, pause * 2))
                    self._report(e)
                except _Stopping:
                    return
                continue
            except SluiceError as e:
                pause = min(_MAX_PAUSE, max(_MIN_PAUSE, pause * 2))
                self._report(e)
                continue
            pause = 0.0
            if batch.id == 0:
                continue  # the wait ended with no batch
            self._run_batch(worker_id, batch)

    def _reregister(self, stale: int) -> None:
        """The registration of generation ``stale`` is gone: registers again,
        once for every slot (a slot that comes second finds a newer
        generation and polls with its id). Generations, not ids: a restarted
        broker may hand out the same id again."""
        with self._mu:
            while self._registering and not self._stopping:
                self._cv.wait()
            if self._stopping:
                raise _Stopping()
            if self._generation != stale:
                return
            self._registering = True
        try:
            worker_id = self.client.batch_register(self.registration)
        finally:
            with self._mu:
                self._registering = False
                self._cv.notify_all()
        with self._mu:
            self._worker_id = worker_id
            self._generation += 1
            self._stats.reregistered += 1

    def _interval(self, batch: LeasedBatch) -> float:
        if self.heartbeat_interval:
            return self.heartbeat_interval
        if self.registration.lease_ms > 0:
            return max(0.001, self.registration.lease_ms / 3000.0)
        left = batch.deadline_ms / 1000.0 - time.time()
        return min(10.0, max(0.01, left / 3))

    def _run_batch(self, worker_id: int, batch: LeasedBatch) -> None:
        running = _Running(worker_id, batch.id, self._interval(batch))
        with self._mu:
            key = self._next_key
            self._next_key += 1
            self._running[key] = running
            self._stats.batches += 1
            self._stats.tasks += len(batch.tasks)
            self._cv.notify_all()  # the heartbeater's next wake-up may be sooner now
        n = len(batch.tasks)
        failure = None
        try:
            outcomes = list(self.handler(batch))
            if len(outcomes) != n:
                failure = (
                    f"batch handler returned {len(outcomes)} outcomes for a batch of {n} tasks "
                    "(one per task, in order): every task of the batch is retried"
                )
        except Exception as e:
            failure = f"batch handler raised {describe(e)} (every task of the batch is retried)"
        if failure is not None:
            outcomes = [Retry(failure)] * n
        with self._mu:
            del self._running[key]
        self._finish(batch, outcomes)

    def _finish(self, batch: LeasedBatch, outcomes: list) -> None:
        """Acks the successes in one request and nacks the others, all at
        once; returns when every answer came."""
        acks = []
        futures = []
        for task, outcome in zip(batch.tasks, outcomes):
            kind, error, delay = _classify(outcome)
            if kind == "ack":
                acks.append(task.token)
            else:
                try:
                    f = self.client.futures.nack(task.token, error, kind == "fatal", delay)
                except SluiceError as e:
                    self._report(e)
                    continue
                futures.append((kind, f))
        ack_future = None
        if acks:
            try:
                ack_future = self.client.futures.ack_many(acks)
            except SluiceError as e:
                self._report(e)
        report: list[BaseException] = []
        if ack_future is not None:
            error = ack_future.exception()
            codes = [error] * len(acks) if error is not None else ack_future.result()
            with self._mu:
                for c in codes:
                    if c is None:
                        self._stats.succeeded += 1
                    elif isinstance(c, LEASE_GONE):
                        self._stats.lease_lost += 1
                    elif error is None or not report:
                        report.append(c)  # a failed request is reported once
        for kind, f in futures:
            e = f.exception()
            with self._mu:
                if e is None:
                    if kind == "fatal":
                        self._stats.failed += 1
                    else:
                        self._stats.retried += 1
                elif isinstance(e, LEASE_GONE):
                    self._stats.lease_lost += 1
                else:
                    report.append(e)
        for e in report:
            self._report(e)

    def _heartbeat_loop(self) -> None:
        with self._mu:
            while not self._heartbeat_exit:
                now = time.monotonic()
                wake = now + 0.25
                due = []
                for r in self._running.values():
                    if r.in_flight or r.lost:
                        continue
                    if r.next_heartbeat <= now:
                        due.append(r)
                    else:
                        wake = min(wake, r.next_heartbeat)
                for r in due:
                    r.in_flight = True
                    self._heartbeats_in_flight += 1
                    self._mu.release()
                    try:
                        self._send_heartbeat(r)
                    finally:
                        self._mu.acquire()
                self._cv.wait(max(0.0, wake - time.monotonic()))

    def _send_heartbeat(self, r: _Running) -> None:
        def done(fut) -> None:
            e = fut.exception() if fut is not None else failed[0]
            report = None
            with self._mu:
                r.in_flight = False
                r.next_heartbeat = time.monotonic() + r.interval
                if e is not None:
                    if isinstance(e, LEASE_GONE):
                        r.lost = True
                    else:
                        report = e
                elif fut.result().tasks_held == 0:
                    r.lost = True  # nothing left to extend
            if report is not None:
                self._report(report)
            with self._mu:
                self._heartbeats_in_flight -= 1
                self._cv.notify_all()

        failed: list[BaseException] = [None]
        try:
            fut = self.client.futures.batch_heartbeat(
                r.worker_id, r.batch_id, self.registration.lease_ms
            )
        except SluiceError as e:
            failed[0] = e
            done(None)
            return
        fut.add_done_callback(done)


class _Stopping(Exception):
    pass
