"""TLS from the Python clients to a real sluiced with [tls] (docs/security.md):
certificates made by tests/support/make_test_pki.sh (the openssl CLI); the
sync client (threads reading and writing one TLS connection at once) and the
asyncio client; an untrusted broker, a plaintext client on the TLS port,
mTLS with and without a client certificate."""

import asyncio
import subprocess
import threading

import pytest

from conftest import REPO

import sluice
from sluice import aio


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    subprocess.run([str(REPO / "tests" / "support" / "make_test_pki.sh"), str(d)], check=True)
    return d


def tls_config(pki, client_ca: bool = False) -> str:
    text = f'[tls]\ncert_file = "{pki / "server.pem"}"\nkey_file = "{pki / "server.key"}"\n'
    if client_ca:
        text += f'client_ca_file = "{pki / "ca.pem"}"\n'
    return text


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_sync_client_over_tls(own_broker, pki, queue):
    b = own_broker(tls_config(pki))
    with sluice.Client(b.address, tls=True, ca_file=str(pki / "ca.pem"), request_timeout=10) as c:
        r = c.enqueue(queue, b"x" * 100_000)  # several TLS records
        [t] = c.lease(queue, wait_ms=2000)
        assert t.id == r.id and t.payload == b"x" * 100_000
        c.ack(t.token)
        # Many threads writing while the reader thread reads: one TLS stream.
        errors = []

        def produce(n):
            try:
                for i in range(n):
                    c.enqueue(queue, b"%d" % i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=produce, args=(50,)) for _ in range(8)]
        for th in threads:
            th.start()
        futures = [c.futures.enqueue(queue, b"f") for _ in range(100)]
        for th in threads:
            th.join()
        assert not errors, errors
        assert all(f.result(timeout=10).id > 0 for f in futures)
        assert c.stats(queue).queues[0].ready == 500


def test_untrusted_broker_is_refused(own_broker, pki):
    b = own_broker(tls_config(pki))
    with pytest.raises(sluice.Unavailable) as e:
        sluice.Client(b.address, tls=True, ca_file=str(pki / "other-ca.pem"))
    assert "certificate verify failed" in e.value.message
    with pytest.raises(sluice.Unavailable) as e:
        sluice.Client(b.address, tls=True, ca_file=str(pki / "ca.pem"), server_hostname="x.invalid")
    assert "certificate verify failed" in e.value.message
    # The name the certificate carries (DNS:localhost) passes.
    sluice.Client(b.address, tls=True, ca_file=str(pki / "ca.pem"), server_hostname="localhost").close()


def test_plaintext_client_is_told_to_use_tls(own_broker, pki):
    b = own_broker(tls_config(pki))
    with pytest.raises(sluice.ProtocolError) as e:
        sluice.Client(b.address)
    assert "speaks TLS" in e.value.message


def test_tls_files_need_tls_and_must_exist(pki):
    with pytest.raises(sluice.InvalidArgument):
        sluice.Client("127.0.0.1:1", ca_file=str(pki / "ca.pem"), connect=False)
    with pytest.raises(sluice.InvalidArgument) as e:
        sluice.Client("127.0.0.1:1", tls=True, ca_file=str(pki / "missing.pem"), connect=False)
    assert "missing.pem" in e.value.message


def test_mtls(own_broker, pki, queue):
    b = own_broker(tls_config(pki, client_ca=True))
    ca = str(pki / "ca.pem")
    with sluice.Client(
        b.address, tls=True, ca_file=ca, cert_file=str(pki / "client.pem"), key_file=str(pki / "client.key")
    ) as c:
        c.enqueue(queue, b"m")
    with pytest.raises(sluice.Unavailable) as e:
        sluice.Client(b.address, tls=True, ca_file=ca)
    assert "CERTIFICATE_REQUIRED" in e.value.message.upper()
    with pytest.raises(sluice.Unavailable):
        sluice.Client(
            b.address, tls=True, ca_file=ca, cert_file=str(pki / "stranger.pem"), key_file=str(pki / "stranger.key")
        )


def test_aio_over_tls(own_broker, pki, queue):
    b = own_broker(tls_config(pki))
    ca = str(pki / "ca.pem")

    async def main():
        async with await aio.connect(b.address, tls=True, ca_file=ca, request_timeout=10) as c:
            rs = await asyncio.gather(*(c.enqueue(queue, b"a%d" % i) for i in range(50)))
            got = await c.lease(queue, 50, wait_ms=2000)
            assert sorted(t.id for t in got) == sorted(r.id for r in rs)
            await c.ack_many([t.token for t in got])
        with pytest.raises(sluice.Unavailable) as e:
            await aio.connect(b.address, tls=True, ca_file=str(pki / "other-ca.pem"))
        assert "certificate verify failed" in e.value.message
        with pytest.raises(sluice.ProtocolError) as e:
            await aio.connect(b.address)
        assert "speaks TLS" in e.value.message

    run(main())
