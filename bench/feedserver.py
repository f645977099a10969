"""A local feed server for the benchmarks, run as its own process so its CPU is not the poller's.

`python -m bench.feedserver --feeds N --items K --latency S --seed X --now TS` serves
`/feeds/<n>.xml` (n < N) from `bench.corpus`, generated before it says `READY <port>` on
stdout. It listens on 127.0.0.1 and, with `--hosts`, on one more loopback address per feed
(`feed_host(n)`, 127.0.1.1 and up), so that each feed is its own site, as real outlets are:
the poller's per-host politeness then limits nothing a real fleet would not. Every response waits `latency` seconds (asyncio, so waits overlap); a request whose
If-None-Match is the feed's ETag gets 304. HTTP/1.1 keep-alive. `/_stats` answers JSON
counts of 200 and 304 answers. It stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
from datetime import UTC, datetime

from bench.corpus import feed_document


def feed_host(number: int) -> str:
    """Feed `number`'s own loopback address: 127.0.1.1, 127.0.1.2, ... (250 per third octet)."""
    return f"127.0.{1 + number // 250}.{1 + number % 250}"


class FeedSite:
    def __init__(self, feeds: int, items: int, seed: int, now: datetime, latency: float) -> None:
        self.latency = latency
        self.bodies = {f"/feeds/{n}.xml": feed_document(n, items, seed, now) for n in range(feeds)}
        self.etags = {path: '"' + hashlib.sha1(body).hexdigest() + '"' for path, body in self.bodies.items()}
        self.stats = {"200": 0, "304": 0, "404": 0}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                path = request_line.split(" ")[1] if " " in request_line else "/"
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                await asyncio.sleep(self.latency)
                writer.write(self.answer(path, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, path: str, headers: dict[str, str]) -> bytes:
        if path == "/_stats":
            return _response(200, json.dumps(self.stats).encode(), {"Content-Type": "application/json"})
        body = self.bodies.get(path)
        if body is None:
            self.stats["404"] += 1
            return _response(404, b"not found", {"Content-Type": "text/plain"})
        etag = self.etags[path]
        if headers.get("if-none-match") == etag:
            self.stats["304"] += 1
            return _response(304, b"", {"ETag": etag})
        self.stats["200"] += 1
        return _response(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})


def _response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    if status != 304:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def serve(site: FeedSite, port: int, hosts: list[str]) -> None:
    server = await asyncio.start_server(site.handle, "127.0.0.1", port, backlog=512)
    port = server.sockets[0].getsockname()[1]
    others = await asyncio.start_server(site.handle, hosts, port, backlog=64) if hosts else None
    print(f"READY {port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(1) or stop.done() or stop.set_result(None))
    async with server:
        await stop
    if others is not None:
        others.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", type=float, default=None, help="UNIX time the corpus is dated against")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hosts", action="store_true", help="also listen on each feed's own loopback address")
    args = parser.parse_args(argv)
    now = datetime.fromtimestamp(args.now, UTC) if args.now else datetime.now(UTC)
    site = FeedSite(args.feeds, args.items, args.seed, now, args.latency)
    hosts = [feed_host(n) for n in range(args.feeds)] if args.hosts else []
    asyncio.run(serve(site, args.port, hosts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
