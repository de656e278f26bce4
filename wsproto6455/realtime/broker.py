from __future__ import annotations
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional, Protocol, Union

Payload = Union[str, bytes]

@dataclass(frozen=True)
class Publication:
    """One message published to a room, as a broker delivers it."""
    room: str
    data: Payload               # str -> text frame, bytes -> binary frame
    epoch: Optional[str] = None # set by brokers that keep history (RedisBroker(history=...))
    offset: Optional[int] = None

#: Called by the broker, on the event loop, for every publication received on a subscribed room,
#: in the order the broker received them. Must not block (the Hub broadcasts synchronously).
Deliver = Callable[[Publication], None]

class Broker(Protocol):
    async def start(self, deliver: Deliver) -> None: ...
        # connect / spawn the supervised listener; called once by Hub.start()
    async def subscribe(self, room: str) -> None: ...
        # the first local member joined `room` (the Hub reference-counts; called once per 0->1)
    async def unsubscribe(self, room: str) -> None: ...
        # the last local member left `room` (1->0)
    def publish(self, room: str, data: Payload) -> Awaitable[None]: ...
        # send to every server subscribed to `room` (this one included: the Hub delivers to its
        # local members only when the broker hands the publication back through `deliver`).
        # Awaiting the result waits until the broker accepted the message. A broker that hands
        # the message over before returning (RedisBroker does) makes call order publish order
        # without a task per message; an `async def` broker hands it over when awaited.
    async def close(self) -> None: ...
