"""Pre-fork servers: children forked after instrumenting count exactly once, parent and children."""

from __future__ import annotations

from .harness import app_env, performed, run_app, stored


def test_os_fork_children_count_exactly_once(chaos_server, chaos_schema, tmp_path):
    env = app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool")
    report = run_app(env, "--truth", str(tmp_path / "truth"), "--fork", "3", "--seconds", "2")
    ops = performed(tmp_path / "truth")
    assert ops > 4 * report["ops"] > 0  # the parent worked before the fork, each child after it
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)


def test_multiprocessing_fork_children_without_shutdown_are_not_lost(chaos_server, chaos_schema, tmp_path):
    env = app_env(chaos_server.dsn, chaos_schema, tmp_path / "spool")
    run_app(env, "--truth", str(tmp_path / "truth"), "--mp", "3", "--seconds", "2")
    ops = performed(tmp_path / "truth")
    assert stored(chaos_server.dsn, chaos_schema) == (ops, ops, ops)
