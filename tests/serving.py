"""A folder served over HTTP on 127.0.0.1 for the tests that run real clients on ctmaint's
output (calendar programs, a Statuspage client, a browser)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    """A folder served over HTTP on 127.0.0.1; ``paths`` are the paths requested, in order."""

    url: str
    paths: list[str] = field(default_factory=list)


class _Handler(SimpleHTTPRequestHandler):
    served: Served

    def log_message(self, format: str, *args: Any) -> None:
        self.served.paths.append(self.path)


@pytest.fixture
def serve() -> Iterator[Callable[[Path], Served]]:
    """Start a threaded static server on 127.0.0.1 (a free port) for a folder; stopped after
    the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> Served:
        served = Served("")
        handler = type("Handler", (_Handler,), {"served": served})
        server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
        )
        server.daemon_threads = True
        served.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return served

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
