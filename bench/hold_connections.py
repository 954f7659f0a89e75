#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, completes one GET on each, then holds them
open until stdin closes. Prints "held N" once every connection has had its response, so the
caller can read the proxy's memory with N idle keep-alive connections."""

import socket
import sys


def read_response(sock: socket.socket) -> None:
    """Reads one response with a Content-Length body (what every target here sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    request = b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench-hold\r\n\r\n"
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
        read_response(sock)
        held.append(sock)
    print(f"held {len(held)}", flush=True)
    sys.stdin.read()
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()
