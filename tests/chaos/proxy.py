"""A TCP proxy in front of PostgreSQL for the chaos suite. Run as a program (inside a network
namespace) it forwards ``host:port`` to a server's unix socket; as :class:`Proxy` in a thread it can
also cut a connection at the worst moment: right after the server committed, before the client
hears of it (the commit is durable, the reply is lost).

    python proxy.py HOST PORT UNIX_SOCKET_PATH
"""

from __future__ import annotations

import socket
import sys
import threading

# The server's reply to COMMIT: CommandComplete ('C', length 11, "COMMIT\0").
COMMIT_REPLY = b"C\x00\x00\x00\x0bCOMMIT\x00"


class Proxy:
    """Forwards connections on ``listen`` to ``target`` (a unix socket path or (host, port))."""

    def __init__(self, listen: tuple[str, int], target: str | tuple[str, int]) -> None:
        self.target = target
        self.lost_commits = 0  # how many COMMIT replies to swallow (cutting the connection instead)
        self.cut = 0  # connections cut after a commit
        self._lock = threading.Lock()
        self._server = socket.create_server(listen, reuse_port=False)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _take_commit(self) -> bool:
        with self._lock:
            if self.lost_commits > 0:
                self.lost_commits -= 1
                self.cut += 1
                return True
            return False

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and COMMIT_REPLY in data and self._take_commit():
                    break  # committed on the server; the client never hears of it
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

    def close(self) -> None:
        self._server.close()


if __name__ == "__main__":
    Proxy((sys.argv[1], int(sys.argv[2])), sys.argv[3])
    threading.Event().wait()
