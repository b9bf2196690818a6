"""Checks ThingBridge's webhook signatures with the reference Python library of Standard Webhooks.

Runs `thingbridge serve` with a webhook group of two endpoints (one signing with two secrets, as
during a rotation) pointing at a receiver in this script, posts one MO SMS callback, captures the
two requests the gateway sends, and verifies each with `standardwebhooks.Webhook(secret).verify`:
with every configured secret, and not with a wrong one or a changed body. Then checks
`thingbridge endpoints list|disable|enable` on the gateway's journal.

Usage: python verify_standardwebhooks.py path/to/thingbridge
Exit 0 when every check passes, 1 when one fails, 2 when the gateway cannot be run.
"""

import base64
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

ACCOUNT = "0000123456-00001"
USERNAME = "thingspace"
PASSWORD = "verify-standard-webhooks"

captured = []
captured_lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        with captured_lock:
            captured.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_port = receiver.server_address[1]
    ingress_port = free_port()
    single, current, previous = new_secret(), new_secret(), new_secret()
    failures = []

    def check(condition, what):
        print(("ok    " if condition else "FAIL  ") + what)
        if not condition:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="webhook-verify-") as folder:
        os.makedirs(os.path.join(folder, "routes"))
        with open(os.path.join(folder, "routes", "all.yaml"), "w") as f:
            f.write("routes:\n  - name: everything\n    to: [hooks]\n")
        config = os.path.join(folder, "thingbridge.yaml")
        with open(config, "w") as f:
            f.write(f"""ingress:
  listen: "127.0.0.1:{ingress_port}"
admin:
  listen: "127.0.0.1:0"
dataDir: "{folder}/data"
routesDir: "{folder}/routes"
accounts:
  - name: "{ACCOUNT}"
    callback: {{ username: "{USERNAME}", password: "{PASSWORD}" }}
sinks:
  hooks:
    type: webhook
    endpoints:
      - name: single
        url: "http://127.0.0.1:{hook_port}/single"
        secret: "${{SINGLE_SECRET}}"
      - name: rotating
        url: "http://127.0.0.1:{hook_port}/rotating"
        secrets: ["${{CURRENT_SECRET}}", "${{PREVIOUS_SECRET}}"]
""")
        env = dict(os.environ, SINGLE_SECRET=single, CURRENT_SECRET=current, PREVIOUS_SECRET=previous)
        log = open(os.path.join(folder, "gateway.log"), "w+")
        gateway = subprocess.Popen([binary, "serve", "--config", config, "--log-level", "info"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            body = json.dumps({
                "username": USERNAME, "password": PASSWORD, "requestId": "verify-1",
                "deviceIds": [{"kind": "mdn", "id": "7022895555"}], "smsMessage": "temp=21.5",
            }).encode()
            url = f"http://127.0.0.1:{ingress_port}/callbacks/thingspace/{ACCOUNT}"
            answered = None
            deadline = time.time() + 30
            while time.time() < deadline and answered is None:
                if gateway.poll() is not None:
                    break
                try:
                    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"}, method="POST")
                    with urllib.request.urlopen(request, timeout=5) as response:
                        answered = response.status
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
            if answered is None:
                log.seek(0)
                print("the gateway did not take the callback:\n" + log.read())
                return 2
            check(200 <= answered < 300, f"callback answered {answered}")
            deadline = time.time() + 20
            while time.time() < deadline:
                with captured_lock:
                    if len(captured) >= 2:
                        break
                time.sleep(0.05)
            with captured_lock:
                requests = list(captured)
            check(len(requests) == 2, f"two signed requests captured (got {len(requests)})")
            # The secrets never reach the log.
            log.seek(0)
            text = log.read()
            check(all(s[6:] not in text for s in (single, current, previous)), "no secret in the gateway's log")
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gateway.kill()
            receiver.shutdown()

        # `thingbridge endpoints` on the same journal: disable one endpoint, list, enable the group.
        def endpoints(*args):
            result = subprocess.run([binary, "endpoints", *args, "--config", config], env=env, capture_output=True, text=True, timeout=60)
            return result.returncode, result.stdout + result.stderr

        def row(listing, name):
            return next((line.split() for line in listing.splitlines() if line.startswith(name + " ")), [])

        code, out = endpoints("disable", "hooks/single", "--reason", "maintenance-window")
        check(code == 0 and "disabled hooks/single" in out, "endpoints disable hooks/single")
        code, out = endpoints("list")
        check(code == 0 and row(out, "hooks/single")[1:2] == ["disabled"] and "maintenance-window" in out,
              "endpoints list shows hooks/single disabled with the reason")
        check(row(out, "hooks/rotating")[1:2] == ["closed"], "endpoints list shows hooks/rotating closed")
        check("whsec_" not in out, "endpoints list shows no secret")
        code, out = endpoints("enable", "hooks")
        check(code == 0 and "enabled hooks/single" in out and "enabled hooks/rotating" in out, "endpoints enable of a group enables its endpoints")
        code, out = endpoints("list")
        check(row(out, "hooks/single")[1:2] == ["closed"], "endpoints list shows hooks/single closed again")
        code, out = endpoints("disable", "hooks/nope")
        check(code != 0 and "no webhook endpoint or group 'hooks/nope'" in out, "endpoints disable of an unknown endpoint fails with the known names")

    by_path = {r["path"]: r for r in requests}
    for path, good, other in (("/single", [single], [current]), ("/rotating", [current, previous], [single])):
        request = by_path.get(path)
        check(request is not None, f"{path}: request received")
        if request is None:
            continue
        headers, payload = request["headers"], request["body"]
        check(headers.get("content-type") == "application/cloudevents+json", f"{path}: content-type {headers.get('content-type')}")
        check(headers.get("webhook-id", "").startswith("msg_"), f"{path}: webhook-id {headers.get('webhook-id')}")
        check(abs(int(headers.get("webhook-timestamp", "0")) - time.time()) < 300, f"{path}: webhook-timestamp is now")
        signatures = headers.get("webhook-signature", "").split(" ")
        check(len(signatures) == len(good), f"{path}: {len(good)} signature(s) in webhook-signature")
        for secret in good:
            try:
                event = Webhook(secret).verify(payload, headers)
                check(event.get("specversion") == "1.0" and event.get("type", "").startswith("com.verizon.thingspace"),
                      f"{path}: standardwebhooks verifies with a configured secret; body is the CloudEvent {event.get('id')}")
            except WebhookVerificationError as error:
                check(False, f"{path}: standardwebhooks refused a configured secret: {error}")
        for secret in other:
            try:
                Webhook(secret).verify(payload, headers)
                check(False, f"{path}: a wrong secret must not verify")
            except WebhookVerificationError:
                check(True, f"{path}: a wrong secret does not verify")
        try:
            Webhook(good[0]).verify(payload.replace(b"temp=21.5", b"temp=99.9"), headers)
            check(False, f"{path}: a changed body must not verify")
        except WebhookVerificationError:
            check(True, f"{path}: a changed body does not verify")
    if "/single" in by_path and "/rotating" in by_path:
        check(by_path["/single"]["headers"].get("webhook-id") != by_path["/rotating"]["headers"].get("webhook-id"),
              "each endpoint's delivery has its own webhook-id")
        check(json.loads(by_path["/single"]["body"])["id"] == json.loads(by_path["/rotating"]["body"])["id"],
              "both endpoints got the same event")

    print(f"webhook: {'all checks passed' if not failures else str(len(failures)) + ' check(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
