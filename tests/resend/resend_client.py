"""An independent client for the e-mail simulator's Resend API: the
official `resend` Python library (PyPI, installed by
scripts/install-test-deps), run by crates/sims/tests/providers/resend.rs.

  resend_client.py drive --api-url http://127.0.0.1:PORT --api-key re_… --control http://127.0.0.1:PORT

Sends as our adapter does (from, to, subject, text, an idempotency key),
sends again under the same key (one e-mail), reads it back, and checks the
errors the library raises: the same key with another payload, a rate limit
with its headers, a missing or wrong API key, an invalid recipient. Prints
one JSON line per check; a failed expectation raises (non-zero exit).
"""

import argparse
import json
import urllib.request

import resend
from resend.exceptions import (InvalidApiKeyError, MissingApiKeyError,
                               RateLimitError, ResendError, ValidationError)


def log(check, **details):
    print(json.dumps({"check": check, **details}), flush=True)


def control(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"content-type": "application/json"}, method="GET" if body is None else "POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def expect(error_class, call):
    try:
        call()
    except error_class as e:
        return e
    raise AssertionError(f"expected {error_class.__name__}")


def drive(args):
    resend.api_url = args.api_url
    resend.api_key = args.api_key
    params = {
        "from": "Orderflow <access@orderflow.example>",
        "to": ["buyer@acme.example"],
        "subject": "Your vps is ready",
        "text": "ip 203.0.113.7\npassword s3cret",
    }
    first = resend.Emails.send(params, {"idempotency_key": "deliver-job-1"})
    again = resend.Emails.send(params, {"idempotency_key": "deliver-job-1"})
    assert first["id"] == again["id"], (first, again)
    sent = [m for m in control(args.control, "/_sim/messages")["data"] if m.get("api") == "resend"]
    assert len(sent) == 1, sent
    assert sent[0]["idempotency_key"] == "deliver-job-1" and sent[0]["to"] == "buyer@acme.example"
    log("send, and again under its key: one e-mail", id=first["id"])

    got = resend.Emails.get(first["id"])
    assert got["to"] == ["buyer@acme.example"] and got["subject"] == params["subject"], got
    assert got["text"] == params["text"]
    log("read back by id")

    other = dict(params, text="another text")
    e = expect(ResendError, lambda: resend.Emails.send(other, {"idempotency_key": "deliver-job-1"}))
    assert str(e.code) == "409" and e.error_type == "invalid_idempotent_request", (e.code, e.error_type)
    log("the same key with another payload is invalid_idempotent_request")

    control(args.control, "/_sim/faults", {"rate_limit_next": 1})
    e = expect(RateLimitError, lambda: resend.Emails.send(params))
    headers = {k.lower(): v for k, v in (e.headers or {}).items()}
    assert headers.get("retry-after") == "1" and headers.get("ratelimit-remaining") == "0", headers
    log("a rate limit raises RateLimitError with its headers")

    resend.api_key = ""
    expect(MissingApiKeyError, lambda: resend.Emails.send(params))
    resend.api_key = "sk_wrong"
    expect(InvalidApiKeyError, lambda: resend.Emails.send(params))
    resend.api_key = args.api_key
    log("a missing or wrong key is refused")

    e = expect(ValidationError, lambda: resend.Emails.send(dict(params, to=["not-an-address"])))
    assert str(e.code) == "422", e.code
    log("an invalid recipient is a validation_error")
    log("done")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--api-url", required=True)
    d.add_argument("--api-key", required=True)
    d.add_argument("--control", required=True)
    args = parser.parse_args()
    drive(args)


if __name__ == "__main__":
    main()
