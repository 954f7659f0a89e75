#!/usr/bin/env python3
"""An HTTP/1.1 upstream for the upload test: reads the whole request body (Content-Length or
chunked) before answering, and answers {"received": BYTES}, so the benchmark can check that
every byte of a streamed upload reached the upstream. Usage: upload_sink.py PORT"""

import socket
import socketserver
import sys

BUFFER = 1 << 20


class Sink(socketserver.StreamRequestHandler):
    rbufsize = BUFFER

    def setup(self) -> None:
        super().setup()
        self.scratch = memoryview(bytearray(BUFFER))

    def skip(self, count: int) -> None:
        """Reads and drops exactly `count` body bytes."""
        while count > 0:
            read = self.rfile.readinto(self.scratch[: min(count, BUFFER)])
            if not read:
                raise ConnectionError("closed inside the body")
            count -= read

    def chunked_body(self) -> int:
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return total
            self.skip(size + 2)  # data and its CRLF
            total += size

    def handle(self) -> None:
        while True:
            request_line = self.rfile.readline()
            if not request_line:
                return
            headers = {}
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
            if b"chunked" in headers.get(b"transfer-encoding", b""):
                received = self.chunked_body()
            else:
                received = int(headers.get(b"content-length", b"0"))
                self.skip(received)
            body = b'{"received":%d}' % received
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    with Server(("127.0.0.1", int(sys.argv[1])), Sink) as server:
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server.serve_forever()


if __name__ == "__main__":
    main()
