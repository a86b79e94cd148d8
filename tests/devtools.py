"""Headless Chromium over the DevTools pipe, for the page's browser tests.

``--remote-debugging-pipe``: Chromium reads commands on file descriptor 3 and writes answers
and events on 4, as NUL-terminated JSON. One target (a page) is attached in flat mode; every
event is kept in ``events``; a JavaScript dialog is answered at once, so that a page cannot
hang a test on it (the tests count dialogs themselves).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class DevToolsPipe:
    def __init__(self, chromium: str, window: tuple[int, int],
                 env: dict[str, str] | None = None) -> None:
        self.profile = tempfile.mkdtemp()
        to_r, self.out = os.pipe()      # Chromium reads commands on fd 3
        self.inp, from_w = os.pipe()    # and writes answers and events on fd 4
        # above 9, so that moving them to 3 and 4 in the child cannot clobber one another
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_r, from_w)]
        os.close(to_r)
        os.close(from_w)
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                f"--window-size={window[0]},{window[1]}", "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-',
             "bash", *args], pass_fds=high, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})})
        for fd in high:
            os.close(fd)
        self.buf, self.last, self.events, self.session = b"", 0, [], None
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.send("Target.attachToTarget", targetId=target,
                                     flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def _write(self, method: str, params: dict) -> int:
        self.last += 1
        msg = {"id": self.last, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            msg["sessionId"] = self.session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        return self.last

    def send(self, method: str, timeout: float = 60, **params) -> dict:
        wanted = self._write(method, params)
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == wanted:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
                if m["method"] == "Page.javascriptDialogOpening":
                    self._write("Page.handleJavaScriptDialog", {"accept": False})

    def evaluate(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            time.sleep(0.2)

    def close(self) -> None:
        try:
            self._write("Browser.close", {})
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        for fd in (self.out, self.inp):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)
