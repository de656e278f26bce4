"""Type aliases shared by the public API."""

from typing import Sequence, Tuple

#: HTTP headers as (name, value) byte pairs, in the order they appear.
Headers = Sequence[Tuple[bytes, bytes]]
