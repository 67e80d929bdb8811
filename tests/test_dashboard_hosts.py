"""The dashboard answers only to its own Host names (a DNS-rebinding page sends its own) and in
JSON for every error, unsupported methods included."""

from __future__ import annotations

import http.client
import json

import pytest

from otel_supabase_exporter import Settings
from otel_supabase_exporter.show.dashboard import Dashboard


@pytest.fixture
def board(pg_dsn, schema):
    dashboard = Dashboard(Settings.from_env(dsn=pg_dsn, schema=schema), port=0,
                          allowed_hosts=["board.internal"]).start()
    yield dashboard
    dashboard.stop()


def _request(board: Dashboard, method: str, path: str, headers: dict, body: bytes | None = None):
    port = board._server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def test_a_foreign_host_name_is_refused_even_with_a_matching_origin(board):
    port = board._server.server_address[1]
    for method, path in (("GET", "/api/summary"), ("GET", "/"), ("POST", "/api/observations/1/ack")):
        status, content_type, body = _request(board, method, path, {
            "Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}",
            "Content-Type": "application/json"}, b'{"by": "evil"}' if method == "POST" else None)
        assert status == 403 and content_type == "application/json"
        assert "not allowed" in json.loads(body)["error"]
    status, _, _ = _request(board, "GET", "/api/health", {})
    assert status == 403  # no Host at all: not a browser on this machine


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST",
                                  "board.internal:{port}"])
def test_loopback_names_and_allowed_hosts_are_served(board, host):
    port = board._server.server_address[1]
    status, content_type, _ = _request(board, "GET", "/api/health", {"Host": host.format(port=port)})
    assert status == 200 and content_type == "application/json"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_every_error_is_json(board, method):
    port = board._server.server_address[1]
    status, content_type, body = _request(board, method, "/api/summary", {"Host": f"127.0.0.1:{port}"})
    assert status in (405, 501) and content_type == "application/json"
    assert json.loads(body)["status"] == status
