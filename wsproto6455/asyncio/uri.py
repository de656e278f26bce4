"""Parsing of ``ws://`` and ``wss://`` URIs: shared with the sync client."""

from ..io_common.uri import WebSocketURI, parse_uri

__all__ = ["WebSocketURI", "parse_uri"]
