"""The answer shapes of AWS's query-API services (STS, IAM), shared by
sts.py and iam.py: `<ACTIONResponse>` with `ACTIONResult` and
`ResponseMetadata/RequestId`, and `ErrorResponse/Error{Type,Code,Message}`
with `RequestId` (`Type` Receiver for 5xx, Sender otherwise), each with an
`x-amzn-RequestId` header. A subclass names its XML namespace, the error
code of a bare status and the message of a bare code.
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from .common import App, Fault, HttpError, Request, Response


class QueryApiApp(App):
    """Routes `/` (a form POST, or a GET's query string) to query_api and the
    admin basics (state, reset, config) to the subclass's adm_* handlers."""

    NS = ""
    # the code of an error (or a fault) that names only its status
    DEFAULT_CODES: dict[int, str] = {}
    FALLBACK_CODE = "InternalFailure"
    # the message of a fault that names only its code
    DEFAULT_FAULT_MSGS: dict[str, str] = {}

    def __init__(self):
        super().__init__()
        self.add("POST", "/", self.query_api, self.name)
        self.add("GET", "/", self.query_api, self.name)
        A = lambda m, p, h, n: self.add(m, p, h, "admin." + n, True)  # noqa: E731
        A("GET", "/_admin/state", self.adm_state, "state")
        A("POST", "/_admin/reset", self.adm_reset, "reset")
        A("GET", "/_admin/config", self.adm_config_get, "config")
        A("POST", "/_admin/config", self.adm_config_set, "config")

    def query_api(self, req: Request) -> Response:
        raise NotImplementedError

    adm_state = adm_reset = adm_config_get = adm_config_set = query_api

    def error(self, req: Request, err: HttpError) -> Response:
        code = err.code or self.DEFAULT_CODES.get(err.status, self.FALLBACK_CODE)
        rid = str(uuid.uuid4())
        req.note["error_code"] = code
        kind = "Receiver" if err.status >= 500 else "Sender"
        body = (f'<ErrorResponse xmlns="{self.NS}">\n  <Error>\n    <Type>{kind}</Type>\n'
                f"    <Code>{escape(code)}</Code>\n    <Message>{escape(err.message)}</Message>\n"
                f"  </Error>\n  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n")
        return Response(err.status, body, "text/xml", {"x-amzn-RequestId": rid})

    def fault_error(self, req: Request, fault: Fault) -> HttpError:
        code = fault.code or self.DEFAULT_CODES.get(fault.status, self.FALLBACK_CODE)
        return HttpError(fault.status, fault.message or self.DEFAULT_FAULT_MSGS.get(code, code),
                         code)

    def not_found(self, req: Request) -> HttpError:
        return HttpError(404, f"Unknown path {req.path}", "NotFound")

    def ok(self, action: str, inner: str | None) -> Response:
        """`inner` None: an action that answers nothing but its metadata."""
        rid = str(uuid.uuid4())
        result = "" if inner is None else f"  <{action}Result>\n{inner}  </{action}Result>\n"
        body = (f'<{action}Response xmlns="{self.NS}">\n{result}'
                f"  <ResponseMetadata>\n    <RequestId>{rid}</RequestId>\n"
                f"  </ResponseMetadata>\n</{action}Response>\n")
        return Response(200, body, "text/xml", {"x-amzn-RequestId": rid})
