"""IAM OIDC identity providers for the STS stand-in, kept the way AWS IAM keeps
them, and the HTTPS fetches that get an issuer's verification keys.

A provider is a URL (https://, no trailing slash, no query) and a client-id
list, in one account; its ARN is arn:PARTITION:iam::ACCOUNT:oidc-provider/
followed by the URL without https://, and trust policies name that ARN as
Principal.Federated with condition keys HOST/PATH:sub and HOST/PATH:aud.

Keys are fetched as AWS does: ISSUER/.well-known/openid-configuration over
HTTPS, whose `issuer` must be the provider URL, then its `jwks_uri` over
HTTPS; both certificates are verified (against one CA bundle file, or the
system's roots). Keys are cached for an hour and fetched again when a token
names a kid the cache does not hold (the issuer may have rotated).

Nothing here reaches DNS or leaves the machine: a host name connects only
through the resolver map (curl's --resolve HOST:PORT:ADDR and --connect-to
HOST:PORT:ADDR:PORT; SNI, Host and the certificate check still use the
name), `localhost` is 127.0.0.1, and an address (from the map or written in
the URL) must pass common.connect_allowed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import jwt

from .common import connect_allowed

MAX_DOCUMENT = 1024 * 1024
FETCH_TIMEOUT = 5.0  # AWS gives an IdP about 5 s
KEY_MAX_AGE = 3600.0


class IdpUnreachable(Exception):
    """The issuer could not be asked: no route here, TCP, TLS or an HTTP
    status other than 200 (AWS: IDPCommunicationError)."""


class IdpMisconfigured(Exception):
    """The issuer answered, but not with usable discovery or keys (AWS:
    InvalidIdentityToken "Couldn't retrieve verification key ...")."""


# ---------------------------------------------------------------------------
# Provider registry


def validate_provider_url(url: Any) -> str:
    """The URL as CreateOpenIDConnectProvider takes it, or ValueError saying why."""
    if not isinstance(url, str) or not 1 <= len(url) <= 255:
        raise ValueError("Url must be a string of 1 to 255 characters")
    if not url.startswith("https://"):
        raise ValueError(f"Invalid provider URL {url!r}: it must start with https://")
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"Invalid provider URL {url!r}: a host is needed, query and "
                         "fragment are not allowed")
    if url.endswith("/"):
        raise ValueError(f"Invalid provider URL {url!r}: no trailing slash")
    if parts.username or parts.password:
        raise ValueError(f"Invalid provider URL {url!r}: no user information")
    return url


def validate_client_ids(ids: Any) -> list[str]:
    if ids is None:
        return []
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or len(ids) > 100:
        raise ValueError("ClientIDList must be a list of at most 100 client ids")
    out: list[str] = []
    for c in ids:
        if not isinstance(c, str) or not 1 <= len(c) <= 255:
            raise ValueError("each client id must be a string of 1 to 255 characters")
        if c not in out:
            out.append(c)
    return out


def provider_arn(partition: str, account: str, url: str) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{url[len('https://'):]}"


class OidcProvider:
    def __init__(self, url: str, client_ids: list[str], account: str, partition: str,
                 fetch: Callable[[str], Any]):
        self.url = validate_provider_url(url)
        self.client_ids = validate_client_ids(client_ids)
        self.account = account
        self.partition = partition
        self.arn = provider_arn(partition, account, url)
        # the prefix of its condition keys: HOST/PATH:sub, HOST/PATH:aud
        self.key_prefix = url[len("https://"):]
        self.created = time.time()
        self.keys = IssuerKeys(url, fetch)

    def describe(self) -> dict:
        return {"arn": self.arn, "url": self.url, "client_ids": list(self.client_ids),
                "account": self.account, "created": self.created,
                "jwks_uri": self.keys.jwks_uri, "discovery_fetches": self.keys.discovery_fetches,
                "jwks_fetches": self.keys.jwks_fetches, "kids": sorted(self.keys.keys)}


# ---------------------------------------------------------------------------
# Where a host name connects


def _addr(text: str) -> str:
    a = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(a)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None
    if not connect_allowed(a):
        raise ValueError(f"{a} is not a loopback address (only loopback, or any address "
                         "inside a test node's private network namespace)")
    return a


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a port")
    return int(text)


class Resolver:
    """(host, port) -> (address, port), from curl-style entries."""

    def __init__(self, resolve: list[str] = (), connect_to: list[str] = ()):
        self.map: dict[tuple[str, int], tuple[str, int]] = {}
        for spec in resolve:
            host, port, addr = self.parse_resolve(spec)
            self.map[(host, port)] = (addr, port)
        for spec in connect_to:
            host, port, addr, to_port = self.parse_connect_to(spec)
            self.map[(host, port)] = (addr, to_port)

    @staticmethod
    def parse_resolve(spec: str) -> tuple[str, int, str]:
        """HOST:PORT:ADDR (ADDR may be [v6])."""
        host, sep1, rest = str(spec).partition(":")
        port, sep2, addr = rest.partition(":")
        if not (sep1 and sep2 and host and addr):
            raise ValueError(f"{spec!r}: want HOST:PORT:ADDR")
        return host.lower(), _port(port), _addr(addr)

    @staticmethod
    def parse_connect_to(spec: str) -> tuple[str, int, str, int]:
        """HOST:PORT:ADDR:PORT (ADDR may be [v6])."""
        host, sep1, rest = str(spec).partition(":")
        port, sep2, target = rest.partition(":")
        addr, sep3, to_port = target.rpartition(":")
        if not (sep1 and sep2 and sep3 and host and addr):
            raise ValueError(f"{spec!r}: want HOST:PORT:ADDR:PORT")
        return host.lower(), _port(port), _addr(addr), _port(to_port)

    def target(self, host: str, port: int) -> tuple[str, int]:
        hit = self.map.get((host.lower(), port))
        if hit is not None:
            return hit
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host.lower() == "localhost":
                return "127.0.0.1", port
            raise IdpUnreachable(f"{host}:{port} does not resolve here (no --resolve or "
                                 "--connect-to entry)") from None
        if not connect_allowed(host):
            raise IdpUnreachable(f"{host} is not a loopback address")
        return host, port


# ---------------------------------------------------------------------------
# HTTPS GET


class _RoutedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `host` whose TCP connection goes to `route`: SNI, the Host
    header and the certificate check all use `host`."""

    def __init__(self, host: str, port: int, route: tuple[str, int], context: ssl.SSLContext,
                 timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self._route = route
        self._tls = context

    def connect(self):
        sock = socket.create_connection(self._route, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def fetch_json(url: str, resolver: Resolver, ca_file: str | None,
               timeout: float = FETCH_TIMEOUT) -> Any:
    """GET an https URL and parse its JSON body. Redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise IdpMisconfigured(f"{url} is not an https URL")
    port = parts.port or 443
    route = resolver.target(parts.hostname, port)
    try:
        ctx = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as e:
        raise IdpUnreachable(f"CA bundle {ca_file}: {e}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _RoutedHTTPSConnection(parts.hostname, port, route, ctx, timeout)
    try:
        # no Accept header: the apiserver answers 406 to Accept: application/json
        # for its JWKS, which it serves as application/jwk-set+json
        conn.request("GET", target)
        r = conn.getresponse()
        body = r.read(MAX_DOCUMENT + 1)
        status = r.status
    except ssl.SSLCertVerificationError as e:
        raise IdpUnreachable(f"{url}: {e.verify_message}") from None
    except (OSError, http.client.HTTPException) as e:
        raise IdpUnreachable(f"{url}: {e.__class__.__name__}: {e}") from None
    finally:
        conn.close()
    if status != 200:
        raise IdpUnreachable(f"{url}: HTTP {status}")
    if len(body) > MAX_DOCUMENT:
        raise IdpMisconfigured(f"{url}: document larger than {MAX_DOCUMENT} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise IdpMisconfigured(f"{url}: not JSON") from None


# ---------------------------------------------------------------------------
# Key cache


class IssuerKeys:
    """Discovery document and JWKS of one issuer."""

    def __init__(self, issuer: str, fetch: Callable[[str], Any], max_age: float = KEY_MAX_AGE):
        self.issuer = issuer
        self.fetch = fetch
        self.max_age = max_age
        self.keys: dict[str, Any] = {}
        self.jwks_uri: str | None = None
        self.fetched_at = 0.0
        self.discovery_fetches = 0
        self.jwks_fetches = 0
        self.lock = threading.Lock()

    def _refresh(self):
        self.discovery_fetches += 1
        doc = self.fetch(self.issuer + "/.well-known/openid-configuration")
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer:
            got = doc.get("issuer") if isinstance(doc, dict) else None
            raise IdpMisconfigured(f"discovery issuer {got!r} is not the provider URL "
                                   f"{self.issuer!r}")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise IdpMisconfigured(f"discovery jwks_uri {uri!r} is not an https URL")
        self.jwks_fetches += 1
        jwks = self.fetch(uri)
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise IdpMisconfigured(f"{uri}: not a JWKS")
        keys = {}
        for k in jwks["keys"]:
            if not isinstance(k, dict) or k.get("kty") != "RSA" or not k.get("kid"):
                continue
            if k.get("use") not in (None, "sig"):
                continue
            try:
                keys[str(k["kid"])] = jwt.PyJWK(k, algorithm="RS256").key
            except (jwt.PyJWTError, ValueError, KeyError, TypeError):
                raise IdpMisconfigured(f"{uri}: key {k.get('kid')!r} is not a usable RSA "
                                       "key") from None
        self.keys = keys
        self.jwks_uri = uri
        self.fetched_at = time.time()

    def key(self, kid: str):
        """The key named kid, or None; raises IdpUnreachable/IdpMisconfigured."""
        with self.lock:
            fetched = False
            if not self.keys or time.time() - self.fetched_at > self.max_age:
                self._refresh()
                fetched = True
            if kid not in self.keys and not fetched:
                self._refresh()  # unknown kid: the issuer may have rotated
            return self.keys.get(kid)

    def clear(self):
        with self.lock:
            self.keys = {}
            self.fetched_at = 0.0
