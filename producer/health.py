"""A small HTTP health endpoint: ``GET /health`` answers the counters as JSON.

- 200 ``"status": "ok"``: the producer is fine.
- 200 ``"status": "degraded"`` with ``"degradations"``: it runs, but real trades were given up
  (a hole) or a resume point ahead of Binance was corrected in the last 15 minutes
  (`producer.stats.degradations`). Still 200 on purpose: restarting cannot bring those
  trades back, and a monitor that restarts on non-200 would only add downtime. Alert on it.
- 503 ``"status": "failing"`` with ``"problems"``: it is not doing its job right now
  (`producer.stats.health_problems`): a load balancer, systemd's watchdog script or a
  person with curl can tell.

HTTP/1.0, one request a connection; nothing else is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from producer.stats import Stats, degradations, health_problems, health_status

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0


async def start_health_server(host: str, port: int, stats: Stats) -> asyncio.Server:
    """Listen on host:port (0 picks a free port, written to ``stats.health_port``)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass  # headers: nothing in them matters here
            parts = request.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", {"error": "only GET /health"}
            elif path.split("?")[0] not in ("/health", "/"):
                status, body = "404 Not Found", {"error": f"no {path}; try GET /health"}
            else:
                now = time.monotonic()
                verdict, _ = health_status(stats, now)
                status = "503 Service Unavailable" if verdict == "failing" else "200 OK"
                body = {
                    "status": verdict,
                    "problems": health_problems(stats, now),
                    "degradations": degradations(stats, now),
                    **stats.snapshot(),
                }
            payload = json.dumps(body).encode()
            head = (
                f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head + (payload if parts[:1] != ["HEAD"] else b""))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass  # a client that went away or never asked: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(answer, host, port)
    stats.health_port = server.sockets[0].getsockname()[1]
    logger.info("health endpoint on http://%s:%d/health", host, stats.health_port)
    return server
