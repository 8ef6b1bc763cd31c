"""Nuanliu as separate processes (`nuanliu api`, `nuanliu worker …`), as it is deployed, for
the crash test and the load bench. Each process logs to its own file, appended across restarts;
the console SMS gateway's lines in those logs are the texts the phones received."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

SENT_LINE = re.compile(r"SMS \(console\) to (\+\d+): (.*)$")


class Cluster:
    """Start, `kill -9` and restart parts of Nuanliu; read the texts they sent."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.args: dict[str, tuple[str, ...]] = {}
        self._read: dict[Path, int] = {}

    def start(self, name: str, *args: str) -> None:
        """`name` is a worker (`dispatch`, `relay`, `scheduler`…) or `api` with its args."""
        command = ["api", *args] if name == "api" else ["worker", name]
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child owns it)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "nuanliu", *command],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.args[name] = args

    def kill9(self, name: str) -> None:
        """SIGKILL, then start it again at once, as a supervisor would."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills[name] += 1
        self.start(name, *self.args[name])

    def dead(self) -> list[str]:
        """Parts that exited by themselves (not killed by us): a crash the test must report."""
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def new_texts(self) -> list[tuple[str, str]]:
        """(phone, body) of the texts sent since the last call, across all restarts."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            with path.open("rb") as f:
                f.seek(self._read.get(path, 0))
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
            self._read[path] = self._read.get(path, 0) + end
            for line in chunk[:end].decode(errors="replace").splitlines():
                m = SENT_LINE.search(line)
                if m:
                    out.append((m.group(1), m.group(2)))
        return out

    def all_texts(self) -> list[tuple[str, str]]:
        """Every text any process sent, from the start."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                m = SENT_LINE.search(line)
                if m:
                    out.append((m.group(1), m.group(2)))
        return out

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until_serving(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the API at {base} did not come up in {timeout:.0f} s")
