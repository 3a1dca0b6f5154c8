"""Posting to a URL a user chose: public addresses only, no redirects, a wall-clock deadline.

Pure of the app: webhooks (construction/services/webhooks.py) use it, and so
may anything else that calls out to an address it was given.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

# --- URLs and addresses ------------------------------------------------------------
#
# Server-side request forgery: a webhook makes this server send requests to an
# address a user chose. Left open, anyone allowed to subscribe could reach what
# only the server can — the cloud metadata service (169.254.169.254, which hands
# out credentials), databases and admin pages on localhost or the private
# network — and read the answers back through the delivery status. So a URL must
# be http(s) and its host must resolve only to public addresses, checked when the
# subscription is made AND again on every connection (a DNS name can be pointed
# at 127.0.0.1 after it was checked), and redirects are never followed (a public
# host could redirect to a private one). WEBHOOK_ALLOW_PRIVATE lifts the address
# rule for tests and closed networks.


class WebhookUrlError(ValueError):
    """A URL requests may not be sent to."""


class PrivateAddressError(OSError):
    """A connection refused because the address is not public."""


def is_public_address(address: str) -> bool:
    """Tell whether an IP address is globally routable (not private, loopback, link-local...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> str:
    """Return the URL if webhooks may be sent to it, else raise WebhookUrlError."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise WebhookUrlError("The URL may not contain spaces or control characters.")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookUrlError(f"The URL is not valid ({error}).") from error
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlError("Use an http or https URL.")
    if not parts.hostname:
        raise WebhookUrlError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("Put no credentials in the URL: receivers check the signature.")
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https"
                                                             else 80), 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise WebhookUrlError(f"The host {parts.hostname} does not resolve.") from error
    for info in infos:
        if not is_public_address(info[4][0]):
            raise WebhookUrlError(
                f"The host {parts.hostname} resolves to {info[4][0]}, a private, loopback or "
                "link-local address: webhooks only go to public addresses.")
    return url


def _connect_public(address, timeout=None, source_address=None, *args):
    """Open a TCP connection like socket.create_connection, to public addresses only."""
    host, port = address
    last_error: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0,
                                                               socket.SOCK_STREAM):
        if not is_public_address(sockaddr[0]):
            last_error = PrivateAddressError(
                f"{host} resolves to {sockaddr[0]}, which is not a public address")
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last_error = error
    raise last_error


class _Deadline:
    """Cut an attempt's connections when its wall-clock time is up.

    A socket timeout bounds each read, so a receiver that sends one byte every
    few seconds would hold a delivery for ever; this bounds the whole attempt.
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _cut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
    except OSError:
        pass


def _connection(base: type, deadline: _Deadline, public: bool) -> type:
    class Connection(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            create = _connect_public if public else socket.create_connection

            def tracked(*args, **kwargs):
                return deadline.track(create(*args, **kwargs))

            self._create_connection = tracked

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connection: type):
        super().__init__()
        self._connection = connection

    def http_open(self, req):
        return self.do_open(self._connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connection: type):
        super().__init__()
        self._connection = connection

    def https_open(self, req):
        return self.do_open(self._connection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx answer then surfaces as an HTTPError: a failed attempt


def _opener(allow_private: bool, deadline: _Deadline) -> urllib.request.OpenerDirector:
    # No proxies from the environment: the address check must see the real peer.
    public = not allow_private
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirects(),
        _HTTPHandler(_connection(http.client.HTTPConnection, deadline, public)),
        _HTTPSHandler(_connection(http.client.HTTPSConnection, deadline, public)))


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    delivered: bool
    status_code: int | None
    error: str


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float,
              allow_private: bool) -> Outcome:
    """POST a JSON body; a 2xx answer is delivered, anything else a failure with its reason."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", **headers})
    with _Deadline(timeout) as deadline:
        outcome = _post(request, timeout, allow_private, deadline)
    if deadline.expired and not outcome.delivered:
        return Outcome(False, None, f"timed out: no complete answer within {timeout:g} s")
    return outcome


def _post(request: urllib.request.Request, timeout: float, allow_private: bool,
          deadline: _Deadline) -> Outcome:
    try:
        with _opener(allow_private, deadline).open(request, timeout=timeout) as response:
            return Outcome(True, response.status, "")
    except urllib.error.HTTPError as error:
        try:
            if 300 <= error.code < 400:
                return Outcome(False, error.code, f"HTTP {error.code} redirect to "
                               f"{error.headers.get('Location', '?')} not followed: "
                               "subscribe the final URL")
            try:
                text = error.read(200).decode("utf-8", "replace").strip()
            except (OSError, http.client.HTTPException):
                text = ""
            return Outcome(False, error.code, f"HTTP {error.code}" + (f": {text}" if text
                                                                      else ""))
        finally:
            error.close()
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return Outcome(False, None, f"timed out after {timeout:g} s")
        return Outcome(False, None, f"{type(reason).__name__}: {reason}"
                       if isinstance(reason, Exception) else str(reason))
    except TimeoutError:
        return Outcome(False, None, f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Outcome(False, None, f"{type(error).__name__}: {error}")
