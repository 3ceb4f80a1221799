import base64, json, sys, urllib.request

def call(method, path, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404: return None
        raise

def run():
    checkpoint = call("GET", "/_local/approval-worker") or {}
    since = checkpoint.get("last_seq", "0")
    while True:  # follow the channel; each lead needing approval is approved and leaves it
        feed = call("GET", f"/_changes?feed=longpoll&timeout={TIMEOUT}&include_docs=true"
                           f"&filter=sync_gateway/bychannel&channels=needs-approval&since={since}")
        for change in feed["results"]:
            doc = change.get("doc")
            if doc and doc.get("status") == "needs-approval":
                doc.update(status="approved", channels=["approved"])
                call("PUT", "/" + doc["_id"], doc)  # carries _rev: a concurrent edit is a 409
        since = feed["last_seq"]
        checkpoint = {**checkpoint, "last_seq": since}
        checkpoint["_rev"] = call("PUT", "/_local/approval-worker", checkpoint)["rev"]
        if not feed["results"] and ONCE: return

BASE, TOKEN, TIMEOUT, ONCE = sys.argv[1], sys.argv[2], int(sys.argv[3]), len(sys.argv) > 4
run()
