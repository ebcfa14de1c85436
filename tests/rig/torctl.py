"""A minimal Tor control-port client for the rig (unix socket, cookie auth).

Not stem: stem sends TAKEOWNERSHIP when `__OwningControllerProcess` is our PID, and tor then
exits as soon as that control connection closes.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path


class TorControl:
    def __init__(self, sock_path: str | Path, cookie_path: str | Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(sock_path))
        self.buf = b""
        cookie = Path(cookie_path).read_bytes().hex()
        self.command(f"AUTHENTICATE {cookie}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> TorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, deadline: float | None = None) -> str:
        while b"\r\n" not in self.buf:
            if deadline is not None:
                self.sock.settimeout(max(deadline - time.monotonic(), 0.05))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("control connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def command(self, cmd: str) -> list[str]:
        """Send one command; return its reply lines (raises on a non-250 status)."""
        self.sock.sendall(cmd.encode() + b"\r\n")
        lines: list[str] = []
        while True:
            line = self._line()
            if line.startswith("650"):
                continue  # async event interleaved with the reply
            lines.append(line)
            if line[3:4] == "+":  # data reply: read to the lone "."
                while (data := self._line()) != ".":
                    lines.append(data)
            elif line[3:4] == " ":
                break
        if not lines[-1].startswith("250"):
            raise RuntimeError(f"{cmd.split()[0]}: {lines[-1]}")
        return lines

    def getinfo(self, key: str) -> str:
        lines = self.command(f"GETINFO {key}")
        first = lines[0][4:]
        if first.startswith(f"{key}="):
            return first[len(key) + 1 :]
        return "\n".join(lines[1:-1])  # multi-line value

    def wait_event(self, prefix: str, timeout: float) -> str:
        """Wait for an async event line starting with `650 <prefix>`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._line(deadline)
            except TimeoutError:
                break
            if line.startswith(f"650 {prefix}"):
                return line
        raise TimeoutError(f"no '{prefix}' event within {timeout:.0f}s")
