"""WebSocket extensions: the interface and permessage-deflate (RFC 7692)."""

from .base import RSV1, RSV2, RSV3, Extension
from .permessage_deflate import DeflateParameters, PerMessageDeflate

__all__ = ["Extension", "PerMessageDeflate", "DeflateParameters", "RSV1", "RSV2", "RSV3"]
