"""A network that fails without closing: PostgreSQL reached through a veth pair into a network
namespace, where a proxy forwards to the server. Taking the namespace's end of the link down makes
every packet vanish — no RST, no ICMP — as when a NAT or a pooler forgets a flow."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

HERE = Path(__file__).resolve().parent


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class DeadableLink:
    """``dsn`` reaches the server at ``socket_path`` over a link that :meth:`cut` silences."""

    def __init__(self, socket_path: str) -> None:
        if shutil.which("ip") is None or os.geteuid() != 0:
            message = "network namespaces need root and iproute2 (ip)"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
        n = random.randrange(1, 250)
        self.ns, self.host_if, self.ns_if = f"osx{os.getpid()}{n}"[:15], f"osxh{n}p{os.getpid()}"[:15], \
            f"osxn{n}p{os.getpid()}"[:15]
        self.host_ip, self.ns_ip = f"10.215.{n}.1", f"10.215.{n}.2"
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.ns)
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.ns, "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
        _ip("-n", self.ns, "link", "set", self.ns_if, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        self.port = 5432
        self.proxy = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, str(HERE / "proxy.py"),
                                       self.ns_ip, str(self.port), socket_path])
        self.dsn = f"postgresql://postgres@{self.ns_ip}:{self.port}/postgres?sslmode=disable"
        deadline = time.monotonic() + 15
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.close()
                    raise
                time.sleep(0.2)

    def cut(self) -> None:
        _ip("-n", self.ns, "link", "set", self.ns_if, "down")

    def mend(self) -> None:
        _ip("-n", self.ns, "link", "set", self.ns_if, "up")

    def close(self) -> None:
        self.proxy.kill()
        self.proxy.wait()
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
