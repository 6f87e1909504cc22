"""The examples run: examples/agent.py (sync and asyncio) against a real
sluiced; each question is published once although its tools fail now and
then."""

import os
import subprocess

from conftest import PY_DIR, PYTHON


def run_agent(broker, out, *args):
    cmd = [PYTHON, str(PY_DIR / "examples" / "agent.py"), "--broker", broker.address,
           "--out", str(out), "--flaky", "0.3", *args]
    p = subprocess.run(cmd, capture_output=True, timeout=60, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_agent_publishes_each_report_once(broker, tmp_path):
    out = tmp_path / "reports.tsv"
    text = run_agent(broker, out, "run", "why is the sky blue", "what is a b-tree index")
    assert "done: 2 tasks" in text
    text = run_agent(broker, out, "--async", "run", "how do hash tables work")
    assert "done: 1 tasks" in text
    lines = out.read_text().splitlines()
    keys = [line.split("\t")[0] for line in lines]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert sorted(line.split("\t")[1].split(":")[0] for line in lines) == [
        "how do hash tables work", "what is a b-tree index", "why is the sky blue"]
