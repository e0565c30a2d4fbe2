"""The explorer's port on 127.0.0.1: a free one, or a check of the one asked for (no Panel
import, so ``prefgame explore --port`` fails fast on a busy or invalid port)."""

from __future__ import annotations

import socket

__all__ = ["check_port", "free_port"]


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on ``address`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def check_port(port: int, address: str = "127.0.0.1") -> None:
    """Raise ``ValueError`` naming the port if it cannot be bound on ``address``."""
    if not 0 < port < 65536:
        raise ValueError(f"--port {port}: must be in 1..65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            raise ValueError(
                f"--port {port}: cannot listen on {address}:{port} ({exc.strerror})"
            ) from None
