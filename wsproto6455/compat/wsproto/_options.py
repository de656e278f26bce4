"""The options that connections made through the facade get by default.

wsproto has no message-size limit; the frameworks that embed it enforce
their own (uvicorn and hypercorn 16 MiB by default, configurable upwards),
so the facade's default is wsproto's: unbounded. wsproto6455's own default
(1 MiB) would silently lower those frameworks' limits. Operators who want
the core's bound (which also caps permessage-deflate output, i.e. zip
bombs) set it with ``wsproto6455.compat.install(max_message_size=...)`` or the environment
variable ``WSPROTO6455_MAX_MESSAGE_SIZE`` (bytes).
"""

from __future__ import annotations

import os
from typing import Any, Optional


def _from_env() -> Optional[int]:
    raw = os.environ.get("WSPROTO6455_MAX_MESSAGE_SIZE", "").strip()
    return int(raw) if raw else None


#: Keyword options merged under the caller's own for every facade connection.
DEFAULTS: dict[str, Any] = {"max_message_size": _from_env()}


def merged(options: dict[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **options}
