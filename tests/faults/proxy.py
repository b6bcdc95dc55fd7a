"""A TCP proxy for fault injection, in front of a real server (PostgreSQL, the action
server, SMTP): pass traffic, cut it (refuse new connections and drop the open ones), delay
the answers, or drop the connection once a request went through."""
from __future__ import annotations

import socket
import threading
import time
from typing import List


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.mode = "pass"
        self.delay = 0.0
        self._open: List[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what a test does --
    def cut(self) -> None:
        """Refuse new connections and drop the open ones (a network cut, a dead server)."""
        self.mode = "cut"
        self._drop_all()

    def slow(self, seconds: float) -> None:
        """Hold every answer `seconds` before passing it on."""
        self.mode, self.delay = "slow", seconds

    def drop_after_request(self) -> None:
        """Pass requests on, then close the client's connection before any answer arrives."""
        self.mode = "drop_after_request"

    def restore(self) -> None:
        self.mode, self.delay = "pass", 0.0

    def stop(self) -> None:
        self._stopped = True
        self._drop_all()
        self.listener.close()

    # -- the plumbing --
    def _drop_all(self) -> None:
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers and self.mode == "drop_after_request":
                    break  # the request reached the server; its answer never comes back
                if answers and self.mode == "slow" and self.delay:
                    time.sleep(self.delay)
                if self.mode == "cut":
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
