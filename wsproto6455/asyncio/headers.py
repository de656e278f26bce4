"""Header lists as the core wants them: shared with the sync client."""

from ..io_common.headers import HeadersLike, Text, get_header, to_headers

__all__ = ["HeadersLike", "Text", "get_header", "to_headers"]
