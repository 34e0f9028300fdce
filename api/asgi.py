"""Raw ASGI helpers for the middlewares that answer before the application runs."""

from __future__ import annotations

import json

from starlette.types import Send


async def send_json_error(
    send: Send, status: int, detail: str, *extra_headers: tuple[bytes, bytes]
) -> None:
    """Answer ``{"detail": ...}`` with ``status``, then ``extra_headers``."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
