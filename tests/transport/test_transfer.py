"""Downloads and uploads against a real local HTTP(S) server: the bytes and hashes that land on
disk, resuming with Range after a drop, limits, redirects, errors that name the URL without its
secrets, and TLS verification on by default."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from thingmodel.transport import TlsOptions
from thingmodel.transport.transfer import Downloaded, TransferError, download, upload

from ..integration.certs import make_ca, make_server

FIRMWARE = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit, not a multiple of the chunk
TOKEN = "s3cr3t-bearer-token"
SIGNATURE = "X-Sig=very-secret-signature"


@dataclasses.dataclass
class Seen:
    method: str
    path: str  # with its query
    headers: dict[str, str]
    body: bytes = b""


@dataclasses.dataclass
class Plan:
    """What the server does; each test sets the parts it needs."""

    files: dict[str, bytes] = dataclasses.field(default_factory=lambda: {"/fw.bin": FIRMWARE})
    drop_after: int | None = None  # once: close the connection after this many body bytes
    ignore_range: bool = False
    no_length: bool = False  # send the body without Content-Length, ending it by closing
    extra: int = 0  # bytes sent after the announced Content-Length
    statuses: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # answered first, in turn
    redirects: dict[str, str] = dataclasses.field(default_factory=dict)
    bearer: str = TOKEN  # required under /private/
    seen: list[Seen] = dataclasses.field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _empty(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        plan = self.server.plan
        plan.seen.append(Seen("GET", self.path, dict(self.headers.items())))
        path = self.path.split("?", 1)[0]
        if plan.statuses.get(path):
            self._empty(plan.statuses[path].pop(0))
            return
        if path in plan.redirects:
            self._empty(302, Location=plan.redirects[path])
            return
        if path.startswith("/private/") and self.headers.get("Authorization") != f"Bearer {plan.bearer}":
            self._empty(401)
            return
        body = plan.files.get(path.replace("/private/", "/"))
        if body is None:
            self._empty(404)
            return
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = 0
        if wanted and not plan.ignore_range:
            start = int(wanted.group(1))
            if start >= len(body):
                self._empty(416, Content_Range=f"bytes */{len(body)}")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        if plan.no_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if plan.drop_after is not None:
            self.wfile.write(payload[: plan.drop_after])
            plan.drop_after = None
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload + b"x" * plan.extra)

    def _receive(self) -> None:
        plan = self.server.plan
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        plan.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        statuses = plan.statuses.get(self.path.split("?", 1)[0])
        self._empty(statuses.pop(0) if statuses else 201)

    do_PUT = _receive
    do_POST = _receive


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.plan = Plan()
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if context else "http"
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server_address[1]}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def digests(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


def assert_is_firmware(result: Downloaded, dest: Path) -> None:
    assert dest.read_bytes() == FIRMWARE
    assert (result.path, result.size) == (dest, len(FIRMWARE))
    assert (result.sha256, result.md5) == digests(FIRMWARE)
    assert not dest.with_name(dest.name + ".part").exists()


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


# -- downloads --------------------------------------------------------------------------------
def test_a_download_lands_whole_with_its_hashes_and_reports_progress(server: Server, tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    dest = tmp_path / "fw.bin"
    result = download(
        server.url("/fw.bin"), dest, on_progress=lambda done, total: progress.append((done, total))
    )
    assert_is_firmware(result, dest)
    assert progress[-1] == (len(FIRMWARE), len(FIRMWARE))
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert len(progress) == -(-len(FIRMWARE) // (1 << 16))


def test_the_bearer_token_is_sent_and_a_refusal_names_the_url_not_its_secrets(
    server: Server, tmp_path: Path
) -> None:
    dest = tmp_path / "fw.bin"
    assert_is_firmware(download(server.url(f"/private/fw.bin?{SIGNATURE}"), dest, token=TOKEN), dest)
    assert server.plan.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"

    dest.unlink()
    server.plan.seen.clear()
    with pytest.raises(TransferError) as caught:
        download(server.url(f"/private/fw.bin?{SIGNATURE}"), dest, token="wrong-token-value", backoff=0)
    message = str(caught.value)
    assert caught.value.status == 401
    assert message == f"download {server.url('/private/fw.bin')}: HTTP 401 Unauthorized"
    assert "wrong-token-value" not in message and "very-secret" not in message
    assert len(server.plan.seen) == 1  # a 4xx is not retried
    assert not dest.exists()


def test_a_dropped_connection_resumes_with_range_and_hashes_the_whole_file(
    server: Server, tmp_path: Path
) -> None:
    server.plan.drop_after = 300_000
    progress: list[tuple[int, int | None]] = []
    dest = tmp_path / "fw.bin"
    result = download(
        server.url("/fw.bin"),
        dest,
        backoff=0.01,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert_is_firmware(result, dest)
    assert [seen.headers.get("Range") for seen in server.plan.seen] == [None, "bytes=300000-"]
    assert all(total == len(FIRMWARE) for _, total in progress)  # the whole size, also once resumed


def test_a_part_file_from_before_is_resumed_and_counted_in_the_hashes(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "fw.bin"
    part_of(dest).write_bytes(FIRMWARE[:123_457])
    assert_is_firmware(download(server.url("/fw.bin"), dest), dest)
    assert [seen.headers.get("Range") for seen in server.plan.seen] == ["bytes=123457-"]


def test_a_part_file_that_is_already_whole_is_not_fetched_again(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "fw.bin"
    part_of(dest).write_bytes(FIRMWARE)
    assert_is_firmware(download(server.url("/fw.bin"), dest), dest)
    assert [seen.headers.get("Range") for seen in server.plan.seen] == [f"bytes={len(FIRMWARE)}-"]  # 416


def test_a_server_ignoring_range_is_read_from_the_start(server: Server, tmp_path: Path) -> None:
    server.plan.ignore_range = True
    dest = tmp_path / "fw.bin"
    part_of(dest).write_bytes(b"stale bytes of some other file")
    assert_is_firmware(download(server.url("/fw.bin"), dest), dest)
    assert server.plan.seen[0].headers["Range"] == "bytes=30-"


def test_a_5xx_is_retried_with_backoff_then_succeeds(server: Server, tmp_path: Path) -> None:
    server.plan.statuses["/fw.bin"] = [500, 503]
    dest = tmp_path / "fw.bin"
    assert_is_firmware(download(server.url("/fw.bin"), dest, backoff=0.01), dest)
    assert len(server.plan.seen) == 3


def test_a_5xx_that_persists_gives_up_after_the_retries(server: Server, tmp_path: Path) -> None:
    server.plan.statuses["/fw.bin"] = [500] * 10
    with pytest.raises(
        TransferError, match=r"HTTP 500 Internal Server Error \(gave up after 2 retries\)"
    ) as caught:
        download(server.url("/fw.bin"), tmp_path / "fw.bin", retries=2, backoff=0.01)
    assert caught.value.status == 500
    assert len(server.plan.seen) == 3


def test_a_404_fails_at_once_naming_the_url_without_its_query(server: Server, tmp_path: Path) -> None:
    with pytest.raises(TransferError) as caught:
        download(server.url(f"/missing.bin?{SIGNATURE}"), tmp_path / "fw.bin")
    assert caught.value.status == 404
    assert str(caught.value) == f"download {server.url('/missing.bin')}: HTTP 404 Not Found"
    assert len(server.plan.seen) == 1


def test_no_server_at_all_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransferError) as caught:
        download(f"http://127.0.0.1:{port}/fw.bin?{SIGNATURE}", tmp_path / "fw.bin", retries=2, backoff=0.01)
    assert caught.value.status is None
    assert str(caught.value).startswith(f"download http://127.0.0.1:{port}/fw.bin: ConnectionRefusedError")
    assert str(caught.value).endswith("(gave up after 2 retries)")


def test_redirects_are_followed_and_the_token_stays_with_its_host(server: Server, tmp_path: Path) -> None:
    server.plan.redirects = {
        "/private/a": "/private/b",
        "/private/b": server.url("/fw.bin", host="localhost"),
    }
    dest = tmp_path / "fw.bin"
    assert_is_firmware(download(server.url("/private/a"), dest, token=TOKEN), dest)
    assert [seen.path for seen in server.plan.seen] == ["/private/a", "/private/b", "/fw.bin"]
    assert [seen.headers.get("Authorization") for seen in server.plan.seen] == [f"Bearer {TOKEN}"] * 2 + [
        None
    ]


def test_more_than_five_redirects_are_refused(server: Server, tmp_path: Path) -> None:
    server.plan.redirects = {"/loop": "/loop"}
    with pytest.raises(TransferError, match="more than 5 redirects") as caught:
        download(server.url("/loop"), tmp_path / "fw.bin")
    assert caught.value.status == 302
    assert len(server.plan.seen) == 6


def test_a_file_larger_than_announced_is_refused_before_it_is_written(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "fw.bin"
    with pytest.raises(
        TransferError, match=rf"is {len(FIRMWARE)} bytes, more than the announced size \(1000\)"
    ):
        download(server.url("/fw.bin"), dest, size=1000)
    with pytest.raises(TransferError, match=r"more than max_bytes \(4096\)"):
        download(server.url("/fw.bin"), dest, max_bytes=4096)
    with pytest.raises(
        TransferError, match=rf"is {len(FIRMWARE)} bytes, not the announced {len(FIRMWARE) + 1}"
    ):
        download(server.url("/fw.bin"), dest, size=len(FIRMWARE) + 1)
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_length_is_cut_off_at_the_announced_size(server: Server, tmp_path: Path) -> None:
    server.plan.no_length = True
    dest = tmp_path / "fw.bin"
    with pytest.raises(TransferError, match=r"the body is larger than the announced size \(500000 bytes\)"):
        download(server.url("/fw.bin"), dest, size=500_000)
    assert list(tmp_path.iterdir()) == []  # the partial file is gone
    assert_is_firmware(download(server.url("/fw.bin"), dest, size=len(FIRMWARE)), dest)


def test_bytes_past_the_content_length_are_not_taken(server: Server, tmp_path: Path) -> None:
    server.plan.extra = 5000
    dest = tmp_path / "fw.bin"
    assert_is_firmware(download(server.url("/fw.bin"), dest), dest)


def test_should_stop_cancels_and_a_later_call_resumes(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "fw.bin"
    got: list[int] = []
    with pytest.raises(TransferError, match=r": cancelled$"):
        download(
            server.url("/fw.bin"),
            dest,
            chunk=4096,
            on_progress=lambda done, total: got.append(done),
            should_stop=lambda: len(got) >= 10,
        )
    assert not dest.exists() and part_of(dest).stat().st_size == 40_960
    assert not [thread for thread in threading.enumerate() if thread.name == "thingmodel-md5"]
    assert_is_firmware(download(server.url("/fw.bin"), dest), dest)
    assert server.plan.seen[-1].headers["Range"] == "bytes=40960-"


def test_logs_never_show_the_token_or_the_query(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="thingmodel")
    server.plan.drop_after = 1000
    server.plan.statuses["/private/fw.bin"] = [502]
    download(server.url(f"/private/fw.bin?{SIGNATURE}"), tmp_path / "fw.bin", token=TOKEN, backoff=0.01)
    with pytest.raises(TransferError):
        download(server.url(f"/nothing?{SIGNATURE}"), tmp_path / "x", token=TOKEN)
    assert "HTTP 502" in caplog.text and "connection closed at byte 1000" in caplog.text
    assert TOKEN not in caplog.text and "very-secret" not in caplog.text
    assert all(record.name == "thingmodel.transport.transfer" for record in caplog.records)


def test_bad_arguments_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match=r"download ftp://host/fw.bin: not an http:// or https:// URL"):
        download("ftp://host/fw.bin?k=v", tmp_path / "fw.bin")
    with pytest.raises(ValueError, match="token must be printable ASCII") as caught:
        download("http://127.0.0.1:1/fw.bin", tmp_path / "fw.bin", token="abc\r\nX-Evil: 1")
    assert "Evil" not in str(caught.value)
    with pytest.raises(TransferError, match=r"cannot use .*nowhere.*fw.bin.part: No such file or directory"):
        download("http://127.0.0.1:1/fw.bin", tmp_path / "nowhere" / "fw.bin")


# -- uploads ----------------------------------------------------------------------------------
def test_an_upload_sends_the_bytes_and_adds_no_content_type(server: Server) -> None:
    assert upload(server.url(f"/up/log.txt?{SIGNATURE}"), b"hello log") == 201
    seen = server.plan.seen[-1]
    assert (seen.method, seen.path, seen.body) == ("PUT", f"/up/log.txt?{SIGNATURE}", b"hello log")
    assert seen.headers["Content-Length"] == "9"
    assert "Content-Type" not in seen.headers  # a presigned OBS URL answers 403 to one it did not sign


def test_an_upload_streams_a_file_with_the_given_headers(server: Server, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(FIRMWARE)
    assert upload(server.url("/up"), source, method="POST", headers={"Content-Type": "text/plain"}) == 201
    seen = server.plan.seen[-1]
    assert (seen.method, seen.body, seen.headers["Content-Type"]) == ("POST", FIRMWARE, "text/plain")


def test_an_upload_refused_names_the_url_without_its_signature(server: Server) -> None:
    server.plan.statuses["/up"] = [403]
    with pytest.raises(TransferError) as caught:
        upload(server.url(f"/up?{SIGNATURE}"), b"x", headers={"Authorization": "Bearer upload-secret"})
    assert caught.value.status == 403
    assert str(caught.value) == f"upload {server.url('/up')}: HTTP 403 Forbidden"
    with pytest.raises(TransferError, match=r"upload http://127.0.0.1:\d+/up: cannot read .*missing"):
        upload(server.url("/up"), Path("missing"))


# -- HTTPS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory, "transfer-ca")
    cert, key = make_server(directory, ca, "server", "IP:127.0.0.1,DNS:localhost")
    return {"ca": ca[0], "cert": cert, "key": key}


@pytest.fixture
def https_server(pki: dict[str, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    running = Server(context)
    yield running
    running.close()


def test_https_verifies_by_default_and_trusts_only_what_it_is_told(
    https_server: Server,
    server: Server,
    pki: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dest = tmp_path / "fw.bin"
    url = https_server.url("/fw.bin")
    with pytest.raises(
        TransferError, match=r"certificate verification failed: unable to get local issuer certificate"
    ) as caught:
        download(url, dest)  # the system store does not know our CA: refused, and not retried
    assert caught.value.status is None
    assert str(caught.value).startswith(f"download {url}: ")
    with pytest.raises(TransferError, match="certificate verification failed"):
        upload(https_server.url("/up"), b"x")
    assert https_server.plan.seen == []

    assert_is_firmware(download(url, dest, tls=TlsOptions(ca_file=str(pki["ca"]))), dest)
    assert upload(https_server.url("/up"), b"x", tls=TlsOptions(ca_file=str(pki["ca"]))) == 201

    dest.unlink()
    with caplog.at_level(logging.WARNING, logger="thingmodel.transport.transfer"):
        assert_is_firmware(download(url, dest, tls=TlsOptions(insecure=True)), dest)
    assert "TLS VERIFICATION IS OFF" in caplog.text

    https_server.plan.redirects = {"/down": server.url("/fw.bin")}
    with pytest.raises(TransferError, match=r"refused a redirect from https to plain http") as redirected:
        download(https_server.url("/down"), dest, tls=TlsOptions(ca_file=str(pki["ca"])))
    assert redirected.value.status == 302
    assert server.plan.seen == []


def test_md5_is_skipped_when_not_asked_for_and_sha256_still_covers_the_file(
    server: Server, tmp_path: Path
) -> None:
    dest = tmp_path / "fw.bin"
    got = download(server.url("/fw.bin"), dest, md5=False)
    assert got.md5 == "" and got.sha256 == hashlib.sha256(FIRMWARE).hexdigest()
    assert dest.read_bytes() == FIRMWARE
