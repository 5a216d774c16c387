"""What every simulator shares: routing, a movable clock, injected faults, controls, and serving.

Each system's simulator lives in sandbox/<system>/simulator.py as a `Simulator` subclass, named by
its System's `simulator_class_path` in the registry. The hub serves them all under one prefix per
system (/bill/..., /infor/...) plus the controls under /_control/. The same hub is served standalone
(`manage.py sandbox --port N`, tests) or mounted in the portal under /sandbox/ when SANDBOX_ENABLED.
State lives in the serving process.
"""

import contextlib
import hashlib
import itertools
import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from connectors.registry import SYSTEMS

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               412: "Precondition Failed", 413: "Payload Too Large", 422: "Unprocessable Entity",
               429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
               504: "Gateway Timeout"}

logger = logging.getLogger("sandbox.hub")

FAULT_KEYS = {"latency_ms", "error_rate", "rate_limit_rate", "timeout_rate", "session_expiry_rate",
              "conflict_rate", "timeout_seconds", "malformed_rate"}


class Clock:
    """Wall-clock time plus an offset the controls can move forward."""

    def __init__(self):
        self.offset = 0.0

    def time(self):
        return time.time() + self.offset

    def now(self):
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds):
        self.offset += float(seconds)


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict  # lower-cased names
    body: bytes = b""
    remote_addr: str = ""

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        """The JSON body, or raise BadRequest with a message."""
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"Malformed JSON body: {exc}") from None

    def form(self):
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, status, data, headers=None):
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status, text, headers=None):
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


class BadRequest(Exception):
    pass


def stable_id(prefix, key, taken=(), width=14, digits=False):
    """An id for a new object, derived from what it is instead of drawn at random. The simulators keep their data
    in memory, so a restart loads the demo again: the same data must get the same ids, or the mapping rules people
    made would point at accounts that no longer exist. `key` names the object: its organization (or company) and
    its natural key, such as an account's number. An id in `taken` (a second object of the same key, or a rare
    clash) moves on to the next candidate, so the n-th object of a key gets the same id every time too."""
    for n in itertools.count():
        digest = hashlib.sha256(json.dumps([*key, n], default=str).encode()).hexdigest()
        body = f"{int(digest, 16) % 10 ** width:0{width}d}" if digits else digest[:width].upper()
        if prefix + body not in taken:
            return prefix + body


def stable_uuid(*key):
    """A GUID derived from what the object is (see stable_id), for systems whose ids are GUIDs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(key, default=str)))


def route(method, pattern):
    """Mark a Simulator method as the handler of METHOD on a path matching the regex PATTERN."""

    def mark(func):
        func.route = (method, re.compile("^" + pattern + "$"))
        return func

    return mark


class InFlight:
    """Calls under way per key, the gate a simulator puts in front of a documented concurrency limit: a call
    over the limit is refused (the simulator answers it in its system's words), never queued."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = {}
        self.peak = 0
        self.refused = 0

    @contextlib.contextmanager
    def admit(self, key, limit):
        """Yield True while the call holds a place under `limit` for `key`, False when it was refused."""
        with self.lock:
            admitted = self.now.get(key, 0) < limit
            if admitted:
                self.now[key] = self.now.get(key, 0) + 1
                self.peak = max(self.peak, self.now[key])
            else:
                self.refused += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self.lock:
                    self.now[key] -= 1


class Simulator:
    """Base of every system simulator. Subclasses define routes, auth and the system's own error shapes."""

    id = ""
    # {assumption id (docs/ASSUMPTIONS.md): (the value the simulator answers by default, as the connectors assume,
    # then each other way the real system might behave)}. POST /_control/variant switches one; a reset restores it.
    # Every probe (connectors.assumptions) is tested against each: held by default, contradicted otherwise.
    VARIANTS = {}

    def __init__(self, hub):
        self.hub = hub
        self.lock = threading.RLock()
        self.routes = [getattr(self, n).route + (getattr(self, n),) for n in dir(type(self))
                       if callable(getattr(type(self), n, None)) and hasattr(getattr(type(self), n), "route")]
        self.reset()

    @property
    def clock(self):
        return self.hub.clock

    # --- to be provided by each simulator -------------------------------------------------------
    def reset(self):
        raise NotImplementedError

    def state(self):
        raise NotImplementedError

    def authenticate(self, request, handler):
        """Return an auth context, or a Response refusing the call."""
        return None

    def expire_session(self, request):
        """Forget the session or token the request carries (the session_expiry fault)."""

    def error_response(self, status, code, message):
        return Response.json(status, {"error": code, "message": message})

    def rate_limited_response(self, request, context):
        return self.error_response(429, "rate_limited", "Too many requests")

    def conflict_response(self, request, context):
        return self.error_response(412, "conflict", "The record was changed by someone else")

    @contextlib.contextmanager
    def admission(self, request, context):
        """A concurrency gate; yield a Response to refuse the call, None to let it in."""
        yield None

    def control(self, action, payload):
        raise BadRequest(f"{self.id} has no control {action!r}")

    def variant(self, assumption_id):
        """How the simulator behaves on `assumption_id` now: the default, or the value /_control/variant set."""
        return self.hub.variants.get(self.id, {}).get(assumption_id, self.VARIANTS[assumption_id][0])

    # --- the request pipeline ---------------------------------------------------------------------
    def match(self, method, path):
        allowed = False
        for route_method, pattern, handler in self.routes:
            m = pattern.match(path)
            if m:
                if route_method == method:
                    return handler, m.groupdict()
                allowed = True
        return ("method_not_allowed" if allowed else None), {}

    def not_found(self, request):
        return self.error_response(404, "not_found", f"No such resource: {request.method} {request.path}")

    def handle(self, request):
        handler, params = self.match(request.method, request.path)
        self.hub.count_call(self.id, request.method, endpoint_of(request.path, params))
        if handler is None:
            return self.not_found(request)
        if handler == "method_not_allowed":
            return self.error_response(405, "method_not_allowed", f"{request.method} is not allowed here")
        faults = self.hub.faults.get(self.id, {})
        public = getattr(handler, "public", False)
        if not public and self.hub.roll(faults.get("session_expiry_rate")):
            with self.lock:
                self.expire_session(request)
        context = None
        if not public:
            with self.lock:
                context = self.authenticate(request, handler)
            if isinstance(context, Response):
                return context
        with self.admission(request, context) as refusal:
            if refusal is not None:
                return refusal
            latency = faults.get("latency_ms")
            if latency:
                time.sleep(float(latency) / 1000)
            if self.hub.roll(faults.get("timeout_rate")):
                time.sleep(float(faults.get("timeout_seconds", 5)))
                return self.error_response(504, "gateway_timeout", "The upstream did not answer in time")
            if self.hub.roll(faults.get("error_rate")):
                return self.error_response(500, "server_error", "Internal server error (injected)")
            if self.hub.roll(faults.get("rate_limit_rate")):
                return self.rate_limited_response(request, context)
            if self.hub.roll(faults.get("malformed_rate")):
                return Response(200, b'{"results": [{"id": "trunc', {"Content-Type": "application/json"})
            if request.method in ("PUT", "PATCH", "POST") and self.hub.roll(faults.get("conflict_rate")):
                return self.conflict_response(request, context)
            try:
                with self.lock:
                    return handler(request, context, **params)
            except BadRequest as exc:
                return self.error_response(400, "bad_request", str(exc))


def endpoint_of(path, params):
    """A call's path with the object it names left out (a route group whose name ends in "id", or an action's
    operation), so that the calls of one endpoint are counted together."""
    for name, value in params.items():
        if value and (name.endswith("id") or name == "operation"):
            path = path.replace(value, "{" + name + "}", 1)
    return path


def public(func):
    """A route that needs no session (login, token endpoints)."""
    func.public = True
    return func


def simulator_classes():
    """{system id: Simulator subclass} for every system in the registry that declares a simulator.

    A declared simulator that does not import, or that answers to another id, raises ImproperlyConfigured
    naming it: serving the others without it would only show up later as that system's URLs answering 404."""
    classes = {}
    for system in SYSTEMS.values():
        if not system.simulator_class_path:
            continue
        try:
            cls = import_string(system.simulator_class_path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"The {system.label} simulator {system.simulator_class_path} (declared in "
                                       f"connectors/{system.id}/system.py) does not import: {exc}") from exc
        if cls.id != system.id:
            # Faults and controls find a simulator by its own id, routing by the system's.
            raise ImproperlyConfigured(f"The {system.label} simulator {system.simulator_class_path} has id "
                                       f"{cls.id!r}; it must be {system.id!r}.")
        classes[system.id] = cls
    return classes


class SandboxHub:
    def __init__(self):
        self.clock = Clock()
        self.faults = {}
        self.variants = {}  # {system id: {assumption id: value}}, as set by /_control/variant
        self._random = random.Random(0)
        self._random_lock = threading.Lock()
        # {system id: {"GET /path": calls}}: where a run's calls go, shown by the state control as calls_by_path.
        self.calls_by_path = {}
        self._calls_lock = threading.Lock()
        self.simulators = {system_id: cls(self) for system_id, cls in simulator_classes().items()}

    def start_background(self, interval=1.0):
        """Let simulators act on their own (BILL delivering webhooks) once per `interval` seconds.
        Tests leave this off and drive deliveries through the controls."""

        def loop():
            while True:
                time.sleep(interval)
                for sim in list(self.simulators.values()):
                    tick = getattr(sim, "tick", None)
                    if tick:
                        try:
                            tick()
                        except Exception:  # a simulator bug must not stop the others
                            logger.exception("sandbox %s tick failed", sim.id)

        threading.Thread(target=loop, daemon=True, name="sandbox-background").start()

    def count_call(self, system_id, method, endpoint):
        with self._calls_lock:
            by_path = self.calls_by_path.setdefault(system_id, {})
            by_path[f"{method} {endpoint}"] = by_path.get(f"{method} {endpoint}", 0) + 1

    def roll(self, rate):
        if not rate:
            return False
        with self._random_lock:
            return self._random.random() < float(rate)

    def reset(self, system=None):
        targets = [system] if system else list(self.simulators)
        for system_id in targets:
            sim = self._simulator(system_id)
            with sim.lock:
                sim.reset()
            self.faults.pop(system_id, None)
            self.variants.pop(system_id, None)
            with self._calls_lock:
                self.calls_by_path.pop(system_id, None)
        if not system:
            self.clock.offset = 0.0
            self.faults.clear()
            self.variants.clear()
            self._random = random.Random(0)

    def _simulator(self, system_id):
        try:
            return self.simulators[system_id]
        except KeyError:
            raise BadRequest(f"Unknown system {system_id!r}; simulated: {', '.join(self.simulators)}") from None

    def set_faults(self, payload):
        if not isinstance(payload, dict) or "system" not in payload:
            raise BadRequest('Send {"system": "<id>", ...fault keys}; keys: ' + ", ".join(sorted(FAULT_KEYS)))
        system_id = payload["system"]
        self._simulator(system_id)
        unknown = set(payload) - FAULT_KEYS - {"system", "seed"}
        if unknown:
            raise BadRequest(f"Unknown fault keys: {', '.join(sorted(unknown))}")
        for key in set(payload) & FAULT_KEYS:
            try:
                value = float(payload[key])
            except (TypeError, ValueError):
                raise BadRequest(f"{key} must be a number") from None
            if key.endswith("_rate") and not 0 <= value <= 1:
                raise BadRequest(f"{key} is a probability between 0 and 1")
        if "seed" in payload:
            self._random = random.Random(payload["seed"])
        self.faults[system_id] = {k: float(v) for k, v in payload.items() if k in FAULT_KEYS}
        return self.faults[system_id]

    def set_variant(self, payload):
        if not isinstance(payload, dict) or not {"system", "assumption", "value"} <= set(payload):
            raise BadRequest('Send {"system": "<id>", "assumption": "<id>", "value": "<one of its values>"}')
        sim = self._simulator(payload["system"])
        known = sim.VARIANTS.get(payload["assumption"])
        if known is None:
            raise BadRequest(f"The {sim.id} simulator has no variant for assumption {payload['assumption']!r}; it has: "
                             f"{', '.join(sim.VARIANTS) or 'none'}")
        if payload["value"] not in known:
            raise BadRequest(f"Assumption {payload['assumption']} takes one of: {', '.join(map(str, known))} "
                             f"(the first is the default)")
        with sim.lock:
            self.variants.setdefault(sim.id, {})[payload["assumption"]] = payload["value"]
        return {"system": sim.id, "assumption": payload["assumption"], "value": payload["value"]}

    def dispatch(self, request):
        parts = request.path.lstrip("/").split("/", 1)
        head, rest = parts[0], "/" + (parts[1] if len(parts) > 1 else "")
        try:
            if head == "_control":
                return self.control(request, rest)
            if head not in self.simulators:
                return Response.json(404, {"error": "not_found", "message": self.no_simulator(head)})
            return self.simulators[head].handle(Request(request.method, rest, request.query, request.headers,
                                                        request.body, request.remote_addr))
        except BadRequest as exc:
            return Response.json(400, {"error": "bad_request", "message": str(exc)})

    def no_simulator(self, head):
        simulated = ", ".join(f"/{system_id}/" for system_id in self.simulators)
        if head in SYSTEMS:
            return f"{SYSTEMS[head].label} has no simulator yet. Simulated systems: {simulated}"
        return f"No system {head!r} is known. Simulated systems: {simulated}"

    def control(self, request, rest):
        payload = request.json() if request.method == "POST" and request.body else {}
        if rest == "/reset" and request.method == "POST":
            self.reset((payload or {}).get("system"))
            return Response.json(200, {"reset": (payload or {}).get("system") or "all"})
        if rest == "/faults" and request.method == "POST":
            return Response.json(200, {"faults": self.set_faults(payload)})
        if rest == "/variant" and request.method == "POST":
            return Response.json(200, {"variant": self.set_variant(payload)})
        if rest == "/clock" and request.method == "POST":
            try:
                seconds = float((payload or {})["advance_seconds"])
            except (KeyError, TypeError, ValueError):
                raise BadRequest('Send {"advance_seconds": N}') from None
            if seconds < 0:
                raise BadRequest("The clock only moves forward")
            self.clock.advance(seconds)
            return Response.json(200, {"now": self.clock.now().isoformat(), "offset_seconds": self.clock.offset})
        if rest == "/state" and request.method == "GET":
            sim = self._simulator(request.arg("system", ""))
            with sim.lock, self._calls_lock:
                return Response.json(200, {**sim.state(), "calls_by_path": dict(self.calls_by_path.get(sim.id, {}))})
        m = re.match(r"^/(?P<system>[a-z]+)/(?P<action>[a-z_-]+)$", rest)
        if m and request.method == "POST":
            sim = self._simulator(m["system"])
            return Response.json(200, sim.control(m["action"], payload or {}))
        raise BadRequest(f"Unknown control {request.method} /_control{rest}")


_hub = None
_hub_lock = threading.Lock()


def get_hub():
    """The process-wide hub that the portal mount serves."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = SandboxHub()
            _hub.start_background()
        return _hub


# --- serving ----------------------------------------------------------------------------------------

def wsgi_app(hub):
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"),
                          parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True), headers, body,
                          environ.get("REMOTE_ADDR", ""))
        response = hub.dispatch(request)
        start_response(f"{response.status} {STATUS_TEXT.get(response.status, '')}",
                       [(k, v) for k, v in response.headers.items()] + [("Content-Length", str(len(response.body)))])
        return [response.body]

    return app


def django_view(request, path):
    from django.http import HttpResponse

    headers = {k.lower(): v for k, v in request.headers.items()}
    sim_request = Request(request.method, "/" + path, {k: request.GET.getlist(k) for k in request.GET}, headers,
                          request.body, request.META.get("REMOTE_ADDR", ""))
    response = get_hub().dispatch(sim_request)
    django_response = HttpResponse(response.body, status=response.status)
    for key, value in response.headers.items():
        django_response[key] = value
    return django_response


django_view.csrf_exempt = True


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve_in_thread(app, host="127.0.0.1", port=0):
    """Serve a WSGI app on loopback in a daemon thread; return (server, base_url). server.shutdown() stops it."""
    server = make_server(host, port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name=f"wsgi-{server.server_port}")
    thread.start()
    return server, f"http://{host}:{server.server_port}"
