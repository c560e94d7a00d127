#!/usr/bin/env python3
"""Opens a page in headless Chromium, as a person would, and says what
happened: console messages and errors, every network request, the rows of
the page's per-rule table, whether a narrow window scrolls sideways, and
whether it prints. Takes a screenshot.

    browser_check.py PAGE.html --screenshot OUT.png [--narrow-screenshot OUT.png] [--height PX]

Prints one JSON object on stdout:
    {"console": [...], "errors": [...], "requests": [...], "rows": [[...], ...],
     "sections": [...], "missing_text": [...], "wide_overflow": 0,
     "narrow_overflow": 0, "pdf_bytes": 12345}

Chromium is driven through the DevTools protocol over a pipe
(--remote-debugging-pipe: file descriptors 3 and 4, messages ending in NUL),
so that nothing but the standard library is needed and no port is opened.
CHROMIUM names the browser (default /usr/bin/chromium). Exit status 2 when
the browser cannot be started or does not answer."""
import argparse, base64, json, os, shutil, subprocess, sys, tempfile, time

TIMEOUT = 60.0


class Browser:
    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="browser-check-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def plumbing():
            # Through high numbers first: either pipe end may be 3 or 4.
            os.dup2(to_child_r, 100)
            os.dup2(from_child_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        # The flags keep Chromium from reaching for Google's services: the
        # page's own requests are the only ones the check should see.
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, pass_fds=(3, 4),
            preexec_fn=plumbing, close_fds=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def read(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("the browser did not answer")
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed the pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.read(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method, deadline_s=TIMEOUT):
        deadline = time.monotonic() + deadline_s
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            msg = self.read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


EVAL_ROWS = """JSON.stringify({
  rows: [...document.querySelectorAll('#summary tbody tr[data-rule]')]
          .map(tr => [...tr.cells].map(c => c.innerText.trim())),
  sections: [...document.querySelectorAll('section.rule h2')].map(h => h.innerText.trim()),
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth
})"""


def evaluate(b, session, expression):
    r = b.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    return r["result"]["value"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--narrow-screenshot")
    ap.add_argument("--height", type=int, default=900, help="the wide window's height")
    ap.add_argument("--expect-text", action="append", default=[],
                    help="text the page must show as text (repeatable); missing ones are listed")
    args = ap.parse_args()
    binary = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(binary, os.X_OK):
        print(f"browser_check: no Chromium at {binary} (make browser installs it)", file=sys.stderr)
        return 2
    url = "file://" + os.path.abspath(args.page)
    b = Browser(binary)
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            b.call(f"{domain}.enable", {}, session)
        b.call("Emulation.setDeviceMetricsOverride",
               {"width": 1200, "height": args.height, "deviceScaleFactor": 1, "mobile": False}, session)
        b.call("Page.navigate", {"url": url}, session)
        b.wait_for("Page.loadEventFired")
        wide = json.loads(evaluate(b, session, EVAL_ROWS))
        missing = [t for t in args.expect_text
                   if not evaluate(b, session, f"document.body.textContent.includes({json.dumps(t)})")]
        shot = b.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, session)
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        # A phone's width: nothing may make the page scroll sideways.
        b.call("Emulation.setDeviceMetricsOverride",
               {"width": 380, "height": 800, "deviceScaleFactor": 1, "mobile": True}, session)
        narrow = json.loads(evaluate(b, session, EVAL_ROWS))
        if args.narrow_screenshot:
            shot = b.call("Page.captureScreenshot", {"format": "png"}, session)
            with open(args.narrow_screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        pdf = b.call("Page.printToPDF", {}, session)
        # Whatever arrived meanwhile: late console messages, late requests.
        time.sleep(0.3)
        b.call("Runtime.evaluate", {"expression": "1"}, session)
    finally:
        b.close()
    console, errors, requests = [], [], []
    for e in b.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled":
            console.append({"type": p.get("type"),
                            "text": " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))})
        elif m == "Runtime.exceptionThrown":
            errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
        elif m == "Log.entryAdded":
            entry = p.get("entry", {})
            if entry.get("level") in ("error", "warning"):
                errors.append(f"{entry.get('source')}: {entry.get('text')}")
        elif m == "Network.requestWillBeSent":
            # The page itself is the one document loaded from a file.
            u = p.get("request", {}).get("url", "")
            if not (p.get("type") == "Document" and u.startswith("file://")):
                requests.append(u)
        elif m == "Network.loadingFailed" and p.get("blockedReason"):
            # A request the page's policy or the browser blocked: it was tried.
            requests.append(f"blocked ({p['blockedReason']}): {p.get('requestId')}")
    print(json.dumps({
        "console": console, "errors": errors, "requests": requests,
        "rows": wide["rows"], "sections": wide["sections"], "missing_text": missing,
        "wide_overflow": wide["overflow"], "narrow_overflow": narrow["overflow"],
        "pdf_bytes": len(base64.b64decode(pdf["data"])),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
