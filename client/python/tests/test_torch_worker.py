"""examples/torch_worker.py serves batches on the CPU (skipped cleanly
without python3-torch)."""

import json
import sys

import pytest

from conftest import PY_DIR, has_batch_requests, wait_until

torch = pytest.importorskip("torch")

sys.path.insert(0, str(PY_DIR / "examples"))
import torch_worker  # noqa: E402

import sluice  # noqa: E402

TINY = ["--device", "cpu", "--seq", "16", "--d-model", "32", "--heads", "2", "--layers", "1"]


@pytest.fixture
def batching_broker(broker):
    if not has_batch_requests(broker.address):
        pytest.skip("this sluiced predates the batching scheduler")
    return broker


def test_bench_serves_every_row_in_batches(batching_broker, queue, capsys):
    assert torch_worker.main(
        ["bench", "--broker", batching_broker.address, "--queue", queue, "--tasks", "96",
         "--batch", "16", "--max-wait-ms", "2", *TINY]
    ) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["mode"] == "broker" and out["device"] == "cpu" and out["rows"] == 96
    assert out["batches"] < 96 and out["mean_batch"] > 1 and out["rows_per_s"] > 0


def test_each_row_gets_the_models_output(batching_broker, queue):
    import argparse

    shape = argparse.Namespace(device="cpu", seq=16, d_model=32, heads=2, layers=1)
    runner = torch_worker.Runner(shape)
    client = sluice.Client(batching_broker.address)
    rows = [bytes([i, i + 1, 200, 7]) * 4 for i in range(12)]
    torch_worker.enqueue_rows(client, queue, "tiny", rows)
    counter = [0]
    inner = torch_worker.make_handler(runner, client, True, counter)
    checked = []

    def handler(batch):
        out = inner(batch)
        for t in batch.tasks:
            [entry] = client.journal_get(t.token, "output")
            # The batched output of a row equals the model run on that row alone.
            alone = runner([t.payload])[0, : len(t.payload)].tolist()
            assert list(entry.value) == alone
            checked.append(t.id)
        return out

    w = sluice.BatchWorker(queue, ["tiny"], handler, max_tasks=8, max_wait_ms=2, client=client,
                           poll_wait_ms=200)
    with w:
        wait_until(lambda: w.stats().succeeded == 12, 20, what="12 rows served")
    assert len(checked) == 12 and counter[0] == 12 and w.stats().batches < 12
    client.close()


def test_direct_baseline(capsys):
    assert torch_worker.main(["direct", "--tasks", "64", "--batch", "16", *TINY]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["mode"] == "direct" and out["rows"] == 64 and out["rows_per_s"] > 0
