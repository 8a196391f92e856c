"""Fixtures and a tiny raw HTTP client for the fake apiserver's own tests."""
import http.client
import json
import ssl
import urllib.parse

import pytest

from fakekube import FakeKube, make_cluster


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode()) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.raw[:300])


class Raw:
    """Raw HTTP(S) client that keeps one keep-alive connection."""

    def __init__(self, kube, token=None):
        self.kube = kube
        self.token = kube.admin_token if token is None else token
        self.conn = None

    def _connect(self):
        u = urllib.parse.urlsplit(self.kube.url)
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.kube.ca_file)
            return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def request(self, method, path, body=None, content_type=None, headers=None, token=None,
                query=None):
        if query:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        hs = {}
        tok = self.token if token is None else token
        if tok:
            hs["Authorization"] = "Bearer " + tok
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
            hs["Content-Type"] = "application/json"
        if content_type:
            hs["Content-Type"] = content_type
        hs.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=hs)
                r = self.conn.getresponse()
                raw = r.read()
                return Resp(r.status, r.headers, raw)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body, content_type="application/strategic-merge-patch+json", **kw):
        return self.request("PATCH", path, body=json.dumps(body).encode(),
                            content_type=content_type, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()


def watch_stream(kube, path, token=None, read_timeout=10, headers=None):
    """Open a watch and return (response, iterator of decoded events)."""
    u = urllib.parse.urlsplit(kube.url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=kube.ca_file)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=read_timeout)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=read_timeout)
    hs = {"Authorization": "Bearer " + (token or kube.admin_token)}
    hs.update(headers or {})
    conn.request("GET", path, headers=hs)
    r = conn.getresponse()
    r.connection = conn

    def events():
        try:
            while True:
                line = r.readline()
                if not line:
                    return
                yield json.loads(line)
        finally:
            conn.close()
    return r, events()


@pytest.fixture
def kube():
    k = FakeKube(bookmark_interval=0.3).start()
    k.seed_nodes(make_cluster(12, seed=3))
    yield k
    k.stop()


@pytest.fixture
def api(kube):
    c = Raw(kube)
    yield c
    c.close()


@pytest.fixture
def make_api():
    """Factory for raw clients: make_api(kube, token=None)."""
    made = []

    def make(k, token=None):
        c = Raw(k, token=token)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def watch():
    """watch(kube, path, token=None) -> (response, events iterator)."""
    return watch_stream
