"""An independent client for the Stripe-speaking simulator and our webhook:
the official `stripe` Python library (PyPI), run by tests/e2e/stripe.rs.

  stripe_client.py drive --api-base URL --api-key sk_test_… --secret whsec_…
      Drives the simulator through the calls the adapter makes (payment
      intents: create, retrieve, cancel; a refund; a Checkout Session) and
      checks every webhook the simulator delivers with the library's own
      `stripe.Webhook.construct_event`. Prints one JSON line per check.

  stripe_client.py sign --url URL --secret whsec_… --intent pi_… --amount N --currency eur
      [--type T]
      Has the library construct a `payment_intent.succeeded` event (or
      another type: its object is then a customer) and sign
      it (`stripe.WebhookSignature.generate_signature_header`), POSTs it to
      our webhook route and prints {"status", "body"} as JSON.

Any failed expectation raises, so the exit status is non-zero.
"""

import argparse
import http.server
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request

import stripe


def log(check, **details):
    print(json.dumps({"check": check, **details}), flush=True)


def post_json(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


class Webhooks:
    """A webhook endpoint on 127.0.0.1:0 that queues what it receives."""

    def __init__(self):
        self.received = queue.Queue()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.received.put((body, self.headers.get("stripe-signature")))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"received": true}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/webhook" % self.server.server_address[1]

    def next(self, timeout=20):
        return self.received.get(timeout=timeout)

    def events(self, secret, count):
        """The next `count` deliveries, each verified by the library."""
        events = []
        for _ in range(count):
            body, signature = self.next()
            events.append(stripe.Webhook.construct_event(body, signature, secret))
        return events


def expect_error(kind, call):
    try:
        call()
    except kind as e:
        return e
    raise AssertionError("expected %s" % kind.__name__)


def drive(args):
    stripe.api_key = args.api_key
    stripe.api_base = args.api_base
    stripe.max_network_retries = 0
    hooks = Webhooks()
    key = "order-ord_1-%d" % time.time_ns()
    post_json(args.api_base + "/_sim/config", {"webhook_url": hooks.url, "webhook_secret": args.secret})

    # A customer, then payment intents: create (idempotent), retrieve, cancel.
    customer = stripe.Customer.create(description="Order ord_1", metadata={"order_id": "ord_1"})
    assert customer.object == "customer" and customer.id.startswith("cus_"), customer
    assert stripe.Customer.retrieve(customer.id).metadata["order_id"] == "ord_1"
    e = expect_error(stripe.InvalidRequestError, lambda: stripe.PaymentIntent.create(
        amount=100, currency="eur", customer="cus_nobody"))
    assert (e.code, e.param) == ("resource_missing", "customer"), (e.code, e.param)
    pi = stripe.PaymentIntent.create(
        amount=1999, currency="eur", metadata={"order_id": "ord_1", "tenant": "acme"},
        setup_future_usage="off_session", customer=customer.id, idempotency_key=key,
    )
    assert pi.object == "payment_intent" and pi.id.startswith("pi_"), pi
    assert (pi.amount, pi.currency, pi.status) == (1999, "eur", "requires_payment_method"), pi
    assert pi.metadata["order_id"] == "ord_1" and pi.customer == customer.id, pi
    again = stripe.PaymentIntent.create(
        amount=1999, currency="eur", metadata={"order_id": "ord_1", "tenant": "acme"},
        setup_future_usage="off_session", customer=customer.id, idempotency_key=key,
    )
    assert again.id == pi.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true", dict(again.last_response.headers)
    log("create is idempotent", intent=pi.id)

    e = expect_error(stripe.IdempotencyError, lambda: stripe.PaymentIntent.create(
        amount=2000, currency="eur", idempotency_key=key))
    log("a reused key with other parameters is an IdempotencyError", message=str(e.user_message))

    e = expect_error(stripe.InvalidRequestError, lambda: stripe.PaymentIntent.create(
        amount=100, currency="eur", colour="red"))
    assert (e.code, e.param) == ("parameter_unknown", "colour"), (e.code, e.param)
    log("an unknown parameter is refused", param=e.param)

    fetched = stripe.PaymentIntent.retrieve(pi.id)
    assert (fetched.id, fetched.amount, fetched.status) == (pi.id, 1999, "requires_payment_method"), fetched
    log("retrieve")

    cancelled = stripe.PaymentIntent.cancel(pi.id, cancellation_reason="abandoned")
    assert cancelled.status == "canceled" and cancelled.cancellation_reason == "abandoned", cancelled
    [event] = hooks.events(args.secret, 1)
    assert event.type == "payment_intent.canceled" and event.data.object.id == pi.id, event
    assert event.object == "event" and event.id.startswith("evt_") and event.api_version, event
    e = expect_error(stripe.InvalidRequestError, lambda: stripe.PaymentIntent.cancel(pi.id))
    assert e.code == "payment_intent_unexpected_state", e.code
    log("cancel, its event verified by construct_event", event=event.id)

    # A paid intent, then a partial refund.
    paid = stripe.PaymentIntent.create(amount=5000, currency="eur", metadata={"order_id": "ord_2"})
    post_json("%s/_sim/payment_intents/%s/succeed" % (args.api_base, paid.id), {})
    [event] = hooks.events(args.secret, 1)
    assert event.type == "payment_intent.succeeded" and event.data.object.amount_received == 5000, event
    refund = stripe.Refund.create(payment_intent=paid.id, amount=1500, metadata={"order_id": "ord_2"})
    assert refund.object == "refund" and refund.id.startswith("re_"), refund
    assert (refund.status, refund.amount, refund.payment_intent) == ("succeeded", 1500, paid.id), refund
    types = sorted(e.type for e in hooks.events(args.secret, 2))
    assert types == ["charge.refunded", "refund.created"], types
    e = expect_error(stripe.InvalidRequestError, lambda: stripe.Refund.create(payment_intent=paid.id, amount=4000))
    assert e.code == "amount_too_large", e.code
    log("refund, its events verified", refund=refund.id)

    # A Checkout Session, paid on its hosted page.
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"quantity": 1, "price_data": {
            "currency": "eur", "unit_amount": 2500, "product_data": {"name": "VPS business"}}}],
        success_url="http://127.0.0.1:9/paid", cancel_url="http://127.0.0.1:9/cancelled",
        metadata={"order_id": "ord_3"},
        payment_intent_data={"metadata": {"order_id": "ord_3"}, "setup_future_usage": "off_session"},
    )
    assert session.object == "checkout.session" and session.url and session.status == "open", session
    with urllib.request.urlopen(session.url, timeout=30) as page:
        assert "Pay €25.00" in page.read().decode(), "the page shows the amount"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    form = urllib.request.Request(session.url, data=b"choice=pay", method="POST")
    try:
        urllib.request.build_opener(NoRedirect).open(form, timeout=30)
        raise AssertionError("paying should redirect to success_url")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 303 and redirect.headers["location"] == "http://127.0.0.1:9/paid", redirect
    succeeded, completed = hooks.events(args.secret, 2)
    assert succeeded.type == "payment_intent.succeeded", succeeded.type
    assert completed.type == "checkout.session.completed", completed.type
    assert completed.data.object.payment_intent == succeeded.data.object.id
    assert succeeded.data.object.metadata["order_id"] == "ord_3"
    done = stripe.checkout.Session.retrieve(session.id)
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 2500), done
    log("checkout session paid on its page, both events verified", session=session.id)

    # Stripe's errors: a declined card and a rate limit, as the library's own exceptions.
    for status, kind, code in [(402, stripe.CardError, "card_declined"), (429, stripe.RateLimitError, "rate_limit")]:
        post_json(args.api_base + "/_sim/faults", {"fail_next": 1, "status": status})
        e = expect_error(kind, lambda: stripe.PaymentIntent.create(amount=100, currency="eur"))
        assert e.http_status == status and e.json_body["error"]["code"] == code, (e.http_status, e.json_body)
    log("declines and rate limits raise CardError and RateLimitError")

    # A forged delivery does not verify.
    forged = stripe.PaymentIntent.create(amount=100, currency="eur")
    post_json("%s/_sim/payment_intents/%s/succeed" % (args.api_base, forged.id), {"forge": True})
    body, signature = hooks.next()
    expect_error(stripe.SignatureVerificationError,
                 lambda: stripe.Webhook.construct_event(body, signature, args.secret))
    log("a forged delivery fails construct_event")
    log("done")


def sign(args):
    created = int(time.time())
    if args.type.startswith("payment_intent."):
        obj = {
            "id": args.intent, "object": "payment_intent", "status": "succeeded",
            "amount": args.amount, "amount_received": args.amount, "currency": args.currency,
        }
    elif args.type == "checkout.session.completed":
        # A hosted checkout paid in full: the same payment as its intent's
        # own `payment_intent.succeeded`, reported by a second event.
        obj = {
            "id": "cs_library_%d" % time.time_ns(), "object": "checkout.session", "mode": "payment",
            "status": "complete", "payment_status": "paid", "payment_intent": args.intent,
            "amount_total": args.amount, "currency": args.currency,
        }
    else:
        obj = {"id": "cus_library", "object": "customer"}
    event = stripe.Event.construct_from({
        "id": "evt_library_%d" % time.time_ns(),
        "object": "event",
        "api_version": stripe.api_version,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": args.type,
        "data": {"object": obj},
    }, "sk_test_unused")
    payload = str(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, args.secret)
    # The library accepts what it signed: the same check our route makes.
    stripe.Webhook.construct_event(payload, header, args.secret)
    request = urllib.request.Request(
        args.url, data=payload.encode(), method="POST",
        headers={"content-type": "application/json", "stripe-signature": header},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    print(json.dumps({"status": status, "body": json.loads(body or b"null"), "event": event.id}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--api-base", required=True)
    d.add_argument("--api-key", required=True)
    d.add_argument("--secret", required=True)
    s = sub.add_parser("sign")
    s.add_argument("--url", required=True)
    s.add_argument("--secret", required=True)
    s.add_argument("--intent", required=True)
    s.add_argument("--amount", type=int, required=True)
    s.add_argument("--currency", default="eur")
    s.add_argument("--type", default="payment_intent.succeeded")
    args = parser.parse_args()
    {"drive": drive, "sign": sign}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
