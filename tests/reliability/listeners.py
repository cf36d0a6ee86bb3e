"""Raw TCP listeners the import and build tests point Podium at: one that accepts and never
says a word (a hanging git server), one that records every connection it gets (to prove
nothing reached it), optionally answering each with a fixed HTTP reply."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A TCP listener on ``host`` that accepts every connection, counts it and keeps it open
    (``reply`` empty: the peer waits forever) or sends ``reply`` and closes."""

    def __init__(self, host: str = "127.0.0.1", reply: bytes = b"") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.port = int(self.sock.getsockname()[1])
        self.reply = reply
        self.accepted = 0
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening and drop every held connection (a hanging peer then fails)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                if not self.reply:
                    self._held.append(conn)
                    continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = conn.recv(65536)
                with self._lock:
                    self.requests.append(data)
                conn.sendall(self.reply)
            except OSError:
                pass
