"""A hostile publisher on 127.0.0.1: every way a feed server can misbehave, one path each.

`HostileServer` answers on raw sockets, so it can do what no well-behaved HTTP library
would: reset the connection, hang up without a word, drip a byte a second, send gzip bombs,
redirect in circles or to the cloud metadata address. `BEHAVIOURS` names each misbehaviour
(the path is `/<name>`), `hits` counts requests per path (external entities and DTDs must
never be fetched: `/secret` and `/evil.dtd` stay at zero), `sent` counts body bytes of the
endless answers. `/polite` is a well-behaved but slow feed that records `most_at_once`: the
most requests it was answering at the same time, per Host header.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

BOMB_BYTES = 256 * 1024 * 1024  # what a bomb inflates to: far past any body limit
ITEM_COUNT_HUGE = 50_000


def rss(items: Iterable[str], title: str = "Враждебная лента", head: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return f'{head}\n<rss version="2.0"><channel><title>{title}</title><link>https://hostile.example/</link>\n{"".join(items)}</channel></rss>\n'


def item(number: int, title: str | None = None, guid: str | None = None, date: str = "Wed, 25 Nov 2026 08:00:00 +0700") -> str:
    title = title or f"Новость номер {number} о жизни города"
    guid = guid or f"hostile-{number}"
    return (
        f"<item><title>{title}</title><link>https://hostile.example/news/{number}</link><guid>{guid}</guid>"
        f"<description>Текст новости {number}.</description><pubDate>{date}</pubDate></item>\n"
    )


GOOD = rss(item(n) for n in range(1, 4))


class Answer:
    """How one request is answered: a status line, headers, a body, sent as given."""

    def __init__(self, handler: socketserver.StreamRequestHandler, server: HostileServer, host: str) -> None:
        self.handler, self.server, self.host = handler, server, host

    def send(
        self,
        status: str,
        body: bytes = b"",
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
        if length:
            head.append(f"Content-Length: {len(body)}")
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def write(self, data: bytes) -> bool:
        try:
            self.handler.wfile.write(data)
            return True
        except OSError:
            return False

    def drip(self, path: str, data: Iterable[bytes], pause: float) -> None:
        """Send piece after piece with a pause between, until the client hangs up."""
        for piece in data:
            if self.server.stopping.is_set() or not self.write(piece):
                return
            self.server.sent[path] += len(piece)
            time.sleep(pause)


Behaviour = Callable[[Answer], None]


def _status(status: str, headers: dict[str, str] | None = None) -> Behaviour:
    return lambda answer: answer.send(status, b"<html><body>error</body></html>", "text/html", headers)


def _document(
    body: str | bytes, content_type: str = "application/rss+xml; charset=utf-8", headers: dict[str, str] | None = None
) -> Behaviour:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return lambda answer: answer.send("200 OK", data, content_type, headers)


def _lazy(make: Callable[[], bytes], content_type: str = "application/rss+xml", headers: dict[str, str] | None = None) -> Behaviour:
    return lambda answer: answer.send("200 OK", make(), content_type, headers)


def _reset(answer: Answer) -> None:
    connection = answer.handler.connection
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _hang_up(answer: Answer) -> None:
    answer.handler.connection.close()


def _not_http(answer: Answer) -> None:
    answer.write(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n")


def _endless(answer: Answer) -> None:
    """A body without a length that never ends (until the client hangs up)."""
    answer.send("200 OK", b"", length=False)
    chunk = item(0).encode() * 200
    answer.drip("/huge", iter(lambda: chunk, None), 0)


def _slow_drip(answer: Answer) -> None:
    answer.send("200 OK", b"", length=False)
    answer.drip("/slow_drip", iter(lambda: b" ", None), answer.server.drip_seconds)


def _slow_headers(answer: Answer) -> None:
    answer.write(b"HTTP/1.1 200 OK\r\n")
    answer.drip("/slow_headers", iter(lambda: b"X", None), answer.server.drip_seconds)


def _polite(answer: Answer) -> None:
    """A good feed that takes its time, counting how many requests per host overlap."""
    host = answer.host.rsplit(":", 1)[0]
    with answer.server.lock:
        answer.server.in_flight[host] += 1
        answer.server.most_at_once[host] = max(answer.server.most_at_once.get(host, 0), answer.server.in_flight[host])
    time.sleep(0.3)
    with answer.server.lock:
        answer.server.in_flight[host] -= 1
    answer.send("200 OK", GOOD.encode())


def _redirect(location: Callable[[HostileServer], str], status: str = "302 Found") -> Behaviour:
    return lambda answer: answer.send(status, b"", "text/html", {"Location": location(answer.server)})


@cache
def gzip_bomb() -> bytes:
    return _compress(zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), b'<?xml version="1.0"?><rss version="2.0"><channel><title>')


@cache
def deflate_bomb() -> bytes:
    return _compress(zlib.compressobj(9), b'<rss version="2.0"><channel><title>')


def _compress(compressor: Any, start: bytes) -> bytes:
    zeros = b" " * (1024 * 1024)
    parts = [compressor.compress(start)]
    parts += [compressor.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
    return b"".join(parts) + compressor.flush()


@cache
def fifty_thousand_items() -> bytes:
    """About 6 MB: under the default 10 MB body limit, so it is the entry count that is tested."""
    items = (
        f"<item><title>Новость {n}</title><link>https://hostile.example/n/{n}</link><guid>h{n}</guid></item>\n"
        for n in range(ITEM_COUNT_HUGE)
    )
    return rss(items).encode("utf-8")


BILLION_LAUGHS = rss(
    [item(1, title="&lol9;")],
    head='<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n' for n in range(1, 10))
    + "]>",
)
QUADRATIC_BLOWUP = rss([item(1, title="&a;" * 100_000)], head='<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + "x" * 900 + '">]>')


def _entity(target: Callable[[HostileServer], str]) -> Behaviour:
    def answer(answer: Answer) -> None:
        head = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY xxe SYSTEM "{target(answer.server)}">\n]>'
        answer.send("200 OK", rss([item(1, title="Секрет: &xxe;")], head=head).encode())

    return answer


def _external_dtd(answer: Answer) -> None:
    head = f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{answer.server.base}/evil.dtd">'
    answer.send("200 OK", rss([item(71)], head=head).encode())


BEHAVIOURS: dict[str, Behaviour] = {
    "server_error": _status("500 Internal Server Error"),
    "bad_gateway": _status("502 Bad Gateway"),
    "unavailable": _status("503 Service Unavailable", {"Retry-After": "7200"}),
    "not_found": _status("404 Not Found"),
    "gone": _status("410 Gone"),
    "throttled": _status("429 Too Many Requests", {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}),
    "reset": _reset,
    "hang_up": _hang_up,
    "not_http": _not_http,
    "empty": _document(b""),
    "html": _document(
        "<!doctype html><html><head><title>Новости</title></head><body><h1>Новости</h1></body></html>", "text/html; charset=utf-8"
    ),
    "html_as_rss": _document("<!doctype html><html><body><p>Страница не найдена</p></body></html>"),
    "truncated": _document(rss(item(n) for n in range(11, 16))[:-300]),
    "junk": _lazy(lambda: bytes(range(256)) * 64, "application/rss+xml"),
    "gzip_bomb": _lazy(gzip_bomb, headers={"Content-Encoding": "gzip"}),
    "deflate_bomb": _lazy(deflate_bomb, headers={"Content-Encoding": "deflate"}),
    "corrupt_gzip": _document(b"\x1f\x8b\x08\x00this is not gzip at all" * 10, headers={"Content-Encoding": "gzip"}),
    "huge": _endless,
    "huge_declared": lambda answer: answer.send("200 OK", b"", headers={"Content-Length": str(5 * 1024**3)}, length=False),
    "slow_drip": _slow_drip,
    "slow_headers": _slow_headers,
    "redirect_loop": _redirect(lambda server: "/redirect_loop_2"),
    "redirect_loop_2": _redirect(lambda server: "/redirect_loop", "301 Moved Permanently"),
    "redirect_chain": _redirect(lambda server: f"/redirect_chain?hop={server.hits['/redirect_chain']}", "301 Moved Permanently"),
    "redirect_private": _redirect(lambda server: "http://169.254.169.254/latest/meta-data/"),
    "duplicate_guids": _document(rss([item(21), item(22, guid="hostile-21"), item(23), item(24, guid="hostile-23")])),
    "future_dates": _document(rss([item(31, date="Fri, 01 Jan 2100 00:00:00 +0000"), item(32)])),
    "fifty_thousand": _lazy(fifty_thousand_items),
    "billion_laughs": _document(BILLION_LAUGHS),
    "quadratic_blowup": _document(QUADRATIC_BLOWUP),
    "external_entity_file": _entity(lambda server: "file:///etc/passwd"),
    "external_entity_http": _entity(lambda server: f"{server.base}/secret"),
    "external_dtd": _external_dtd,
    "wrong_encoding": _document(
        rss([item(41, title="Трамваи вернутся на проспект Ленина")], head='<?xml version="1.0" encoding="utf-8"?>').encode("koi8-r"),
        "application/rss+xml; charset=utf-8",
    ),
    "no_declaration_cp1251": _document(
        rss([item(51, title="Губернатор подписал указ о поддержке бизнеса")], head="").encode("cp1251"), "application/xml"
    ),
    "control_characters": _document(rss([item(61, title="Заголовок\x01 с\x0b управляющими\x1f символами"), item(62)])),
    "lying_content_type": _document(GOOD, "image/png"),
    "secret": _document("root:x:0:0:root:/root:/bin/bash", "text/plain"),
    "polite": _polite,
    "evil.dtd": _document('<!ENTITY leak SYSTEM "file:///etc/passwd">', "application/xml-dtd"),
}
NOT_FEEDS = {"redirect_loop_2", "secret", "evil.dtd", "polite"}  # helpers, and a good feed


class HostileServer:
    """Listens on 127.0.0.1; `/<name>` misbehaves as `BEHAVIOURS[name]` says."""

    def __init__(self, drip_seconds: float = 1.0) -> None:
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.most_at_once: dict[str, int] = {}
        self.drip_seconds = drip_seconds
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                path, host = server.read_request(self)
                behaviour = BEHAVIOURS.get(path.split("?")[0].lstrip("/"))
                answer = Answer(self, server, host)
                if behaviour is None:
                    answer.send("404 Not Found", b"no such misbehaviour", "text/plain")
                else:
                    behaviour(answer)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.tcp.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.tcp.server_address[1]}"
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()

    def read_request(self, handler: socketserver.StreamRequestHandler) -> tuple[str, str]:
        """The request's path and Host header; the path's hit is counted."""
        request_line = handler.rfile.readline(8192).decode("latin-1")
        host = ""
        while (line := handler.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            host = value.strip() if name.strip().lower() == "host" else host
        path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else "/"
        self.hits[path.split("?")[0]] += 1
        return path, host

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def feeds(self) -> dict[str, str]:
        """Every misbehaviour as a feed: name -> URL."""
        return {name: self.url(name) for name in BEHAVIOURS if name not in NOT_FEEDS}

    def close(self) -> None:
        self.stopping.set()
        self.tcp.shutdown()
        self.tcp.server_close()
