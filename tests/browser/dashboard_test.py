#!/usr/bin/python3
"""The dashboard page (issue 18) in a real headless Chromium against a real sluiced.

  dashboard_test.py --sluiced PATH --sluicectl PATH --screenshot OUT.png

Starts sluiced with auth on and an HTTP port, makes a workload with sluicectl
(two queues, two tenants, three dead letters), checks that /api/* answers 401
without the token, then drives Debian's chromium through chromedriver's
WebDriver protocol (plain HTTP + JSON, standard library only): the page first
shows the auth error, then, with the token typed in, the queue depths, the
tenants and the dead letters; a history opens; Redrive on one dead letter makes
exactly that task ready again (checked through the API) and the page's dead
count drops; a stopped broker shows as unreachable. The screenshot (PNG) is
written to OUT.png and its path printed.

Waits poll the DOM with a deadline; no fixed sleeps. Exit 0 when every check
passes, 1 with the reason otherwise (chromium missing included: tools/
install-deps.sh installs it; this test never skips).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "browser-s3cret"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C WebDriver element key


class Failure(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


def wait_until(what: str, read, ok=bool, timeout: float = 30.0, poll: float = 0.1):
    """Calls read() until ok(value) holds; returns that value. Fails after
    timeout, showing the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {value!r}")
        time.sleep(poll)


def http_json(url: str, method: str = "GET", body=None, headers=None, timeout: float = 60.0):
    """(status, parsed JSON body or None) of one request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def stop_process(proc, timeout: float) -> None:
    """SIGTERM, then SIGKILL once `timeout` passes; reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ sluiced


class Broker:
    """sluiced on a temp data dir: native port and HTTP port from its stdout."""

    def __init__(self, sluiced: str, work: str):
        self.sluiced = sluiced
        self.work = work
        self.proc = None
        self.port = 0
        self.http_port = 0

    def start(self, timeout: float = 30.0) -> None:
        config = os.path.join(self.work, "sluiced.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nauth_token = "{TOKEN}"\n[http]\nlisten = "127.0.0.1:0"\n')
        log = open(os.path.join(self.work, "sluiced.log"), "ab")
        self.proc = subprocess.Popen(
            [self.sluiced, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.work, "data"),
             "--config", config],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        out = b""
        deadline = time.monotonic() + timeout
        while b"sluiced listening on " not in out or not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise Failure(f"sluiced printed no listening line in {timeout:.0f} s")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise Failure(f"sluiced exited at start-up (code {self.proc.wait(5)}): {self.log()}")
            out += chunk
        for line in out.decode().splitlines():
            if line.startswith("sluiced http on "):
                self.http_port = int(line.rpartition(":")[2])
            if line.startswith("sluiced listening on "):
                self.port = int(line.rpartition(":")[2])
        check(self.http_port > 0, "sluiced printed no 'sluiced http on' line")

    def log(self) -> str:
        try:
            with open(os.path.join(self.work, "sluiced.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc, 20)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def api(self, path: str, token: str | None = TOKEN, method: str = "GET", body=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http_json(self.base + path, method, body, headers)


class Ctl:
    """sluicectl --json against the broker, with the token."""

    def __init__(self, sluicectl: str, broker: Broker):
        self.sluicectl = sluicectl
        self.broker = broker

    def __call__(self, *args: str):
        argv = [self.sluicectl, "--broker", f"127.0.0.1:{self.broker.port}", "--token", TOKEN,
                "--json", *args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"{' '.join(args)}: exit {r.returncode}: {r.stderr}{r.stdout}")
        return json.loads(r.stdout)

    def enqueue(self, queue: str, tenant: str, payload: str) -> int:
        return self("enqueue", "--queue", queue, "--tenant", tenant, "--payload", payload)["id"]

    def kill(self, queue: str, count: int, worker: str, error: str) -> list[int]:
        """Leases `count` tasks of `queue` and nacks each fatally: dead letters."""
        leased = self("lease", "--queue", queue, "--count", str(count), "--wait", "5000",
                      "--worker", worker)["tasks"]
        check(len(leased) == count, f"leased {len(leased)} of {queue}, wanted {count}")
        for t in leased:
            check(self("nack", "--fatal", "--error", error, t["token"])["dead"], "not dead")
        return [t["id"] for t in leased]


# ---------------------------------------------------------------- WebDriver


class WebDriver:
    """A chromedriver process and one headless Chromium session (W3C protocol)."""

    def __init__(self, work: str):
        self.work = work
        self.proc = None
        self.url = ""
        self.session = ""

    def start(self) -> None:
        with socket.socket() as s:  # a free port for chromedriver
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = os.path.join(self.work, "chromedriver.log")
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}", f"--log-path={log}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"

        def ready():
            if self.proc.poll() is not None:
                raise Failure(f"chromedriver exited with {self.proc.returncode}; see {log}")
            try:
                status, body = http_json(self.url + "/status", timeout=2)
            except OSError:
                return False
            return status == 200 and body["value"]["ready"]

        wait_until("chromedriver to answer /status", ready)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900", "--no-first-run",
                         "--disable-extensions", f"--user-data-dir={self.work}/profile"],
            },
        }}}
        status, body = http_json(self.url + "/session", "POST", caps, timeout=120)
        check(status == 200, f"no Chromium session: {status} {body}")
        self.session = body["value"]["sessionId"]

    def _call(self, method: str, path: str, body=None):
        status, reply = http_json(f"{self.url}/session/{self.session}{path}", method,
                                  {} if body is None and method == "POST" else body)
        if status != 200:
            raise Failure(f"WebDriver {method} {path}: {status} {reply}")
        return reply["value"]

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        """Runs `script` (a function body) in the page; returns its value."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css: str) -> str:
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        check(ELEMENT in found, f"no element {css!r}: {found}")
        return found[ELEMENT]

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def screenshot(self, path: str) -> None:
        png = base64.b64decode(self._call("GET", "/screenshot"))
        check(png.startswith(b"\x89PNG"), "the screenshot is no PNG")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)

    def quit(self) -> None:
        if self.session:
            try:
                http_json(f"{self.url}/session/{self.session}", "DELETE", timeout=30)
            except OSError:
                pass
        stop_process(self.proc, 10)


# What the page shows, read from its DOM in one script.
READ_PAGE = """
const cell = (tr, col) => { const c = tr.querySelector('[data-col="' + col + '"]'); return c ? c.textContent.trim() : null; };
const queues = {};
for (const tr of document.querySelectorAll('#queues tbody tr[data-queue]'))
  queues[tr.dataset.queue] = {ready: cell(tr, 'ready'), leased: cell(tr, 'leased'), dead: cell(tr, 'dead')};
const tenants = {};
for (const tr of document.querySelectorAll('#tenants tbody tr[data-tenant]'))
  tenants[tr.dataset.tenant] = {ready: cell(tr, 'ready'), inflight: cell(tr, 'inflight'), share: cell(tr, 'share')};
const dead = Array.from(document.querySelectorAll('#dead tbody tr.dead-row')).map(tr => Number(tr.dataset.id));
const banner = document.getElementById('banner');
return {queues, tenants, dead,
        dead_total: document.getElementById('dead-total').textContent.trim(),
        banner: banner.classList.contains('show') ? banner.textContent : '',
        status: document.getElementById('status').textContent};
"""

# The text of the history shown under dead letter arguments[0] ('' if none).
HISTORY = """
const h = document.querySelector('tr.history-row[data-for="' + arguments[0] + '"] .history');
return h ? h.textContent : '';
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sluiced", required=True)
    parser.add_argument("--sluicectl", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            print(f"FAIL: {path} is missing: apt-get install {package} (tools/install-deps.sh "
                  "installs it)", file=sys.stderr)
            return 1

    work = tempfile.mkdtemp(prefix="sluice-dashboard-")
    broker = Broker(args.sluiced, work)
    driver = WebDriver(work)
    ok = False
    try:
        broker.start()
        ctl = Ctl(args.sluicectl, broker)
        print(f"sluiced: native {broker.port}, http {broker.http_port}")

        # Workload: emails 3 acme + 2 globex, reports 2 acme + 4 globex; then
        # two emails and one report die (fatal nacks).
        for queue, tenant, n in (("emails", "acme", 3), ("emails", "globex", 2),
                                 ("reports", "acme", 2), ("reports", "globex", 4)):
            for i in range(n):
                ctl.enqueue(queue, tenant, f'{{"to": "user{i}@{tenant}.example", "n": {i}}}')
        dead_emails = ctl.kill("emails", 2, "mailer-1", "smtp 550: mailbox unavailable")
        dead_reports = ctl.kill("reports", 1, "render-2", "template <missing> & gone")
        dead = dead_emails + dead_reports
        print(f"dead letters: {dead}")

        # The API without (or with a wrong) token.
        for token in (None, "wrong"):
            status, body = broker.api("/api/overview", token=token)
            check(status == 401 and "error" in body, f"/api/overview with token {token!r}: {status} {body}")
        status, body = broker.api("/api/redrive", token=None, method="POST", body={"id": dead[0]})
        check(status == 401, f"redrive without a token: {status} {body}")

        driver.start()
        driver.get(broker.base + "/")
        def read_page():
            return driver.run(READ_PAGE)

        page = wait_until("the page's auth error (401)", read_page, lambda p: p["banner"])
        check("401" in page["banner"] and "token" in page["banner"], f"banner: {page['banner']!r}")
        print(f"without the token the page says: {page['banner'].strip()[:100]}")

        driver.type("#token", TOKEN)
        driver.click("#token-save")
        page = wait_until(
            "queue depths, tenants and dead letters", read_page,
            lambda p: not p["banner"]
            and p["queues"].get("emails") == {"ready": "3", "leased": "0", "dead": "2"}
            and p["queues"].get("reports") == {"ready": "5", "leased": "0", "dead": "1"}
            and sorted(p["dead"]) == sorted(dead) and p["dead_total"] == "3")
        check(page["tenants"].get("acme", {}).get("ready") == "3"
              and page["tenants"].get("globex", {}).get("ready") == "5", f"tenants: {page['tenants']}")
        check(page["status"] == "ready", f"status pill: {page['status']!r}")
        print(f"page shows queues {page['queues']} and dead letters {page['dead']}")

        # One dead letter's history.
        target = dead_emails[0]
        driver.click(f'#dead tr.dead-row[data-id="{target}"] button.history')
        history = wait_until("the history of the dead letter", lambda: driver.run(HISTORY, target))
        for part in ("mailer-1", "smtp 550: mailbox unavailable", "nacked_fatal"):
            check(part in history, f"history lacks {part!r}: {history!r}")
        print(f"history of {target}: {history[:120]!r}")

        # Redrive that one from the page.
        driver.click(f'#dead tr.dead-row[data-id="{target}"] button.redrive')
        page = wait_until(
            "the redriven task to leave the page's dead letters", read_page,
            lambda p: p["dead_total"] == "2" and target not in p["dead"]
            and p["queues"]["emails"]["dead"] == "1" and p["queues"]["emails"]["ready"] == "4")
        check(sorted(page["dead"]) == sorted(d for d in dead if d != target), f"dead rows: {page['dead']}")
        # Through the broker: exactly that task is ready again.
        status, body = broker.api(f"/api/task?id={target}")
        check(status == 200 and body["task"]["state"] == "ready", f"task {target}: {status} {body}")
        for other in dead:
            if other != target:
                status, body = broker.api(f"/api/task?id={other}")
                check(body["task"]["state"] == "dead", f"task {other} is {body['task']['state']}")
        status, body = broker.api("/api/dead?limit=500")
        check(sorted(d["id"] for d in body["dead"]) == sorted(d for d in dead if d != target),
              f"/api/dead after the redrive: {body}")
        print(f"redrove {target}: ready again; the page shows {page['dead_total']} dead letters")

        # A history open in the screenshot.
        driver.click(f'#dead tr.dead-row[data-id="{dead_reports[0]}"] button.history')
        wait_until("the second history", lambda: driver.run(HISTORY, dead_reports[0]),
                   lambda h: "render-2" in h)
        driver.screenshot(args.screenshot)
        print(f"screenshot: {os.path.abspath(args.screenshot)}")

        # The broker goes away: the page says so.
        broker.stop()
        page = wait_until("the page to show the broker unreachable", read_page,
                          lambda p: "unreachable" in p["banner"])
        print(f"broker stopped, the page says: {page['banner'].strip()[:100]}")
        ok = True
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"sluiced log tail:\n{broker.log()}", file=sys.stderr)
    finally:
        driver.quit()
        broker.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} (logs)", file=sys.stderr)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
