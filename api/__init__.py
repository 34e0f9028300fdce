"""PIU HTTP API: public catalogue, facilitators' admin API, analytics page.

Public API::

    from api.app import create_app
"""

from __future__ import annotations

__all__: list[str] = []
