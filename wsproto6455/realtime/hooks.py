"""Composing handshake hooks."""

from __future__ import annotations

import inspect
from typing import Optional

from ..asyncio.server import HTTPResponse, ProcessRequest, ServerConnection
from ..events import Request


def chain(*hooks: ProcessRequest) -> ProcessRequest:
    """One ``process_request`` running ``hooks`` in order (sync or async);
    the first that returns a response rejects the handshake and the rest
    do not run. Put cheap refusals first: ``chain(ip_limit.process_request,
    jwt_auth(...), connection_limit.process_request)``."""

    async def process_request(ws: ServerConnection, request: Request) -> Optional[HTTPResponse]:
        for hook in hooks:
            response = hook(ws, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response
        return None

    return process_request
