"""TLS for the Python clients (docs/security.md, "TLS").

:func:`context` makes the ``ssl.SSLContext`` both clients use: TLS 1.2 or
later, the broker's certificate checked against ``ca_file`` (None: the
system's trust store) and against the name or IP connected to, and a client
certificate for a broker with mTLS. The asyncio client hands it to
``asyncio.open_connection``.

:class:`TlsSocket` is what the threaded :class:`sluice.Client` uses instead
of ``SSLContext.wrap_socket``: an ``ssl.SSLSocket`` must not be read by one
thread while others write to it (the reader thread blocks in ``recv`` while
callers send), so the TLS state lives in an ``ssl.SSLObject`` over memory
BIOs, guarded by a lock that is never held across a blocking socket call.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Optional, Union

from .errors import InvalidArgument, Unavailable

_CHUNK = 256 << 10


def context(
    ca_file: Optional[str] = None,
    cert_file: Optional[str] = None,
    key_file: Optional[str] = None,
) -> ssl.SSLContext:
    """The client context for sluiced's TLS listener. Raises InvalidArgument
    naming a file that cannot be used."""
    if (cert_file is None) != (key_file is None):
        raise InvalidArgument("TLS: cert_file and key_file go together (a client certificate and its key)")
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        if cert_file is not None:
            ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"TLS: cannot load {e.filename or ca_file or cert_file}: {e}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # sluiced closes connections without close_notify; frames carry their
    # length, so a cut stream is still noticed (an incomplete frame).
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


def resolve(
    tls: Union[bool, ssl.SSLContext],
    ca_file: Optional[str],
    cert_file: Optional[str],
    key_file: Optional[str],
) -> Optional[ssl.SSLContext]:
    """The context a client's ``tls=`` and file arguments ask for; None for
    plaintext. The files without ``tls`` are a mistake, said at once."""
    if isinstance(tls, ssl.SSLContext):
        return tls
    if tls:
        return context(ca_file, cert_file, key_file)
    if ca_file or cert_file or key_file:
        raise InvalidArgument("ca_file, cert_file and key_file need tls=True")
    return None


def handshake_failed(endpoint: str, e: BaseException) -> Unavailable:
    """The Unavailable for a TLS handshake that failed, with what to check."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return Unavailable(
            f"TLS handshake with {endpoint} failed: certificate verify failed: {e.verify_message} "
            "(the broker's certificate is not signed by a CA of ca_file, or does not name the "
            "host connected to)"
        )
    if isinstance(e, ssl.SSLError) and e.reason == "WRONG_VERSION_NUMBER":
        return Unavailable(
            f"TLS handshake with {endpoint} failed: {e} (the broker does not speak TLS on this "
            "port: is [tls] set in its sluiced.toml?)"
        )
    return Unavailable(f"TLS handshake with {endpoint} failed: {e}")


class TlsSocket:
    """A connected TCP socket that carries TLS (see the module docstring).
    ``recv`` from one thread and ``sendall`` from others may run at once;
    records leave in the order their bytes were produced."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, server_hostname: str):
        self._sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_side=False, server_hostname=server_hostname)
        self._ssl_lock = threading.Lock()  # the SSLObject and both BIOs
        self._send_lock = threading.Lock()  # taken before _ssl_lock: output leaves in order

    def handshake(self) -> None:
        """The client handshake, bounded by the socket's timeout. Raises
        ssl.SSLError (with ssl.SSLCertVerificationError), OSError,
        socket.timeout."""
        while True:
            try:
                with self._ssl_lock:
                    self._obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                self._feed_or_eof("the broker closed the connection during the TLS handshake")

    def recv(self, n: int) -> bytes:
        """Up to n decrypted bytes; b"" at the end of the stream. Blocks (as
        the socket's timeout says) until some arrive."""
        while True:
            with self._ssl_lock:
                try:
                    data: Optional[bytes] = self._obj.read(n)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    data = b""
                answer_waits = self._out.pending > 0  # e.g. a TLS 1.3 key update
            if answer_waits:
                self._flush()
            if data is not None:
                return data
            raw = self._sock.recv(_CHUNK)
            if not raw:
                return b""
            with self._ssl_lock:
                self._in.write(raw)

    def sendall(self, data: bytes) -> None:
        with self._send_lock:
            with self._ssl_lock:
                self._obj.write(data)
                out = self._out.read()
            self._sock.sendall(out)

    def _flush(self) -> None:
        with self._send_lock:
            with self._ssl_lock:
                out = self._out.read()
            if out:
                self._sock.sendall(out)

    def _feed_or_eof(self, eof_message: str) -> None:
        raw = self._sock.recv(_CHUNK)
        if not raw:
            raise ConnectionError(eof_message)
        with self._ssl_lock:
            self._in.write(raw)

    @property
    def version(self) -> Optional[str]:
        return self._obj.version()

    def getpeercert(self) -> dict:
        return self._obj.getpeercert()

    # The socket's own methods the client uses.
    def settimeout(self, t: Optional[float]) -> None:
        self._sock.settimeout(t)

    def setsockopt(self, *args) -> None:
        self._sock.setsockopt(*args)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()
