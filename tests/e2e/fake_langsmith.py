"""A fake LangSmith API on 127.0.0.1:0, just large enough for the official SDKs.

It requires the real key on every request (like LangSmith, except that it checks /info too, which
proves the proxy injects the key there as well), records what it saw, and can be switched to
reject the key (revoked: 401) or to refuse it (403), as LangSmith does.
"""

from __future__ import annotations

import datetime
import email.parser
import email.policy
import gzip
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import zstandard

PLACEHOLDER = "proxy-managed"
HEADERS_OF_INTEREST = (
    "x-api-key",
    "authorization",
    "x-tenant-id",
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "user-agent",
    "via",
)
UUID_RE = r"[0-9a-fA-F-]{36}"


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    raw_body_bytes: int = 0
    parts: list[str] = field(default_factory=list)
    placeholder_seen: bool = False

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class FakeLangSmith:
    """State shared by the handler threads; `mode` is "ok", "revoked" (401) or "forbidden" (403)."""

    def __init__(self, real_key: str) -> None:
        self.real_key = real_key
        self.tenant_id = str(uuid.uuid4())
        self.mode = "ok"
        self.seen: list[Seen] = []
        self.runs: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.datasets: dict[str, dict] = {}
        self.examples: dict[str, dict] = {}
        self.feedback: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLangSmith:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def snapshot(self) -> int:
        """The number of requests seen so far, to slice out one SDK run's requests later."""
        with self.lock:
            return len(self.seen)

    def since(self, start: int) -> list[Seen]:
        with self.lock:
            return list(self.seen[start:])

    def _handler_class(self):
        fake = self

        class Handler(LangSmithHandler):
            state = fake

        return Handler


class LangSmithHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FakeLangSmith

    # ---- plumbing -------------------------------------------------------------------------------

    def log_message(self, format: str, *args) -> None:  # quiet: the runner prints what matters
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def _send(self, status: int, body: object, reason: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.seen.status = status

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.seen = Seen(
            method=method,
            path=split.path,
            headers={k: v for k, v in headers.items() if k in HEADERS_OF_INTEREST},
            placeholder_seen=any(PLACEHOLDER in value for value in headers.values()),
        )
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = self._read_body()
        self.seen.raw_body_bytes = len(body)
        try:
            if not self._authorised(split.path):
                return
            self._route(method, split.path, body)
        except BadRequest as error:
            self._send(422, {"error": f"Unprocessable entity: {error}"})
        finally:
            self.state.record(self.seen)

    def _authorised(self, path: str) -> bool:
        key = self.headers.get("x-api-key")
        if key != self.state.real_key:
            self._send(401, {"detail": "Invalid token"})
            return False
        # /info is unauthenticated at LangSmith: a revoked key still gets it.
        if self.state.mode == "revoked" and path != "/info":
            self._send(401, {"detail": "Invalid token"})
            return False
        if self.state.mode == "forbidden" and path != "/info":
            self._send(403, b'{"error":"Forbidden"}\n')
            return False
        return True

    # ---- routes -----------------------------------------------------------------------------------

    def _route(self, method: str, path: str, body: bytes) -> None:
        s = self.state
        routes = [
            ("GET", r"/info", lambda: self._send(200, info())),
            ("GET", r"/settings", lambda: self._send(200, settings(s))),
            ("GET", r"/api/v1/workspaces", lambda: self._send(200, [workspace(s)])),
            ("POST", r"/runs/multipart", lambda: self._ingest(body)),
            ("GET", rf"/runs/({UUID_RE})", lambda run_id: self._get_one(s.runs, run_id)),
            ("POST", r"/sessions", lambda: self._create(s.sessions, body, session)),
            ("GET", r"/sessions", lambda: self._list(s.sessions)),
            ("GET", rf"/sessions/({UUID_RE})", lambda sid: self._get_one(s.sessions, sid)),
            ("POST", r"/datasets", lambda: self._create(s.datasets, body, dataset)),
            ("GET", r"/datasets", lambda: self._list(s.datasets)),
            ("GET", rf"/datasets/({UUID_RE})", lambda did: self._get_one(s.datasets, did)),
            (
                "POST",
                rf"/v1/platform/datasets/({UUID_RE})/examples",
                lambda did: self._upload_examples(did, body),
            ),
            ("GET", r"/examples", lambda: self._list_examples()),
            ("GET", rf"/examples/({UUID_RE})", lambda eid: self._get_one(s.examples, eid)),
            ("POST", r"/feedback", lambda: self._create(s.feedback, body, feedback)),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                handler(*match.groups())
                return
        self._send(404, {"detail": "Not Found"})

    def _create(self, store: dict, body: bytes, shape) -> None:
        obj = shape(self.state, parse_json(body))
        with self.state.lock:
            store[obj["id"]] = obj
        self._send(200, obj)

    def _get_one(self, store: dict, obj_id: str) -> None:
        with self.state.lock:
            obj = store.get(obj_id)
        self._send(200, obj) if obj else self._send(404, {"detail": "Not Found"})

    def _list(self, store: dict) -> None:
        with self.state.lock:
            items = list(store.values())
        name = self.query.get("name")
        if name is not None:
            items = [item for item in items if item.get("name") == name]
        offset = int(self.query.get("offset", 0))
        limit = int(self.query.get("limit", 100))
        self._send(200, items[offset : offset + limit])

    def _list_examples(self) -> None:
        dataset_id = self.query.get("dataset")
        with self.state.lock:
            items = [e for e in self.state.examples.values() if e["dataset_id"] == dataset_id]
        offset = int(self.query.get("offset", 0))
        limit = int(self.query.get("limit", 100))
        self._send(200, items[offset : offset + limit])

    def _ingest(self, body: bytes) -> None:
        parts = self._multipart(decompress(body, self.headers.get("Content-Encoding", "")))
        with self.state.lock:
            for name, payload in parts:
                kind, _, rest = name.partition(".")
                obj_id, _, member = rest.partition(".")
                if kind in ("post", "patch"):
                    merge(self.state.runs.setdefault(obj_id, {"id": obj_id}), member, payload)
                elif kind == "feedback":
                    self.state.feedback[obj_id] = json.loads(payload)
        self._send(202, {})

    def _upload_examples(self, dataset_id: str, body: bytes) -> None:
        examples: dict[str, dict] = {}
        for name, payload in self._multipart(body):
            example_id, _, member = name.partition(".")
            example = examples.setdefault(example_id, {"id": example_id, "dataset_id": dataset_id, "created_at": now()})
            merge(example, member, payload)
        with self.state.lock:
            self.state.examples.update(examples)
        self._send(200, {"example_ids": list(examples), "count": len(examples)})

    def _multipart(self, body: bytes) -> list[tuple[str, bytes]]:
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise BadRequest(f"expected multipart/form-data, got {content_type!r}")
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not message.is_multipart():
            raise BadRequest("error reading multipart data")
        parts = [
            (part.get_param("name", header="content-disposition"), part.get_payload(decode=True))
            for part in message.iter_parts()
        ]
        if not parts or any(name is None for name, _ in parts):
            raise BadRequest("error reading multipart data: unnamed or missing parts")
        self.seen.parts = [name for name, _ in parts]
        return parts


class BadRequest(Exception):
    """A body the fake cannot read: LangSmith answers these with 422."""


def merge(obj: dict, member: str, payload: bytes) -> None:
    """Part `<id>` carries the object's fields; part `<id>.<member>` (inputs, outputs...) one field."""
    value = json.loads(payload)
    if member:
        obj[member] = value
    else:
        obj.update(value)


def parse_json(body: bytes) -> dict:
    try:
        return json.loads(body or b"{}")
    except ValueError as error:
        raise BadRequest(f"invalid JSON: {error}") from error


def decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding:
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
    return body


def info() -> dict:
    return {
        "version": "0.12.0",
        "batch_ingest_config": {
            "use_multipart_endpoint": True,
            "size_limit": 100,
            "size_limit_bytes": 20_971_520,
            "scale_up_qsize_trigger": 1000,
            "scale_up_nthreads_limit": 16,
            "scale_down_nempty_trigger": 4,
        },
        "instance_flags": {
            "zstd_compression_enabled": True,
            "gzip_body_enabled": True,
            "dataset_examples_multipart_enabled": True,
        },
    }


def settings(state: FakeLangSmith) -> dict:
    return {"id": state.tenant_id, "display_name": "e2e", "created_at": now(), "tenant_handle": None}


def workspace(state: FakeLangSmith) -> dict:
    return {"id": state.tenant_id, "display_name": "e2e", "is_personal": True, "read_only": False}


def session(state: FakeLangSmith, body: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": body.get("name"),
        "description": body.get("description"),
        "start_time": now(),
        "end_time": None,
        "extra": body.get("extra"),
        "tenant_id": state.tenant_id,
        "reference_dataset_id": body.get("reference_dataset_id"),
    }


def dataset(state: FakeLangSmith, body: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": body.get("name"),
        "description": body.get("description"),
        "data_type": body.get("data_type", "kv"),
        "created_at": now(),
        "modified_at": now(),
        "example_count": 0,
        "tenant_id": state.tenant_id,
    }


def feedback(state: FakeLangSmith, body: dict) -> dict:
    return {"created_at": now(), "modified_at": now(), **body, "id": body.get("id") or str(uuid.uuid4())}
