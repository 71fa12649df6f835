#!/usr/bin/env python3
"""The chat page at / driven in headless Debian chromium over the DevTools protocol: type a
question, press Send, wait until the streamed answer is complete, check reasoning is shown
apart from the answer, and take a screenshot that must not be blank.

Usage: web_page_test.py DSRT DEMO_DIR OUT_DIR   (needs chromium and python3-websocket)"""
import base64, json, os, shutil, signal, subprocess, sys, tempfile, time

try:
    import websocket  # Debian python3-websocket
except ImportError:
    print("SKIP: python3-websocket is not installed"); sys.exit(77)
if not shutil.which("chromium"):
    print("SKIP: chromium is not installed"); sys.exit(77)

dsrt, demo, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
if not os.path.exists(os.path.join(demo, "config.json")):
    subprocess.run([dsrt, "make-demo", "--out", demo], check=True, stdout=subprocess.DEVNULL)
port_file = os.path.join(out, "server.port")
if os.path.exists(port_file): os.remove(port_file)
srv = subprocess.Popen([dsrt, "serve", "-m", demo, "--port", "0", "--port-file", port_file,
                        "--chat-template", "deepseek-r1", "--ctx-size", "256", "--threads", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
profile = tempfile.mkdtemp(prefix="dsrt-chrome-")
chrome = None
def cleanup():
    if chrome: chrome.kill()
    srv.send_signal(signal.SIGTERM); srv.wait(timeout=30)
    shutil.rmtree(profile, ignore_errors=True)
try:
    for _ in range(600):
        if os.path.exists(port_file) and open(port_file).read().strip(): break
        time.sleep(0.05)
    port = int(open(port_file).read())
    import urllib.request, urllib.error
    for _ in range(600):  # /health answers 503 while the model loads
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health").status == 200: break
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    chrome = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                               "--remote-debugging-port=0", "--window-size=1000,700", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    active = os.path.join(profile, "DevToolsActivePort")
    for _ in range(600):
        if os.path.exists(active) and len(open(active).read().split()) >= 2: break
        time.sleep(0.05)
    dport = open(active).read().split()[0]
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{dport}/json"))
    page = next(t for t in targets if t["type"] == "page")
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
    ids = [0]
    def call(method, **params):
        ids[0] += 1
        ws.send(json.dumps({"id": ids[0], "method": method, "params": params}))
        while True:
            m = json.loads(ws.recv())
            if m.get("id") == ids[0]: return m.get("result", {})
    def js(expr):
        return call("Runtime.evaluate", expression=expr, returnByValue=True)["result"].get("value")
    call("Page.enable")
    call("Page.navigate", url=f"http://127.0.0.1:{port}/")
    for _ in range(200):
        if js("document.readyState") == "complete" and js("document.getElementById('model').textContent"): break
        time.sleep(0.1)
    assert js("document.getElementById('model').textContent"), "model name never shown"
    # Type a question and press Send, as a user does.
    js("document.getElementById('max').value=12; document.getElementById('temp').value=0;"
       "document.getElementById('q').value='Why is the sky blue?';"
       "document.getElementById('send').click(); true")
    seen_partial = False
    for _ in range(1200):
        done = js("document.body.dataset.done")
        n = js("document.querySelector('.assistant .reasoning') ? document.querySelector('.assistant .reasoning').textContent.length : 0")
        if n and not done: seen_partial = True
        if done: break
        time.sleep(0.05)
    assert js("document.body.dataset.done") == "1", "the answer never finished streaming"
    reasoning = js("document.querySelector('.assistant .reasoning').textContent")
    meta = js("document.querySelector('.assistant .meta').textContent")
    user = js("document.querySelector('.user .content').textContent")
    assert user == "Why is the sky blue?", user
    # deepseek-r1's prompt opens <think>: the (random) tokens are reasoning, shown in their own block.
    content = js("document.querySelector('.assistant .content').textContent")
    assert reasoning, f"reasoning block empty (content {content!r}, meta {meta!r})"
    assert "tokens" in meta, meta
    shot = base64.b64decode(call("Page.captureScreenshot", format="png")["data"])
    open(os.path.join(out, "chat_page.png"), "wb").write(shot)
    js("document.body.innerHTML=''; true")
    blank = base64.b64decode(call("Page.captureScreenshot", format="png")["data"])
    assert len(shot) > 3 * len(blank), f"screenshot looks blank ({len(shot)} vs {len(blank)} bytes)"
    print(f"ok: streamed {len(reasoning)} chars of reasoning (partial updates seen: {seen_partial}); "
          f"meta '{meta}'; screenshot {len(shot)} bytes vs blank {len(blank)}")
finally:
    cleanup()
