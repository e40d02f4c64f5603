"""Plumbing shared by the stand-ins.

- a threaded HTTP/1.1 server (keep-alive, chunked request bodies) that can
  open extra listeners on the same application state;
- a tiny router;
- fault injection (fail / drop / delay the next N calls to a path prefix, or
  every call during a time window);
- a call log with per-endpoint and per-resource counters;
- the CLI skeleton (port file, JSON line on stdout, clean exit on SIGTERM).

Only the standard library is used here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 8 * 1024 * 1024
MAX_LOG = 20000


class HttpError(Exception):
    """Raised by handlers; turned into the application's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra


class Request:
    def __init__(self, method: str, target: str, headers, body: bytes, client: str,
                 context: dict):
        parts = urlsplit(target)
        self.method = method
        self.target = target
        self.path = parts.path or "/"
        self.raw_query = parts.query
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.client = client
        # per-listener context (e.g. the workload a listener stands for)
        self.context = context
        self.params: dict[str, str] = {}
        # set by handlers: which API object the call was about, for counters
        self.resource: str | None = None
        self.endpoint: str = "unknown"
        self.note: dict = {}

    def header(self, name: str, default: str | None = None) -> str | None:
        v = self.headers.get(name)
        return default if v is None else v

    def q(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[0] if v else default

    def json(self, required: bool = True) -> Any:
        if not self.body:
            if required:
                raise HttpError(400, "request body is required")
            return {}
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise HttpError(400, f"Invalid JSON payload received. {e}") from None

    def form(self) -> dict[str, str]:
        """Form fields (first value wins), from the body and the query string."""
        out: dict[str, str] = {}
        for k, v in parse_qs(self.raw_query, keep_blank_values=True).items():
            out.setdefault(k, v[0])
        if self.body:
            text = self.body.decode("utf-8", "replace")
            for k, v in parse_qs(text, keep_blank_values=True).items():
                out[k] = v[0]
        return out


class Response:
    def __init__(self, status: int = 200, body: bytes | str = b"",
                 content_type: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = {"Content-Type": content_type}
        if headers:
            self.headers.update(headers)
        self.drop = False  # close the connection without answering

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict | None = None) -> "Response":
        return cls(status, json.dumps(obj, indent=2) + "\n",
                   "application/json; charset=UTF-8", headers)

    @classmethod
    def dropped(cls) -> "Response":
        r = cls(0)
        r.drop = True
        return r


Handler = Callable[[Request], Response]


class Route:
    def __init__(self, method: str, pattern: str, handler: Handler, name: str, admin: bool):
        self.method = method
        # {name} matches one path segment, {name*} the rest of the path
        rx = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.+)", pattern)
        rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", rx)
        self.regex = re.compile("^" + rx + "$")
        self.handler = handler
        self.name = name
        self.admin = admin


class Fault:
    _next = 1

    def __init__(self, spec: dict):
        self.id = Fault._next
        Fault._next += 1
        self.prefix = spec.get("prefix", "/")
        if not isinstance(self.prefix, str) or not self.prefix.startswith("/"):
            raise HttpError(400, "fault prefix must be a path starting with /")
        self.method = (spec.get("method") or "").upper() or None
        self.endpoint = spec.get("endpoint") or None  # route name, e.g. metadata.identity
        try:
            self.regex = re.compile(spec["regex"]) if spec.get("regex") else None
        except re.error as e:
            raise HttpError(400, f"bad fault regex: {e}") from None
        self.status = int(spec.get("status", 0) or 0)
        self.latency_ms = int(spec.get("latency_ms", 0) or 0)
        self.action = spec.get("action") or ("respond" if self.status else
                                             ("delay" if self.latency_ms else "respond"))
        if self.action not in ("respond", "drop", "delay"):
            raise HttpError(400, "fault action must be respond, drop or delay")
        if self.action == "respond" and not self.status:
            self.status = 503
        count = spec.get("count")
        self.remaining = None if count is None else int(count)
        seconds = spec.get("seconds")
        self.until = None if seconds is None else time.time() + float(seconds)
        if self.remaining is None and self.until is None:
            self.remaining = 1
        self.message = spec.get("message")
        self.code = spec.get("code")
        self.hits = 0

    def active(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        return True

    def matches(self, req: Request) -> bool:
        return (req.path.startswith(self.prefix) and self.method in (None, req.method)
                and self.endpoint in (None, req.endpoint)
                and (self.regex is None or self.regex.search(req.path) is not None))

    def describe(self) -> dict:
        return {"id": self.id, "prefix": self.prefix, "method": self.method,
                "endpoint": self.endpoint, "regex": self.regex.pattern if self.regex else None,
                "action": self.action, "status": self.status or None,
                "latency_ms": self.latency_ms or None, "remaining": self.remaining,
                "until": self.until, "hits": self.hits, "message": self.message,
                "code": self.code}


class App:
    """Routing, faults, call log. Subclasses add routes and the error shape."""

    name = "standin"

    def __init__(self):
        self.lock = threading.RLock()
        self.routes: list[Route] = []
        self.faults: list[Fault] = []
        self.calls: list[dict] = []
        self.seq = 0
        self.counters: dict[str, int] = {}
        self.by_resource: dict[str, dict[str, int]] = {}
        self.server: "Server | None" = None
        self.verbose = bool(os.environ.get("STANDIN_VERBOSE"))
        self.add("GET", "/_admin/health", lambda r: Response.json({"ok": True}), "admin.health", True)
        self.add("GET", "/_admin/faults", self._faults_get, "admin.faults", True)
        self.add("POST", "/_admin/faults", self._faults_post, "admin.faults", True)
        self.add("DELETE", "/_admin/faults", self._faults_clear, "admin.faults", True)
        self.add("DELETE", "/_admin/faults/{id}", self._fault_delete, "admin.faults", True)
        self.add("GET", "/_admin/calls", self._calls_get, "admin.calls", True)
        self.add("DELETE", "/_admin/calls", self._calls_clear, "admin.calls", True)
        self.add("GET", "/_admin/counters", self._counters_get, "admin.counters", True)
        self.add("DELETE", "/_admin/counters", self._calls_clear, "admin.counters", True)

    # -- routing -----------------------------------------------------------

    def add(self, method: str, pattern: str, handler: Handler, name: str, admin: bool = False):
        self.routes.append(Route(method, pattern, handler, name, admin))

    def error(self, req: Request, err: HttpError) -> Response:
        """The application's error shape. Subclasses override."""
        return Response.json({"error": {"code": err.status, "message": err.message}}, err.status)

    def fault_error(self, req: Request, fault: Fault) -> HttpError:
        return HttpError(fault.status, fault.message or "injected fault", fault.code)

    def not_found(self, req: Request) -> HttpError:
        return HttpError(404, f"no route for {req.method} {req.path}", "NOT_FOUND")

    def handle(self, req: Request) -> Response:
        route, allowed = None, []
        for r in self.routes:
            m = r.regex.match(req.path)
            if m:
                if r.method == req.method:
                    route = r
                    req.params = {k: unquote(v) for k, v in m.groupdict().items()}
                    break
                allowed.append(r.method)
        if route is not None:
            req.endpoint = route.name
        elif allowed:
            req.endpoint = "method_not_allowed"
        else:
            req.endpoint = "not_found"
        is_admin = route is not None and route.admin

        fault_resp = None if is_admin else self._apply_faults(req)
        if fault_resp is not None:
            resp = fault_resp
        else:
            try:
                if route is None:
                    if allowed:
                        raise HttpError(405, f"method {req.method} not allowed on {req.path}",
                                        "METHOD_NOT_ALLOWED")
                    raise self.not_found(req)
                resp = route.handler(req)
            except HttpError as e:
                resp = self.error(req, e)
            except Exception as e:  # keep the server up, report like a 500
                import traceback
                traceback.print_exc()
                resp = self.error(req, HttpError(500, f"internal error: {e!r}", "INTERNAL"))
        if not is_admin:
            self._record(req, resp, fault_resp is not None)
        return resp

    # -- faults ------------------------------------------------------------

    def _apply_faults(self, req: Request) -> Response | None:
        delay = 0.0
        hit: Fault | None = None
        with self.lock:
            now = time.time()
            for f in list(self.faults):
                if not f.active(now):
                    self.faults.remove(f)
                    continue
                if not f.matches(req):
                    continue
                if f.action == "delay":
                    delay += f.latency_ms / 1000.0
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                elif hit is None:
                    hit = f
                    delay += f.latency_ms / 1000.0
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                if not f.active(now):
                    self.faults.remove(f)
        if delay:
            time.sleep(delay)
        if hit is None:
            return None
        req.note["fault"] = hit.id
        if hit.action == "drop":
            return Response.dropped()
        return self.error(req, self.fault_error(req, hit))

    def add_fault(self, spec: dict) -> Fault:
        f = Fault(spec)
        with self.lock:
            self.faults.append(f)
        return f

    def _faults_get(self, req):
        with self.lock:
            return Response.json({"faults": [f.describe() for f in self.faults]})

    def _faults_post(self, req):
        body = req.json()
        specs = body if isinstance(body, list) else [body]
        out = [self.add_fault(s).describe() for s in specs]
        return Response.json(out if isinstance(body, list) else out[0], 201)

    def _faults_clear(self, req):
        with self.lock:
            self.faults.clear()
        return Response.json({})

    def _fault_delete(self, req):
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if str(f.id) != req.params["id"]]
            if len(self.faults) == before:
                raise HttpError(404, "no such fault", "NOT_FOUND")
        return Response.json({})

    # -- call log ----------------------------------------------------------

    def _record(self, req: Request, resp: Response, faulted: bool):
        with self.lock:
            self.seq += 1
            entry = {"seq": self.seq, "time": time.time(), "method": req.method,
                     "path": req.path, "query": req.raw_query, "endpoint": req.endpoint,
                     "resource": req.resource, "status": 0 if resp.drop else resp.status,
                     "faulted": faulted}
            entry.update(req.note)
            if req.context.get("workload"):
                entry.setdefault("listener_workload", req.context["workload"])
            self.calls.append(entry)
            if len(self.calls) > MAX_LOG:
                del self.calls[: len(self.calls) - MAX_LOG]
            self.counters[req.endpoint] = self.counters.get(req.endpoint, 0) + 1
            if req.resource:
                d = self.by_resource.setdefault(req.endpoint, {})
                d[req.resource] = d.get(req.resource, 0) + 1

    def _calls_get(self, req):
        since = int(req.q("since", "0") or 0)
        endpoint = req.q("endpoint")
        with self.lock:
            calls = [c for c in self.calls if c["seq"] > since
                     and (endpoint is None or c["endpoint"] == endpoint)]
            return Response.json({"calls": calls, "last_seq": self.seq})

    def _calls_clear(self, req):
        self.clear_calls()
        return Response.json({})

    def clear_calls(self):
        with self.lock:
            self.calls.clear()
            self.counters.clear()
            self.by_resource.clear()

    def _counters_get(self, req):
        with self.lock:
            return Response.json({"counters": dict(self.counters),
                                  "by_resource": {k: dict(v) for k, v in self.by_resource.items()},
                                  "last_seq": self.seq})

    def reset_common(self):
        with self.lock:
            self.faults.clear()
            self.clear_calls()


# ---------------------------------------------------------------------------
# HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server_version = "standin"
    sys_version = ""

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400, "bad request body")
            return
        srv: "_HTTPServer" = self.server  # type: ignore[assignment]
        req = Request(self.command, self.path, self.headers, body,
                      self.client_address[0], srv.context)
        resp = srv.app.handle(req)
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, fmt, *args):
        if self.server.app.verbose:  # type: ignore[attr-defined]
            sys.stderr.write("%s %s\n" % (self.server.app.name, fmt % args))  # type: ignore


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, app: App, context: dict):
        self.app = app
        self.context = context
        self.open_sockets: set = set()
        self.sock_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address):
        with self.sock_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sock_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # a client hanging up mid-request is not worth a traceback
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)

    def close_all(self):
        with self.sock_lock:
            socks = list(self.open_sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def in_private_netns() -> bool:
    """True in a network namespace a test made with `ip netns add` (a test
    node's, tests/node/node.sh), whose addresses lead nowhere but the
    namespace itself: this thread's netns is one of /run/netns/*."""
    try:
        here = os.stat("/proc/thread-self/ns/net")
        named = [os.stat(os.path.join("/run/netns", n)) for n in os.listdir("/run/netns")]
    except OSError:
        return False
    return any((n.st_dev, n.st_ino) == (here.st_dev, here.st_ino) for n in named)


def bind_allowed(host: str) -> bool:
    """The network rule: the stand-ins listen on loopback, or on any address
    only inside a private network namespace (tests/node)."""
    return host in LOOPBACK_HOSTS or in_private_netns()


def connect_allowed(addr: str) -> bool:
    """The same rule for where a stand-in may connect to (the STS stand-in
    fetching an OIDC issuer's keys): an IP address on loopback (127.0.0.0/8,
    ::1), or any address inside a private network namespace. Names are not
    addresses: they never reach DNS."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return ip.is_loopback or in_private_netns()


class Listener:
    def __init__(self, app: App, host: str, port: int, context: dict | None = None):
        if not bind_allowed(host):
            raise ValueError(f"refusing to listen on {host}: loopback only, outside a test "
                             "node's private network namespace")
        self.httpd = _HTTPServer((host, port), app, context or {})
        self.host = host
        self.port = self.httpd.server_address[1]
        self.context = self.httpd.context
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       name=f"{app.name}:{self.port}", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.close_all()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class Server:
    """An App behind a main listener plus optional extra listeners."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self.main = Listener(app, host, port)
        self.extra: dict[int, Listener] = {}
        app.server = self

    @property
    def port(self) -> int:
        return self.main.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Server":
        self.main.start()
        return self

    def add_listener(self, context: dict, port: int = 0) -> Listener:
        lst = Listener(self.app, self.host, port, context).start()
        with self.app.lock:
            self.extra[lst.port] = lst
        return lst

    def remove_listener(self, port: int) -> bool:
        with self.app.lock:
            lst = self.extra.pop(port, None)
        if lst is None:
            return False
        lst.stop()
        return True

    def stop(self):
        for port in list(self.extra):
            self.remove_listener(port)
        self.main.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# CLI helpers


def write_atomic(path: str, text: str):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def serve_cli(server: Server, state_dir: str | None, name: str, info: dict | None = None):
    """Start, report the port, block until SIGTERM/SIGINT, stop. Returns exit code."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    line = {"name": name, "port": server.port, "url": server.url, "pid": os.getpid()}
    if info:
        line.update(info)
    if state_dir:
        os.makedirs(state_dir, exist_ok=True)
        write_atomic(os.path.join(state_dir, f"{name}.json"), json.dumps(line) + "\n")
        # the port file last: its presence means "ready"
        write_atomic(os.path.join(state_dir, f"{name}.port"), f"{server.port}\n")
    print(json.dumps(line), flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    if state_dir:
        for suffix in (".port", ".json"):
            try:
                os.unlink(os.path.join(state_dir, name + suffix))
            except OSError:
                pass
    return 0


def remove_entry(table: dict, key: Any, message: str, code: str = "NoSuchEntity"):
    """An admin DELETE: no key clears `table`, else the one entry goes (404
    with `message` if there is none). The caller holds the lock."""
    if key is None:
        table.clear()
    elif table.pop(key, None) is None:
        raise HttpError(404, message, code)


def as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes", "on")
    return bool(v)
