"""Forked children (pre-fork servers, ``multiprocessing``): objects that must start over in a child
register here, held weakly, and are called back right after each fork, in the child."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

__all__ = ["start_over_in_children"]

_objects: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def start_over_in_children(obj: Any, method: str = "_after_fork_in_child") -> None:
    """Call ``obj.<method>()`` in every child forked from now on, while ``obj`` lives."""
    with _lock:
        _objects[obj] = method


def _in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for obj, method in list(_objects.items()):
        getattr(obj, method)()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
