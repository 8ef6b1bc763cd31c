"""Nuanliu as separate processes (`nuanliu api`, `nuanliu worker …`), as it is deployed, for
the crash test and the load bench. Each process logs to its own file, appended across restarts.
The texts the phones received are the console SMS gateway's record (`NUANLIU_CONSOLE_SMS_FILE`,
one JSON line per message with the full number), not the logs: log lines mask numbers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

#: the console gateway's record in the logs folder, unless the environment names another
INBOX = "console-sms.jsonl"


class Cluster:
    """Start, `kill -9` and restart parts of Nuanliu; read the texts they sent."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {"NUANLIU_CONSOLE_SMS_FILE": str(logs / INBOX), **env}
        self.logs = logs
        #: every text any process sent through the console gateway, across restarts
        self.inbox = Path(self.env["NUANLIU_CONSOLE_SMS_FILE"])
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.args: dict[str, tuple[str, ...]] = {}
        self._read = 0

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
        if not self.inbox.exists():
            return []
        with self.inbox.open("rb") as f:
            f.seek(self._read)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        self._read += end
        return _texts(chunk[:end])

    def all_texts(self) -> list[tuple[str, str]]:
        """Every text any process sent, from the start."""
        if not self.inbox.exists():
            return []
        data = self.inbox.read_bytes()
        return _texts(data[: data.rfind(b"\n") + 1])

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _texts(lines: bytes) -> list[tuple[str, str]]:
    """(phone, body) of whole JSON lines of the console gateway's record."""
    out = []
    for line in lines.splitlines():
        if line.strip():
            entry = json.loads(line)
            out.append((entry["to"], entry["body"]))
    return out


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
