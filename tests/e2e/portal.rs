//! The portal in a real browser: Debian's headless Chromium driven through
//! WebDriver (`chromedriver`), against the whole app on `spin-local` with the
//! simulated providers. A customer configures, submits, pays on the payment
//! provider's checkout page and watches the items turn active one by one
//! without reloading; a validation error shows next to its field; an
//! operator reverts a payment. Screenshots of the key screens are saved in
//! `target/e2e-artifacts/portal/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use e2e::sims::Sims;
use e2e::{eventually, App};
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{id, json_of, manifest, token, version, with_simulators, Caller, PACKAGES};

const SECRET: &str = "whsec_e2e_padded_to_32_bytes_or_more";
/// Generous: the page polls every 2 s and the saga retries on a real clock.
const WAIT: Duration = Duration::from_secs(60);

/// A headless Chromium session through chromedriver. The test body stays
/// synchronous: each call blocks on a private single-thread runtime.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("portal-chromium-")
            .tempdir()
            .expect("a temporary profile directory");
        let mut driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()))
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver; scripts/install-test-deps installs it)");
        let (tx, rx) = mpsc::channel();
        let stdout = driver.stdout.take().expect("chromedriver's stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    // The receiver may be gone after a start-up failure.
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromedriver printed its port");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--window-size=1100,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = rt
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a Chromium session");
        Browser {
            rt,
            client: Some(client),
            driver,
            _profile: profile,
            shots: e2e::artifacts_dir("portal"),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    fn goto(&self, url: &str) {
        self.rt
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    fn url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .expect("the current URL")
            .to_string()
    }

    /// The first element matching `css`, waiting (bounded) for it to exist.
    fn find(&self, css: &str) -> Element {
        eventually(&format!("an element `{css}`"), WAIT, || {
            self.rt.block_on(self.client().find(Locator::Css(css))).ok()
        })
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.rt
            .block_on(element.click())
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Replaces the text of the input `css` as a person would: clear, then type.
    fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.rt
            .block_on(async {
                element.clear().await?;
                element.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    fn select(&self, css: &str, value: &str) {
        let element = self.find(css);
        self.rt
            .block_on(element.select_by_value(value))
            .unwrap_or_else(|e| panic!("choose {value} in `{css}`: {e}"));
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    fn js(&self, script: &str) -> Value {
        self.rt
            .block_on(self.client().execute(script, Vec::new()))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits (bounded) until `script` returns something other than
    /// null/false/"" and returns it. The page changes on its own (live
    /// updates), so this is the only way the test waits for it.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        eventually(what, WAIT, || {
            let value = self.js(script);
            let truthy =
                !matches!(&value, Value::Null | Value::Bool(false)) && value.as_str().is_none_or(|s| !s.is_empty());
            truthy.then_some(value)
        })
    }

    /// Saves a PNG of the viewport as `<name>.png` in the artifacts directory.
    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .rt
            .block_on(self.client().screenshot())
            .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    fn resize(&self, width: u32, height: u32) {
        self.rt
            .block_on(self.client().set_window_size(width, height))
            .expect("resize the window");
    }

    /// Signs in by pasting `token` into the sign-in form.
    fn sign_in(&self, app: &App, token: &str) {
        self.goto(&app.url("/"));
        self.fill("#sign-in input[name=token]", token);
        self.click("#sign-in button[type=submit]");
        self.wait_for(
            "the signed-in navigation",
            "return !document.getElementById('nav').hidden",
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // The session may already be gone; chromedriver is killed next anyway.
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The app wired to fresh simulators, the API offering the simulator's
/// checkout page, and retries slowed to 1-2-4-8-15 s so an item held back by
/// an injected fault keeps retrying while the page is watched.
fn world(change: impl FnOnce(e2e::AppBuilder) -> e2e::AppBuilder) -> (Sims, App) {
    let sims = Sims::spawn(None, SECRET);
    let app = change(
        with_simulators(&sims, SECRET)
            .env(
                "SPIN_VARIABLE_PAYMENT_CHECKOUT_URL",
                format!("{}/checkout/{{intent}}", sims.payments),
            )
            .env("SPIN_VARIABLE_RETRY_DELAY_SCALE", "0.5"),
    )
    .spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    (sims, app)
}

/// The states the page shows for each item, in order.
const ITEM_STATES: &str = "[...document.querySelectorAll('#order li.item')].map(li => li.dataset.itemState)";

fn live(state: &Value) -> bool {
    state == "active" || state == "delivered"
}

#[test]
fn the_portal_is_served_with_a_strict_policy_and_no_credential() {
    let (_sims, app) = world(|b| b);
    let page = app.get("/portal/orders");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let html = page.text().unwrap_or_default();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads its script");
    let js = app.get(script);
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(js.headers()["cache-control"]
        .to_str()
        .unwrap_or_default()
        .contains("immutable"));
    let body = js.text().unwrap_or_default();
    for secret in [&token("acme", Role::Customer)[..12], "whsec_", "sk_test_", "dev1:"] {
        assert!(!html.contains(secret) && !body.contains(secret), "`{secret}` is served");
    }
}

#[test]
fn a_customer_configures_pays_and_watches_three_items_turn_active_one_by_one() {
    let (sims, app) = world(|b| b);
    let browser = Browser::start();
    let customer = Caller::customer(&app);
    browser.sign_in(&app, &customer.token);
    assert!(browser.url().ends_with("/portal/orders"), "{}", browser.url());

    // Given a three-item order configured in the editor, priced live.
    browser.click("a[href='/portal/new']");
    browser.find("#order-form fieldset.item[data-index='0']");
    browser.select("fieldset.item[data-index='0'] select[name=plan]", "business");
    browser.click("fieldset.item[data-index='0'] input[data-cycle=annual]");
    browser.wait_for(
        "the annual price with its discount",
        "return document.querySelector('[data-price-for=\"0\"] .discount')?.textContent",
    );
    browser.click("#add-item");
    browser.select("fieldset.item[data-index='1'] select[name=product]", "kubernetes");
    browser.fill("fieldset.item[data-index='1'] input[name=workers]", "2");

    // A validation error appears next to the field it names. Typing goes
    // through an empty field (WebDriver clears, then types), whose own
    // error ("required") may be shown on a loaded machine before the quote
    // of "2" answers: wait for the error about the value typed.
    let error = browser.wait_for(
        "the range error next to the workers field",
        "const e = document.querySelector('.field-error[data-error-for=\"/items/1/config/workers\"]');
         const input = document.querySelector('fieldset.item[data-index=\"1\"] input[name=workers]');
         return e && input.getAttribute('aria-invalid') === 'true' && input.value === '2'
             && e.textContent.includes('50')
             && input.closest('.field').nextElementSibling === e ? e.textContent : null",
    );
    assert!(
        error.as_str().is_some_and(|t| t.contains('3') && t.contains("50")),
        "{error}"
    );
    browser.screenshot("validation-error");
    browser.fill("fieldset.item[data-index='1'] input[name=workers]", "3");
    browser.wait_for(
        "the error to clear",
        "return !document.querySelector('.field-error') && document.querySelector('#total-amount') ? true : null",
    );
    browser.click("#add-item");
    browser.select("fieldset.item[data-index='2'] select[name=product]", "managed_database");

    // The total shown is the server's quote for exactly these items.
    let items = json!([
        {"product":"vps","billing_cycle":"annual","config":{"region":"lj-1","plan":"business","os_image":"ubuntu-24.04"}},
        {"product":"kubernetes","billing_cycle":"monthly","config":{"region":"lj-1","workers":3,"storage_class":"standard","storage_gb":100,"autoscaling":null}},
        {"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"starter","storage_gb":20,"high_availability":false}},
    ]);
    let quote = json_of(customer.write("POST", "/v1/quotes", &json!({ "items": items }), None));
    let expected = quote["total"]["amount"].as_str().expect("a quoted total").to_owned();
    let shown = browser.wait_for(
        "the quote for three items",
        "return document.querySelectorAll('[data-price-for] [data-period-total]').length === 3
            ? document.querySelector('#total-amount')?.dataset.amount : null",
    );
    assert_eq!(shown, expected, "the page shows the server's total");
    browser.screenshot("quote");

    // When the customer names where the access details go, saves, submits
    // and pays on the provider's page.
    browser.fill("#order-form input[name=delivery_email]", "jane.doe@example.com");
    browser.click("#save-draft");
    let order_id = browser
        .wait_for(
            "the draft's page",
            "return document.querySelector('#order[data-state=draft]')?.dataset.orderId",
        )
        .as_str()
        .expect("an order id")
        .to_owned();
    let draft = json_of(customer.get(&format!("/v1/orders/{order_id}")));
    assert_eq!(draft["items"].as_array().map(Vec::len), Some(3));
    // The order's page shows the address masked, never in full.
    let shown = browser.wait_for(
        "the masked delivery address",
        "return document.querySelector('#order-delivery')?.textContent",
    );
    assert_eq!(shown, "j***@example.com");
    assert_eq!(draft["delivery_email_masked"], "j***@example.com");
    let page = browser.js("return document.body.innerHTML");
    assert!(
        !page.as_str().unwrap_or_default().contains("jane.doe"),
        "the full address is on the page"
    );
    assert_eq!(draft["total"]["amount"], expected.as_str());
    assert_eq!(draft["items"][0]["price"]["billing_cycle"], "annual");
    browser.click("#submit-order");
    browser.wait_for(
        "the pay link",
        "return document.querySelector('#order[data-state=pending_payment] #pay-order')?.href",
    );
    let shown_total = browser.js("return document.querySelector('#order-total').dataset.amount");
    assert_eq!(shown_total, expected.as_str(), "the server's price is shown on submit");

    // Items 2 and 3 fail at the cloud provider until the test lets them through.
    let item_ids: Vec<String> = draft["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_owned())
        .collect();
    sims.set_cloud_faults(json!({ "fail_references": [item_ids[1], item_ids[2]] }));

    browser.click("#pay-order");
    let amount = browser.find("#amount");
    let amount = browser.rt.block_on(amount.text()).expect("the amount due");
    assert_eq!(
        amount.trim_start_matches('€').replace(',', ""),
        expected,
        "the checkout page asks for the order's total"
    );
    browser.screenshot("checkout");
    browser.click("#pay");
    browser.wait_for(
        "the way back to the order",
        &format!("return location.pathname === '/portal/orders/{order_id}' && document.querySelector('#order') ? true : null"),
    );
    // A reload would lose this mark: the updates below must arrive without one.
    browser.js("document.documentElement.dataset.samePage = 'yes'; return true");

    // Then item 1 turns active while the others keep retrying.
    let states = browser.wait_for(
        "item 1 running, items 2 and 3 not",
        &format!("const s = {ITEM_STATES}; return ['active','delivered'].includes(s[0]) ? s : null"),
    );
    assert!(!live(&states[1]) && !live(&states[2]), "{states}");
    browser.wait_for(
        "item 2's failed attempts on the page",
        "return Number(document.querySelectorAll('#order li.item')[1].dataset.attempts) > 0 ? true : null",
    );
    browser.screenshot("progress-first-item");

    // Item 2 is let through: it turns active; item 3 still retries.
    sims.set_cloud_faults(json!({ "fail_reference": item_ids[2] }));
    let states = browser.wait_for(
        "item 2 running",
        &format!("const s = {ITEM_STATES}; return ['active','delivered'].includes(s[1]) ? s : null"),
    );
    assert!(!live(&states[2]), "item 3 is still held back: {states}");
    browser.wait_for(
        "item 3's next retry on the page",
        "return document.querySelectorAll('#order li.item')[2].querySelector('.progress')?.textContent.includes('Next try') || null",
    );
    browser.screenshot("order-progress");

    // And item 3 last; the order settles as fulfilled, all on the same page.
    sims.clear_cloud_faults();
    browser.wait_for(
        "every item running and the order fulfilled",
        &format!(
            "const s = {ITEM_STATES};
             return s.every(x => ['active','delivered'].includes(x))
                 && document.querySelector('#order')?.dataset.state === 'fulfilled' || null"
        ),
    );
    assert_eq!(
        browser.js("return document.documentElement.dataset.samePage ?? null"),
        "yes",
        "the page was never reloaded"
    );
    let audit = browser.wait_for(
        "the history with the fulfilment",
        "const t = document.querySelector('#audit')?.textContent || ''; return t.includes('Ready') ? t : null",
    );
    assert!(
        audit.as_str().is_some_and(|t| t.contains("Awaiting payment")),
        "{audit}"
    );
    browser.screenshot("order-fulfilled");

    // "Send credentials again" reaches the e-mail provider, never the page.
    browser.wait_for(
        "every item delivered",
        &format!("const s = {ITEM_STATES}; return s.every(x => x === 'delivered') || null"),
    );
    let sent = eventually("one e-mail per item", WAIT, || {
        let n = sims.messages().len();
        (n >= 3).then_some(n)
    });
    browser.click("#redeliver-1");
    browser.wait_for(
        "the re-delivery notice",
        "return document.querySelector('#order li.item [role=status]')?.textContent",
    );
    eventually("another e-mail with item 1's access details", WAIT, || {
        (sims.messages().len() > sent).then_some(())
    });

    // The order list shows it under its status filter; subscriptions degrade
    // to a notice until that API exists.
    browser.click("a[href='/portal/orders']");
    browser.select("#orders-filter select[name=status]", "fulfilled");
    browser.click("#orders-filter button[type=submit]");
    browser.wait_for(
        "the fulfilled order in the filtered list",
        &format!("return location.search === '?status=fulfilled' && document.querySelector('tr[data-order-id=\"{order_id}\"]') ? true : null"),
    );
    browser.click("a[href='/portal/subscriptions']");
    browser.wait_for(
        "subscriptions or the notice that they are not available",
        "return document.querySelector('#subscriptions, #subscriptions-unavailable, .empty') ? true : null",
    );

    // Readable at phone width: nothing wider than the screen but tables.
    browser.resize(375, 812);
    browser.goto(&app.url(&format!("/portal/orders/{order_id}")));
    browser.find("#order[data-state=fulfilled]");
    let overflow = browser.js("return document.documentElement.scrollWidth <= window.innerWidth");
    assert_eq!(overflow, true, "the order page fits a 375 px wide screen");
    browser.screenshot("order-phone");
}

#[test]
fn an_operator_reverts_a_payment_before_provisioning_starts() {
    // The saga worker is held back (no scheduled tick; the webhook's kick is
    // not allowed out), so the paid order waits in `payment_confirmed`.
    let held = held_back_manifest();
    let sims = Sims::spawn(None, SECRET);
    let app = App::builder(&held)
        .build_packages(PACKAGES)
        .dev_secrets()
        .simulated_providers(&sims, SECRET)
        .spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let draft = customer.create(json!([
        {"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}
    ]));
    let r = customer.command(
        &id(&draft),
        "submit",
        &json!({ "shown_total": draft["total"] }),
        version(&draft),
    );
    assert_eq!(r.status(), 200);
    let intent = eventually("the payment intent", WAIT, || {
        json_of(customer.get(&format!("/v1/orders/{}", id(&draft))))["payment_intent"]
            .as_str()
            .map(str::to_owned)
    });
    sims.succeed(&intent, json!({}));
    let order_path = format!("/v1/orders/{}", id(&draft));
    eventually("the order paid", WAIT, || {
        (json_of(customer.get(&order_path))["state"] == "payment_confirmed").then_some(())
    });

    let browser = Browser::start();
    browser.sign_in(&app, &token("acme", Role::Operator));
    assert!(browser.url().ends_with("/portal/operator"), "{}", browser.url());
    let row = format!("#paid tr[data-order-id='{}']", id(&draft));
    browser.fill(&format!("{row} input[name=reason]"), "card holder disputes the charge");
    browser.screenshot("operator-console");
    browser.click(&format!("{row} button[type=submit]"));
    browser.wait_for(
        "the order gone from the paid list",
        &format!("return document.querySelector(\"{row}\") ? null : true"),
    );

    let order = json_of(customer.get(&order_path));
    assert_eq!(order["state"], "pending_payment");
    let audit = json_of(customer.get(&format!("{order_path}/audit")));
    assert!(
        audit.to_string().contains("card holder disputes the charge"),
        "the operator's reason is in the audit trail: {audit}"
    );
    // The reverted payment goes back to the customer at the payment
    // provider (the saga's refund job, run here by a tick), exactly once,
    let service = token("platform", Role::Service);
    let refunded = eventually("the revert's refund confirmed by the provider", WAIT, || {
        let _ = app
            .client()
            .post(app.url("/v1/internal/tick"))
            .bearer_auth(&service)
            .send();
        let o = json_of(customer.get(&order_path));
        (o["refunds"][0]["state"] == "refunded").then_some(o)
    });
    assert_eq!(refunded["refunds"][0]["scope"], "revert");
    assert_eq!(refunded["refunds"][0]["amount"], draft["total"]);
    let at_provider = sims.refunds();
    assert_eq!(at_provider.len(), 1, "{at_provider:?}");
    assert_eq!(at_provider[0]["payment_intent"], intent.as_str());
    // and the order's page says so.
    browser.goto(&app.url(&order_path.replace("/v1/orders", "/portal/orders")));
    browser.wait_for(
        "the refund shown as refunded",
        "return document.querySelector('#order .refund[data-refund-state=refunded]') ? true : null",
    );
    browser.screenshot("order-refunded");

    // A second report of the reverted payment (a Checkout Session's
    // completion, another event for the same intent) is acknowledged and
    // changes nothing: a reverted intent stays dead, its money back once.
    let mut total: rust_decimal::Decimal = draft["total"]["amount"].as_str().unwrap().parse().unwrap();
    total.rescale(2);
    let cents = i64::try_from(total.mantissa()).unwrap();
    let again = crate::stripe::library_signed_as(&app, SECRET, &intent, cents, "checkout.session.completed");
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(again["body"]["outcome"], "ignored", "{again}");
    let after = json_of(customer.get(&order_path));
    assert_eq!(after["state"], "pending_payment", "{after:#}");
    assert_eq!(after["payment"], Value::Null, "{after:#}");
    assert_eq!(sims.refunds().len(), 1);
}

#[test]
fn an_operator_sees_why_a_job_is_parked_and_retries_it_from_the_console() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let customer = Caller::customer(&app);
    let order = customer.submitted(
        json!([{"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}]),
        WAIT,
    );
    let order_id = id(&order);
    let item = order["items"][0]["id"].as_str().expect("item id").to_owned();
    // The item's resource fails at the provider, and its deletion too: the
    // deprovisioning parks and the order waits for an operator.
    sims.set_cloud_faults(json!({ "fail_provisioning_for": item, "fail_deletes_for": item }));
    sims.succeed(order["payment_intent"].as_str().expect("intent"), json!({}));
    let operator = Caller::operator(&app);
    let order_path = format!("/v1/orders/{order_id}");
    eventually("the order parked", Duration::from_secs(90), || {
        (json_of(operator.get(&order_path))["needs_operator"] == true).then_some(())
    });

    let browser = Browser::start();
    browser.sign_in(&app, &token("acme", Role::Operator));
    let row = format!("#needs-operator tr[data-order-id='{order_id}']");
    let why = browser.wait_for(
        "the parked job and why",
        &format!("return document.querySelector(\"{row} .parked-why\")?.textContent || null"),
    );
    let why = why.as_str().unwrap_or_default().to_owned();
    assert!(why.starts_with("deprovision: "), "{why}");
    assert!(why.len() > "deprovision: ".len() + 5, "it says why: {why}");
    browser.screenshot("operator-parked-job");
    // The provider is fixed; the operator retries with a reason.
    sims.clear_cloud_faults();
    browser.fill(
        &format!("{row} .parked-jobs input[name=reason]"),
        "the provider fixed deletions",
    );
    browser.click(&format!("{row} .parked-jobs button[type=submit]"));
    browser.wait_for(
        "the order gone from the parked list",
        &format!("return document.querySelector(\"{row}\") ? null : true"),
    );
    let settled = eventually("the item rolled back and refunded", Duration::from_secs(60), || {
        let o = json_of(operator.get(&order_path));
        (o["items"][0]["state"] == "rolled_back" && o["refunds"][0]["state"] == "refunded").then_some(o)
    });
    assert_eq!(settled["needs_operator"], false, "{settled:#}");
    let audit = json_of(operator.get(&format!("{order_path}/audit")));
    assert!(
        audit.to_string().contains("the provider fixed deletions"),
        "the retry and its reason are audited: {audit}"
    );
}

#[test]
fn only_operators_may_list_the_orders_parked_for_them() {
    let app = crate::api::spawn();
    let customer = Caller::customer(&app);
    customer.create(json!([
        {"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}
    ]));
    let r = customer.get("/v1/orders?needs_operator=true");
    assert_eq!(r.status(), 403);
    let operator = Caller::operator(&app);
    let parked = json_of(operator.get("/v1/orders?needs_operator=true"));
    assert_eq!(parked["items"], json!([]), "nothing is parked: {parked}");
    let all = json_of(operator.get("/v1/orders?needs_operator=false"));
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(operator.get("/v1/orders?needs_operator=maybe").status(), 400);
}

/// `spin.toml` with absolute component paths and without the payment
/// component's permission to call the saga worker, in a temporary file.
fn held_back_manifest() -> PathBuf {
    let root = e2e::workspace_root();
    let text = std::fs::read_to_string(manifest()).expect("spin.toml");
    let pay_hosts =
        r#"allowed_outbound_hosts = ["http://retry.spin.internal", "{{ payment_api_url }}", "postgres://127.0.0.1:*"]"#;
    assert!(
        text.contains(pay_hosts),
        "the pay component's hosts changed; update this test"
    );
    let text = text
        .replace(
            pay_hosts,
            r#"allowed_outbound_hosts = ["{{ payment_api_url }}", "postgres://127.0.0.1:*"]"#,
        )
        .replace("source = \"target/", &format!("source = \"{}/target/", root.display()));
    let dir = e2e::artifacts_dir("portal-manifests");
    let path = dir.join(format!("held-back-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the manifest");
    path
}
