"""TLS for the embedded broker's listener: :class:`ServerTls`, and the server side of a handshake.

The embedded broker accepts plain TCP and runs the TLS handshake itself (:func:`start_tls`), rather
than handing asyncio's server an SSL context: asyncio drops a failed handshake without a word, and
the broker owes one log line naming the peer and the reason.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys

import attrs

from ..errors import BrokerError


def _path(value: str | os.PathLike[str]) -> str:
    return os.fspath(value)


def _optional_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


@attrs.frozen
class ServerTls:
    """A TLS listener's certificate and, optionally, the CA its clients' certificates must chain to.

    With ``cafile`` every client must present a certificate that CA signed (mutual TLS, as AWS
    IoT's device endpoint asks); without it no client certificate is asked for.
    """

    #: the server certificate (PEM), followed by any intermediate certificates
    certfile: str = attrs.field(converter=_path)
    #: its private key (PEM, unencrypted)
    keyfile: str = attrs.field(converter=_path)
    #: the CA certificates (PEM) client certificates must chain to; None: no client certificate
    cafile: str | None = attrs.field(default=None, converter=_optional_path)

    def context(self) -> ssl.SSLContext:
        """A server-side SSL context (TLS 1.2 or later); BrokerError when a file cannot be loaded."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            problem = f"cannot load the server certificate {self.certfile} or its key {self.keyfile}"
            raise BrokerError(f"{problem}: {exc}") from None
        if self.cafile is not None:
            try:
                context.load_verify_locations(self.cafile)
            except (OSError, ValueError) as exc:
                raise BrokerError(f"cannot load the client CA certificates {self.cafile}: {exc}") from None
            context.verify_mode = ssl.CERT_REQUIRED
        return context


#: OpenSSL's reasons for a failed handshake, as the broker's log line says them
_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate presented",
    "WRONG_VERSION_NUMBER": "not TLS (plain MQTT on the TLS port?)",
    "HTTP_REQUEST": "not TLS (an HTTP request)",
    "UNSUPPORTED_PROTOCOL": "the client's TLS version is not served (TLS 1.2 or later)",
}


def handshake_failure(exc: ssl.SSLError) -> str:
    """Why a server-side handshake failed, in a few words (no traceback)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"client certificate not accepted: {exc.verify_message}"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        if reason in _REASONS:
            return _REASONS[reason]
        if reason.startswith(("SSLV3_ALERT_", "TLSV1_ALERT_")):  # the client gave up on us
            alert = reason.split("ALERT_", 1)[1].lower().replace("_", " ")
            return f"the client ended the handshake: {alert}"
        return reason.lower().replace("_", " ")
    return str(exc) or type(exc).__name__


async def start_tls(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, timeout: float
) -> asyncio.StreamWriter:
    """Run the server side of a TLS handshake on an accepted stream; the writer to use from now on.

    The reader keeps working (it reads the decrypted stream). Call it before anything reads from
    the stream or the task yields, so that the client's first TLS record is not read as plaintext.
    Raises what the handshake raised: ssl.SSLError, ConnectionError, or asyncio.TimeoutError
    when it took longer than ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    # asyncio's own timeout, not asyncio.wait_for: that runs the handshake in a task of its own,
    # and the task switch lets the stream reader take the client's first record.
    try:
        return await _upgrade(writer, context, timeout)
    except ConnectionAbortedError:  # what asyncio's handshake timeout raises
        if loop.time() - started >= 0.9 * timeout:  # (not an abort of its own, by the peer)
            raise asyncio.TimeoutError(f"no TLS handshake within {timeout:g} s") from None
        raise


async def _upgrade(
    writer: asyncio.StreamWriter, context: ssl.SSLContext, timeout: float
) -> asyncio.StreamWriter:
    if sys.version_info >= (3, 11):
        await writer.start_tls(context, ssl_handshake_timeout=timeout)
        return writer
    # Python 3.10 has no StreamWriter.start_tls: the same steps by hand.
    loop = asyncio.get_running_loop()
    protocol = writer.transport.get_protocol()
    transport = await loop.start_tls(
        writer.transport, protocol, context, server_side=True, ssl_handshake_timeout=timeout
    )
    if transport is None:
        raise ConnectionResetError("the connection closed during the TLS handshake")
    reader = getattr(protocol, "_stream_reader", None)
    upgraded = asyncio.StreamWriter(transport, protocol, reader, loop)
    # What StreamReaderProtocol._replace_writer (3.11) updates.
    vars(protocol).update(_stream_writer=upgraded, _transport=transport, _over_ssl=True)
    return upgraded
