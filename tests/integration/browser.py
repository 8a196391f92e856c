"""A real headless Chromium for tests, driven over the Chrome DevTools Protocol (CDP).

Standard library only: CDP is JSON over one websocket, and the part of RFC 6455 a local client
needs (masked text frames out; text, continuation, ping and close frames in) fits in a page, so
no websocket or browser-automation package is needed.

    with Chromium(tmp_dir) as browser:
        page = browser.new_page()
        page.open("file:///tmp/report.html")
        page.evaluate("document.title")
        page.click("#nodes-table th:nth-child(7)")
        page.screenshot("shot.png")
        page.console_errors()          # console.error/warn calls, uncaught exceptions, CSP reports

The flags are the ones DESIGN.md lists for this machine; ``--remote-debugging-port=0`` makes
Chromium pick a free port and write it to ``DevToolsActivePort`` in the profile directory.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-port=0")


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    pass


class WebSocket:
    """A minimal client websocket (RFC 6455) over a plain TCP socket to 127.0.0.1."""

    def __init__(self, url, timeout=30.0):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (parts.path, parts.hostname, parts.port, key))
        self.sock.sendall(request.encode())
        self.buffer = bytearray()
        head = self._read_until(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise BrowserError("websocket handshake refused: %r" % head[:200])

    def _fill(self, size):
        while len(self.buffer) < size:
            chunk = self.sock.recv(max(65536, size - len(self.buffer)))
            if not chunk:
                raise BrowserError("the browser closed the DevTools connection")
            self.buffer.extend(chunk)

    def _read_until(self, marker):
        while marker not in self.buffer:
            self._fill(len(self.buffer) + 1)
        head, rest = bytes(self.buffer).split(marker, 1)
        self.buffer = bytearray(rest)
        return head

    def _read_exact(self, size):
        self._fill(size)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def send(self, text):
        payload = text.encode("utf-8")
        header = bytearray([0x81])  # FIN + text
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", length)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", length)
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + _mask(payload, mask))

    def receive(self):
        """The next whole text message."""
        message = b""
        while True:
            first, second = self._read_exact(2)
            opcode, fin = first & 0x0F, first & 0x80
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exact(8))[0]
            payload = self._read_exact(length)
            if opcode == 0x8:
                raise BrowserError("the browser closed the DevTools connection")
            if opcode == 0x9:  # ping
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            if opcode in (0x1, 0x2, 0x0):
                message += payload
                if fin:
                    return message.decode("utf-8")

    def close(self):
        try:
            self.sock.sendall(bytes([0x88, 0x80]) + b"\0\0\0\0")
        except OSError:
            pass
        self.sock.close()


def _mask(payload, mask):
    # XOR through big integers: byte by byte would take seconds for a large message.
    repeated = (mask * (len(payload) // 4 + 1))[:len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


class Page:
    """One tab: commands, the console and exceptions it reported, the page's load events."""

    def __init__(self, websocket_url, timeout=60.0, network=True):
        self.ws = WebSocket(websocket_url, timeout)
        self.timeout = timeout
        self.next_id = 0
        self.events = []
        # Network events say what the page fetched; off for timing, where their flood would be measured too.
        for domain in ("Page", "Runtime", "Log") + (("Network",) if network else ()):
            self.send(domain + ".enable")

    def send(self, method, **params):
        self.next_id += 1
        wanted = self.next_id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError("%s failed: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = len(self.events)
        while True:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise BrowserError("no %s within %.0f s" % (method, timeout or self.timeout))
            message = json.loads(self.ws.receive())
            if "method" in message:
                self.events.append(message)

    def open(self, url):
        """Navigate and wait for the load event (scripts at the end of the body have run)."""
        start = len(self.events)
        self.send("Page.navigate", url=url)
        while not any(e["method"] == "Page.loadEventFired" for e in self.events[start:]):
            self.wait_event("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError("%s raised %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def click(self, selector):
        """A real mouse click (pressed and released) at the centre of the element."""
        box = self.evaluate("(function(){var e=document.querySelector(%s); e.scrollIntoView({block:'center'});"
                            "var r=e.getBoundingClientRect(); return [r.left+r.width/2, r.top+r.height/2];})()"
                            % json.dumps(selector))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def set_viewport(self, width, height):
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def screenshot(self, path, selector=None, max_height=None):
        """A PNG of the whole page, or of one element; its top ``max_height`` pixels only if given."""
        params = {"format": "png", "captureBeyondViewport": True}
        if selector:
            box = self.evaluate("(function(){var r=document.querySelector(%s).getBoundingClientRect();"
                                "return [r.left+window.scrollX, r.top+window.scrollY, r.width, r.height];})()"
                                % json.dumps(selector))
        else:
            box = self.evaluate("[0, 0, document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        height = min(box[3], max_height) if max_height else box[3]
        params["clip"] = {"x": box[0], "y": box[1], "width": box[2], "height": height, "scale": 1}
        data = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        with open(path, "wb") as handle:
            handle.write(data)
        return data

    def console_errors(self):
        """What a person would see in the console as a problem: errors, warnings, exceptions."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append("console.%s: %s" % (params["type"], " ".join(str(a.get("value", a.get("description")))
                                                                          for a in params.get("args", ()))))
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("uncaught: %s" % (details.get("exception", {}).get("description") or details.get("text")))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                found.append("%s %s: %s" % (entry.get("source"), entry["level"], entry.get("text")))
        return found

    def requests_made(self):
        """URLs the page asked for beyond itself (none, for a self-contained report)."""
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self):
        self.ws.close()


class Chromium:
    """One headless Chromium process with a fresh profile; ``new_page()`` opens tabs in it."""

    def __init__(self, work_dir=None, binary=None, start_timeout=30.0):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError("Chromium is not installed: apt-get install chromium")
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="nodewatch-chromium-")
        os.makedirs(self.work_dir, exist_ok=True)
        # A fresh profile each time: no stale DevToolsActivePort, cache or settings from a previous run.
        self.profile = tempfile.mkdtemp(prefix="profile-", dir=self.work_dir)
        self.log_path = os.path.join(self.work_dir, "chromium.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.binary] + list(FLAGS) + ["--user-data-dir=" + self.profile, "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.port = self._wait_port(start_timeout)
        self.pages = []

    def _wait_port(self, timeout):
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError("Chromium exited with %s before it listened; see %s" % (self.proc.returncode, self.log_path))
            try:
                with open(active) as handle:
                    first = handle.readline().strip()
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise BrowserError("Chromium did not open its DevTools port within %.0f s; see %s" % (timeout, self.log_path))

    def new_page(self, width=1280, height=900, network=True):
        request = urllib.request.Request("http://127.0.0.1:%d/json/new?about:blank" % self.port, method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            target = json.loads(response.read().decode())
        page = Page(target["webSocketDebuggerUrl"], network=network)
        page.set_viewport(width, height)
        self.pages.append(page)
        return page

    def close(self):
        for page in self.pages:
            page.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
