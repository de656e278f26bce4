"""``wsproto.extensions``: the extension interface and permessage-deflate.

Both are wsproto6455's classes. ``PerMessageDeflate()`` takes wsproto's four
parameters in wsproto's order; negotiation goes through the same four
methods (``enabled``, ``offer``, ``accept``, ``finalize``). The data path of
an ``Extension`` is wsproto6455's message-level one, not wsproto's
per-frame hooks: a custom extension written against wsproto's
``frame_inbound_*`` / ``frame_outbound`` methods does not carry over.
"""

from wsproto6455.extensions import Extension, PerMessageDeflate

__all__ = ["SUPPORTED_EXTENSIONS", "Extension", "PerMessageDeflate"]

#: Extension name -> class, as in wsproto.
SUPPORTED_EXTENSIONS = {PerMessageDeflate.name: PerMessageDeflate}
