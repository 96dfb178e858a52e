"""A small HTTP/1.1 load generator for ``digitlab bench serve`` (digitlab.bench.serve).

Each simulated client holds one keep-alive connection and sends its next request as soon as the last
answer arrives (closed loop), so N clients keep N requests in flight. Requests are pre-built bytes and
answers are parsed only as far as status and length: the generator must cost far less CPU than the
server it measures, since both share this machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from digitlab.bench.stats import latency_summary


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    statuses: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    wrong: int = 0  # 200 answers whose digits differ from the label (a sanity check, not a figure)

    def summary(self) -> dict:
        """Requests, errors by kind, req/s, and latency percentiles of the successful requests (ms, 2 decimals)."""
        ok = int(self.statuses.get(200, 0))
        errors = sum(n for s, n in self.statuses.items() if s != 200) + self.connection_errors
        return {"concurrency": self.concurrency, "seconds": round(self.seconds, 2), "requests": ok + errors,
                "ok": ok, "errors": errors, "status_5xx": sum(n for s, n in self.statuses.items() if s >= 500),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "connection_errors": self.connection_errors, "wrong_digits": self.wrong,
                "req_per_s": round(ok / self.seconds, 1) if self.seconds else 0.0,
                **latency_summary(self.latencies, (50, 90, 99, 100), digits=2)}


def build_request(host: str, port: int, path: str, body: bytes, content_type: str,
                  api_key: str | None = None) -> bytes:
    """One keep-alive HTTP/1.1 POST as bytes, built once and sent many times."""
    headers = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Type: {content_type}",
               f"Content-Length: {len(body)}", "Connection: keep-alive"]
    if api_key:
        headers.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length) if length else b""


async def _client(host: str, port: int, requests: list[tuple[bytes, str]], start: int, deadline: float,
                  result: LoadResult, check_every: int) -> None:
    writer = None
    sent = 0
    while time.perf_counter() < deadline:
        request, expected = requests[(start + sent) % len(requests)]
        sent += 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            began = time.perf_counter()
            writer.write(request)
            status, body = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            result.connection_errors += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.latencies.append(time.perf_counter() - began)
            if sent % check_every == 0 and json.loads(body).get("digits") != expected:
                result.wrong += 1
    if writer is not None:
        writer.close()


async def run_load(host: str, port: int, requests: list[tuple[bytes, str]], concurrency: int, seconds: float,
                   check_every: int = 10) -> LoadResult:
    """``concurrency`` closed-loop clients for ``seconds``; ``requests`` are (bytes, expected digits) pairs."""
    result = LoadResult(concurrency, 0.0)
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(_client(host, port, requests, i * 7, deadline, result, check_every)
                           for i in range(concurrency)))
    result.seconds = time.perf_counter() - began
    return result


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
