"""pytest fixtures: a real sluiced per module (or per test), started like the
C++ integration tests start it (tests/integration/broker_process.cc):
``--listen 127.0.0.1:0 --data-dir <temp>``, optionally ``--config``, and the
bound port read from its "sluiced listening on HOST:PORT" line.

Binaries: $SLUICED (ctest sets it to the built target), else
<repo>/build/broker/sluiced; $SLUICECTL, else <repo>/build/tools/sluicectl.
Run with Debian's interpreter (/usr/bin/python3), which sees python3-flatbuffers.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

PY_DIR = Path(__file__).resolve().parents[1]
REPO = PY_DIR.parents[1]
sys.path.insert(0, str(PY_DIR))

import sluice  # noqa: E402


def _binary(env: str, default: str) -> str:
    path = os.environ.get(env) or str(REPO / default)
    return path


SLUICED = _binary("SLUICED", "build/broker/sluiced")
SLUICECTL = _binary("SLUICECTL", "build/tools/sluicectl")


class Broker:
    """One sluiced process on a temp data dir. start() waits for its
    listening line; stop() is SIGTERM, kill() SIGKILL; restart() reuses the
    data dir (and, with same_port, the port)."""

    def __init__(self, work_dir: Path, config: str = "", extra_args=()):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.work_dir / "data"
        self.config_path = None
        if config:
            self.config_path = self.work_dir / "sluiced.toml"
            self.config_path.write_text(config)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.log_path = self.work_dir / "sluiced.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, port: int = 0, timeout: float = 20.0) -> "Broker":
        if not os.access(SLUICED, os.X_OK):
            pytest.fail(f"sluiced not found at {SLUICED}: build it, or set SLUICED")
        args = [SLUICED, "--listen", f"127.0.0.1:{port}", "--data-dir", str(self.data_dir)]
        if self.config_path:
            args += ["--config", str(self.config_path)]
        args += self.extra_args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        marker = b"sluiced listening on "
        out = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                pytest.fail(f"sluiced printed no listening line in {timeout} s; log: {self.log()}")
            chunk = os.read(fd, 512)
            if not chunk:
                code = self.proc.wait(5)
                pytest.fail(f"sluiced exited before listening, exit code {code}; log: {self.log()}")
            out += chunk
        line = out.split(b"\n", 1)[0]
        assert line.startswith(marker), line
        host, _, p = line[len(marker) :].decode().rpartition(":")
        self.host, self.port = host, int(p)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        if not self.running:
            return -1
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -1
        finally:
            self._close()

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def restart(self, same_port: bool = True) -> "Broker":
        assert not self.running, "stop or kill first"
        port = self.port if same_port else 0
        for _ in range(50):  # the old socket may linger for a moment
            try:
                return self.start(port)
            except pytest.fail.Exception:
                if not same_port:
                    raise
                time.sleep(0.1)
        return self.start(port)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker shared by the tests of a module (each uses its own queues)."""
    b = Broker(tmp_path_factory.mktemp("sluiced")).start()
    yield b
    b.kill()


@pytest.fixture
def own_broker(tmp_path):
    """A broker for one test (to kill, restart or configure)."""
    brokers = []

    def make(config: str = "", extra_args=()) -> Broker:
        b = Broker(tmp_path / f"b{len(brokers)}", config, extra_args)
        b.work_dir.mkdir(parents=True, exist_ok=True)
        brokers.append(b)
        return b.start()

    yield make
    for b in brokers:
        b.kill()


@pytest.fixture
def client(broker):
    c = sluice.Client(broker.address, request_timeout=10)
    yield c
    c.close()


@pytest.fixture
def queue():
    """A queue name no other test uses."""
    return "q-" + uuid.uuid4().hex[:12]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def has_batch_requests(address: str) -> bool:
    """Whether the broker knows BatchList (brokers before the batching
    scheduler answer PROTOCOL "unknown body type")."""
    with sluice.Client(address) as c:
        try:
            c.list_batches()
            return True
        except sluice.ProtocolError:
            return False


def py_env() -> dict:
    """Environment for a child Python process that imports sluice from the
    checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PY_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


PYTHON = sys.executable
TMP = tempfile.gettempdir()
