"""Interop with the C++ client: sluicectl is built on it (client/client.h).
A task enqueued from Python is leased by the C++ side and the other way
round; headers and payload bytes arrive unchanged."""

import base64
import json
import os
import subprocess

import pytest

from conftest import SLUICECTL

import sluice

# Bytes that are not UTF-8, a NUL, and every byte value once.
PAYLOAD = b"\x00\xff\xfe binary \x80" + bytes(range(256))
HEADERS = [
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("tracestate", "vendor=\u00e9t\u00e9,x=\u65e5\u672c"),
    ("empty", ""),
]


def ctl(broker, *args):
    if not os.access(SLUICECTL, os.X_OK):
        pytest.skip(f"sluicectl not built at {SLUICECTL} (set SLUICECTL)")
    out = subprocess.run(
        [SLUICECTL, "--broker", broker.address, "--json", *args],
        capture_output=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def test_python_to_cpp(broker, client, queue):
    r = client.enqueue(queue, PAYLOAD, tenant="acme", priority=3, headers=HEADERS, max_attempts=4)
    got = ctl(broker, "lease", "--queue", queue, "--wait", "2000")
    [t] = got["tasks"]
    assert t["id"] == r.id and t["tenant"] == "acme" and t["priority"] == 3
    assert t["max_attempts"] == 4 and t["attempt"] == 1
    assert base64.b64decode(t["payload_base64"]) == PAYLOAD
    assert t["headers"] == dict(HEADERS)
    assert ctl(broker, "ack", t["token"])["acked"] == 1
    with pytest.raises(sluice.NotFound):
        client.task_show(r.id)


def test_cpp_to_python(broker, client, queue, tmp_path):
    payload_file = tmp_path / "payload.bin"
    payload_file.write_bytes(PAYLOAD)
    args = ["enqueue", "--queue", queue, "--payload-file", str(payload_file), "--tenant", "acme",
            "--priority", "2", "--max-attempts", "5"]
    for k, v in HEADERS:
        args += ["--header", f"{k}={v}"]
    r = ctl(broker, *args)
    [t] = client.lease(queue, 1, wait_ms=2000)
    assert t.id == r["id"] and t.tenant == "acme" and t.priority == 2 and t.max_attempts == 5
    assert t.payload == PAYLOAD
    assert t.headers == HEADERS  # order kept
    # A checkpoint and a nack from Python; the C++ side leases attempt 2 and
    # sees the checkpoint, acks it, and Python sees the task gone.
    client.checkpoint(t.token, b"\x01\x02\x03")
    client.nack(t.token, "handing over to C++", delay_ms=0)
    [t2] = ctl(broker, "lease", "--queue", queue, "--wait", "2000")["tasks"]
    assert t2["attempt"] == 2 and t2["checkpoint_bytes"] == 3
    assert base64.b64decode(t2["payload_base64"]) == PAYLOAD
    ctl(broker, "ack", t2["token"])
    with pytest.raises(sluice.NotFound):
        client.ack(t.token)  # the task is gone: acked by the C++ side
    with pytest.raises(sluice.NotFound):
        client.task_show(t.id)


def test_tokens_print_and_parse_alike(broker, client, queue):
    client.enqueue(queue, b"x")
    [t] = client.lease(queue, 1, wait_ms=2000)
    # A Python token's text form is what sluicectl takes.
    assert ctl(broker, "heartbeat", str(t.token), "--lease", "5000")["deadline_ms"] > 0
    out = ctl(broker, "nack", str(t.token), "--error", "from C++", "--delay", "0")
    assert out["dead"] is False
    [t2] = client.lease(queue, 1, wait_ms=2000)
    assert client.task_show(t2.id).attempts[0].error == "from C++"
    client.ack(t2.token)
