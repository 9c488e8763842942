"""The dashboard's HTTP server: one page, its scripts, and the JSON API of ``dashboard.api``.

Starting it from other code (``cryptotrades run`` does)::

    from dashboard.server import start_dashboard

    server = start_dashboard("sqlite:///data/onebox/cryptotrades.db", host="127.0.0.1", port=0,
                             dead_letters=runner.dead_letter_count)
    print(server.url)  # http://127.0.0.1:43817/ : the port 0 asked for a free one
    ...
    server.close()  # stops serving, ends open browser connections, closes the database's

``start_dashboard(db_url, host="127.0.0.1", port=0, *, dead_letters=None, symbol="BTCUSDT",
refresh_seconds=5.0, clock=time.time) -> DashboardServer`` returns once the socket
listens; requests are served by a background thread (one thread per request, daemonic).
It opens one database connection first, so a bad URL, password or unreachable server
raises ``dashboard.errors.DashboardError`` at once instead of on the first page load.
A SQLite database without tables yet is fine: the panels answer 503 "no tables yet"
until the migrations ran. ``DashboardServer`` is also a context manager.

Dead letters: the pipeline, not the database, knows how many events it gave up on. Pass
``dead_letters``, a callable taking no argument and answering the current count (an
``int``; ``None`` when it cannot tell). ``/api/health`` calls it on each request from a
server thread, so it must be thread-safe and quick (read a counter; no I/O). Without a
hook, or when it fails or answers None, the health strip reports ``dead_letters: null``
with ``dead_letters_note`` saying why.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.resources
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from dashboard import api
from dashboard.errors import DashboardError
from dashboard.pool import StorePool
from dashboard.settings import DEFAULT_REFRESH_S, DEFAULT_SYMBOL, DashboardSettings

logger = logging.getLogger(__name__)

_PAGE_DIR = Path(__file__).resolve().parent
_GZIP_FROM_BYTES = 1024
_KEEP_ALIVE_S = 30  # an idle browser connection is closed after this long
# The page loads nothing from elsewhere. Plotly sets inline styles, hence 'unsafe-inline'
# for styles only; scripts come from this server alone. A chart's PNG export draws the chart's
# SVG through a blob: image made in the page, hence blob: for images.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class Asset:
    """A file the server sends as it is."""

    body: bytes
    content_type: str
    cache_control: str

    @cached_property
    def gzipped(self) -> bytes:
        return gzip.compress(self.body, compresslevel=6, mtime=0)


def _plotly_js() -> bytes:
    """plotly.js as the ``plotly`` Python package ships it: no CDN, works offline."""
    path = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DashboardError(
            f"plotly.js not found at {path} (is the plotly package installed?): {exc}"
        ) from exc


def load_assets() -> dict[str, Asset]:
    """Every file the page needs, by URL path."""
    page = "no-cache"  # small and ours: always revalidated, so an upgrade shows at once
    return {
        "/": Asset((_PAGE_DIR / "index.html").read_bytes(), "text/html; charset=utf-8", page),
        "/static/page.js": Asset(
            (_PAGE_DIR / "page.js").read_bytes(), "text/javascript; charset=utf-8", page
        ),
        "/static/page.css": Asset((_PAGE_DIR / "page.css").read_bytes(), "text/css; charset=utf-8", page),
        "/static/plotly.min.js": Asset(_plotly_js(), "text/javascript; charset=utf-8", "max-age=86400"),
    }


class _HttpServer(ThreadingHTTPServer):
    """Keeps the connections it serves, so that closing the server closes them too: a
    browser's keep-alive connection would otherwise go on being answered after close()."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        pool: StorePool,
        context: Callable[[], api.Context],
        assets: dict[str, Asset],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.pool = pool
        self.context = context
        self.assets = assets
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection: its handler's next read finds the end and returns."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):  # the peer may have closed it already
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    timeout = _KEEP_ALIVE_S
    server_version = "cryptotrades-dashboard"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _not_allowed(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            _json({"error": f"{self.command} is not allowed: the dashboard only reads (GET, HEAD)"}),
            "application/json",
            "no-store",
            send_body=True,
            extra={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

    def _respond(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/api/"):
            result = api.answer(path, parts.query, self.server.pool, self.server.context())
            self._send(
                result.status, _json(result.payload), "application/json", "no-store", send_body=send_body
            )
            return
        asset = self.server.assets.get("/" if path == "/index.html" else path)
        if asset is None:
            body = _json({"error": f"no page {path!r}: the dashboard is at / and its API under /api/"})
            self._send(HTTPStatus.NOT_FOUND, body, "application/json", "no-store", send_body=send_body)
            return
        self._send(HTTPStatus.OK, asset, asset.content_type, asset.cache_control, send_body=send_body)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes | Asset,
        content_type: str,
        cache_control: str,
        *,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        raw = body.body if isinstance(body, Asset) else body
        gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "") and len(raw) >= _GZIP_FROM_BYTES
        if gzip_ok:
            raw = body.gzipped if isinstance(body, Asset) else gzip.compress(raw, compresslevel=5, mtime=0)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Cache-Control", cache_control)
            self.send_header("Vary", "Accept-Encoding")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Content-Security-Policy", _CSP)
            if gzip_ok:
                self.send_header("Content-Encoding", "gzip")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(raw)
        except OSError as exc:  # the client went away (broken pipe, reset), or close() ended it
            logger.debug("%s went away before its answer to %s: %s", self.client_address, self.path, exc)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def log_error(self, format: str, *args: Any) -> None:
        logger.info("%s " + format, self.address_string(), *args)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class DashboardServer:
    """A running dashboard: ``url`` to open, ``close()`` to stop it (idempotent)."""

    def __init__(self, httpd: _HttpServer, pool: StorePool, database: str) -> None:
        self._httpd = httpd
        self._pool = pool
        self.database = database  # the store's URL, without a password
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"dashboard:{self.port}",
            daemon=True,
        )
        self._closed = False
        self._thread.start()

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join()
        self._pool.close()
        logger.info("dashboard at %s stopped", self.url)

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def start_dashboard(
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    dead_letters: api.DeadLetterHook | None = None,
    symbol: str = DEFAULT_SYMBOL,
    refresh_seconds: float = DEFAULT_REFRESH_S,
    clock: Callable[[], float] = time.time,
) -> DashboardServer:
    """Serve the dashboard over ``db_url`` in a background thread; see the module's docstring."""
    settings = DashboardSettings(
        db_url=db_url, host=host, port=port, symbol=symbol, refresh_seconds=refresh_seconds
    )
    return serve(settings, dead_letters=dead_letters, clock=clock)


def serve(
    settings: DashboardSettings,
    *,
    dead_letters: api.DeadLetterHook | None = None,
    clock: Callable[[], float] = time.time,
) -> DashboardServer:
    """``start_dashboard`` for callers that already hold settings (``cryptotrades dashboard``)."""
    assets = load_assets()
    pool = StorePool(settings.db_url)
    try:
        with pool.lease() as store:  # fail now on a bad URL, password or host; keep it for the first page
            database = store.url

        def context() -> api.Context:
            return api.Context(
                symbol=settings.symbol,
                refresh_seconds=settings.refresh_seconds,
                now_ms=int(clock() * 1000),
                dead_letters=dead_letters,
                database=database,
            )

        try:
            httpd = _HttpServer((settings.host, settings.port), pool, context, assets)
        except OSError as exc:
            raise DashboardError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from exc
    except BaseException:
        pool.close()
        raise
    server = DashboardServer(httpd, pool, database)
    logger.info("dashboard at %s over %s", server.url, database)
    return server
