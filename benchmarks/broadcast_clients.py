"""Many WebSocket clients in one process, for broadcast benchmarks and tests.

``python -m benchmarks.broadcast_clients --port P --healthy N [--stalled M]
[--deflate] [--expect BYTES]``

Raw sockets and a selector: the clients do the opening handshake, then the
healthy ones read and count (and hash) every byte the server sends, without
parsing frames, so they cost little CPU and keep the server's buffers empty.
Stalled clients shrink their receive buffer (``SO_RCVBUF``) before
connecting and never read: the server's writes to them pile up.

Prints ``ready`` once every handshake is done, then runs until each healthy
client has received ``--expect`` bytes (if given) or stdin closes; prints
one JSON line: ``{"bytes": [...], "sha256": [...]}`` for the healthy clients,
and closes the connections when stdin closes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import selectors
import socket
import sys
from typing import List, Optional

_KEY = base64.b64encode(b"0123456789abcdef")


def handshake(port: int, path: str, deflate: bool, rcvbuf: Optional[int] = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    extensions = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else b""
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: " + _KEY + b"\r\n"
                 b"Sec-WebSocket-Version: 13\r\n" + extensions + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        # The server sends nothing after its 101 until the caller starts
        # broadcasting (this client's contract), so reading past the head
        # loses nothing; it is checked.
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode("latin-1"))
    if not head.endswith(b"\r\n\r\n"):
        raise ConnectionError("data arrived with the 101: start broadcasting after 'ready'")
    return sock


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--healthy", type=int, default=0)
    parser.add_argument("--stalled", type=int, default=0)
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--expect", type=int, default=0, help="bytes each healthy client waits for")
    args = parser.parse_args(argv)

    healthy = [handshake(args.port, args.path, args.deflate) for _ in range(args.healthy)]
    stalled = [handshake(args.port, args.path, args.deflate, rcvbuf=4096) for _ in range(args.stalled)]
    counts = [0] * len(healthy)
    hashes = [hashlib.sha256() for _ in healthy]
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(healthy):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, -1)
    print("ready", flush=True)
    done = 0 if args.expect else -1
    buffer = bytearray(1 << 18)
    view = memoryview(buffer)
    running = True
    while running and done < len(healthy):
        for key, _ in selector.select():
            index = key.data
            if index == -1:
                if not os.read(sys.stdin.fileno(), 4096):
                    running = False
                continue
            try:
                n = healthy[index].recv_into(buffer)
            except BlockingIOError:
                continue
            if n == 0:
                selector.unregister(healthy[index])
                if args.expect:
                    done += 1
                continue
            before = counts[index]
            counts[index] += n
            hashes[index].update(view[:n])
            if args.expect and before < args.expect <= counts[index]:
                done += 1
    print(json.dumps({"bytes": counts, "sha256": [h.hexdigest() for h in hashes]}), flush=True)
    while running and os.read(sys.stdin.fileno(), 4096):
        pass  # keep every connection open until told to go
    for sock in healthy + stalled:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
