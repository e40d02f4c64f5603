"""A local HTTPS OIDC issuer for tests, shaped like a Kubernetes
ServiceAccount issuer: its own CA, RSA signing keys it rotates, and
ISSUER/.well-known/openid-configuration plus ISSUER/openid/v1/jwks (as
application/jwk-set+json, refusing Accept: application/json with 406 as
kube-apiserver does).

    ca = TestCA("issuer-ca")
    with OidcIssuer(ca, "oidc.gtoken.test", "/clusters/c1") as iss:
        token = iss.sign(iss.claims("system:serviceaccount:ns:ksa", "sts.amazonaws.com"))

It listens on 127.0.0.1 (a random port) with a certificate for its host
name and for 127.0.0.1; the URL keeps the default port 443 unless
url_port=True, so a client reaches it with curl-style --connect-to
HOST:443:127.0.0.1:PORT. What it was asked is kept per path, with the Host
header and the TLS server name (SNI) each request came with.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TestCA:
    """A self-signed CA that issues TLS server certificates."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5))
                     .not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                         self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, dns: list[str], ips: list[str] = ("127.0.0.1",)) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for a server known by these names."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i))
                                                 for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            dns[0] if dns else ips[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def write_bundle(path, *cas: TestCA) -> str:
    with open(path, "wb") as f:
        for ca in cas:
            f.write(ca.pem)
    return str(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        iss: OidcIssuer = self.server.issuer  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        sni = getattr(self.connection, "gtoken_sni", None)
        with iss.lock:
            iss.requests.append({"path": path, "host": self.headers.get("Host"), "sni": sni})
        if path == iss.path + "/.well-known/openid-configuration":
            body: Any = iss.discovery()
            ctype = "application/json"
        elif path == iss.path + "/openid/v1/jwks":
            body = iss.jwks()
            ctype = "application/jwk-set+json"
        else:
            return self._empty(404)
        # as kube-apiserver: an Accept header that does not allow the type is 406
        accept = self.headers.get("Accept")
        if accept and not {ctype, "*/*", "application/*"} & {
                a.split(";")[0].strip() for a in accept.split(",")}:
            return self._empty(406)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ctx: ssl.SSLContext, issuer: "OidcIssuer"):
        self.ctx = ctx
        self.issuer = issuer
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        # the handshake runs in the request's thread, not the accept loop
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. the client did not trust our certificate
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


class OidcIssuer:
    """An OIDC issuer at https://HOST[:PORT]PATH."""

    def __init__(self, ca: TestCA, host: str = "oidc.gtoken.test", path: str = "/clusters/c1",
                 url_port: bool = False, cert_names: list[str] | None = None):
        """cert_names: the DNS names of its certificate (default: host)."""
        self.ca = ca
        self.host = host
        self.cert_names = cert_names if cert_names is not None else [host]
        self.path = path.rstrip("/")
        self.url_port = url_port
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.signing: list[tuple[str, Any]] = []  # (kid, private key), newest first
        self.published = 2  # how many of the newest keys the JWKS carries
        self.discovery_issuer: str | None = None  # None: the issuer URL
        self.jwks_uri: str | None = None          # None: ISSUER/openid/v1/jwks
        self.rotate()
        self.httpd: _TLSServer | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "OidcIssuer":
        cert, key = self.ca.issue(self.cert_names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.NamedTemporaryFile() as c, tempfile.NamedTemporaryFile() as k:
            c.write(cert)
            c.flush()
            k.write(key)
            k.flush()
            ctx.load_cert_chain(c.name, k.name)

        def on_sni(sock, name, _ctx):
            sock.gtoken_sni = name
        ctx.sni_callback = on_sni
        self.httpd = _TLSServer(ctx, self)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name=f"oidc-issuer:{self.port}").start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what it serves -------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"https://{self.host}" + (f":{self.port}" if self.url_port else "")

    @property
    def url(self) -> str:
        return self.origin + self.path

    @property
    def connect_to(self) -> str:
        """The curl-style --connect-to entry that reaches this issuer."""
        return f"{self.host}:{self.port if self.url_port else 443}:127.0.0.1:{self.port}"

    def discovery(self) -> dict:
        return {"issuer": self.discovery_issuer or self.url,
                "jwks_uri": self.jwks_uri or self.url + "/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}

    def jwks(self) -> dict:
        with self.lock:
            keys = self.signing[: self.published] if self.published else self.signing
            out = []
            for kid, key in keys:
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                out.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def rotate(self, keep: int = 2) -> str:
        """A new signing key; the JWKS carries the newest `keep` (0: all)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"k{len(self.signing) + 1}-{int(time.time() * 1000) % 100000}"
        with self.lock:
            self.signing.insert(0, (kid, key))
            self.published = keep
        return kid

    def hits(self, what: str) -> int:
        suffix = {"discovery": "/.well-known/openid-configuration", "jwks": "/openid/v1/jwks"}[what]
        with self.lock:
            return sum(1 for r in self.requests if r["path"] == self.path + suffix)

    # -- tokens ---------------------------------------------------------------

    def claims(self, sub: str, aud: str | list[str], lifetime: int = 600, **extra) -> dict:
        """ServiceAccount-token-like claims (as the TokenRequest API gives)."""
        now = int(time.time())
        return {"iss": self.url, "sub": sub, "aud": aud if isinstance(aud, list) else [aud],
                "iat": now, "nbf": now, "exp": now + lifetime} | extra

    def sign(self, claims: dict, kid: str | None = None, key=None) -> str:
        """RS256 with the newest key (or the one named kid, or `key` under kid)."""
        with self.lock:
            if key is None:
                kid, key = next((k, v) for k, v in self.signing if kid in (None, k))
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
