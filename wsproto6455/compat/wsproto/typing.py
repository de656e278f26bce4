"""``wsproto.typing``: the ``Headers`` alias."""

from wsproto6455.typing import Headers

__all__ = ["Headers"]
