"""A small loopback TCP proxy for fault tests: forwards, stalls or cuts traffic on command."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FaultProxy:
    """Listens on a free 127.0.0.1 port and forwards to `target_port`.

    - `stall(seconds)`: hold every byte (both ways) until the time is up.
    - `cut_after_request()`: forward the next client request to Redis, then cut the connection
      before the reply reaches the client (the write happened; the client cannot know).
    - `refuse = True`: drop new and existing connections until set back to False.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stalled_until = 0.0
        self.cut_next = False
        self.refuse = False
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stall(self, seconds: float) -> None:
        self.stalled_until = time.monotonic() + seconds

    def cut_after_request(self) -> None:
        self.cut_next = True

    def drop_all(self) -> None:
        for a, b in self._pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self._pairs.clear()

    def close(self) -> None:
        self._closed = True
        self.drop_all()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, is_request: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while time.monotonic() < self.stalled_until:
                    time.sleep(0.01)
                dst.sendall(data)
                if is_request and self.cut_next:
                    self.cut_next = False
                    time.sleep(0.05)  # let Redis execute it
                    break
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
