"""The app served by uvicorn in a thread of this process, for benchmarks and browser tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from events.embedded import free_port


@dataclass
class Served:
    """An app served on a loopback port in this process."""

    url: str
    port: int
    runtime: Any
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def app(self) -> Any:
        """The FastAPI app being served (its `state` holds the intake, the token cache…)."""
        return self.server.config.app

    def stop(self) -> None:
        self.runtime.services.board_hub.close_all()  # end open streams so uvicorn can stop
        self.server.should_exit = True
        self.thread.join(15)


def serve(runtime: Any, port: int | None = None, **config: Any) -> Served:
    """Serve `create_app(runtime=runtime)` on `port` (a free one by default) and return once
    uvicorn accepts connections. Extra keyword arguments go to `uvicorn.Config`."""
    from nuanliu.app import create_app

    port = port or free_port()
    options: dict[str, Any] = {"log_level": "warning", "timeout_graceful_shutdown": 1}
    options.update(config)
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime=runtime), host="127.0.0.1", port=port, **options)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return Served(f"http://127.0.0.1:{port}", port, runtime, server, thread)
