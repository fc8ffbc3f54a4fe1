// Orderflow portal: one vanilla ES module. It calls the public API
// (/v1/...) with the credential the user pastes in, which stays in this
// tab's sessionStorage and is sent only as `Authorization: Bearer`.
// Prices, states and rules come from the API; this page only shows them.

const TOKEN_KEY = "orderflow.credential";
const POLL_MS = 2000;
const STATES = ["draft", "pending_payment", "payment_confirmed", "validating", "provisioning",
  "partially_fulfilled", "fulfilled", "cancelled", "failed"];
const STATE_WORDS = {
  draft: "Draft", pending_payment: "Awaiting payment", payment_confirmed: "Paid",
  validating: "Checking", provisioning: "Setting up", partially_fulfilled: "Partly ready",
  fulfilled: "Ready", cancelled: "Cancelled", failed: "Failed",
  pending: "Waiting", active: "Running", delivered: "Running, details sent", rolled_back: "Undone and refunded",
  ended: "Ended with its subscription",
};
// Where a refund is at the payment provider (the order's `refunds`).
const REFUND_WORDS = {
  requested: "Refund requested", pending: "Refund on its way", refunded: "Refunded",
  failed: "Refund failed; an operator is looking into it",
};
const OPEN_REFUND = ["requested", "pending"];
const PRODUCT_WORDS = {
  vps: "Virtual server", kubernetes: "Kubernetes cluster", managed_database: "Managed PostgreSQL",
  gpu: "GPU nodes", private_cloud: "Private cloud", object_storage: "Object storage",
};

// --- Small DOM helpers ----------------------------------------------------

/** Builds an element; text children are always text, never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const main = () => document.getElementById("main");
let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  // A fresh text node is announced even when the words repeat.
  setTimeout(() => { region.textContent = text; }, 50);
}

function stateBadge(state) {
  return h("span", { class: `state state-${state}`, dataset: { state } }, STATE_WORDS[state] || state);
}

function money(m) {
  if (!m) return "—";
  const sign = m.amount.startsWith("-") ? "-" : "";
  const [units, cents = ""] = m.amount.replace("-", "").split(".");
  const grouped = units.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${m.currency === "EUR" ? "€" : m.currency + " "}${grouped}.${(cents + "00").slice(0, 2)}`;
}

/** Exact cents of a decimal string ("20.1" → 2010); display arithmetic only. */
function cents(decimal) {
  const negative = decimal.startsWith("-");
  const [units, frac = ""] = decimal.replace("-", "").split(".");
  const value = Number(units) * 100 + Number((frac + "00").slice(0, 2));
  return negative ? -value : value;
}

function eur(centsValue) {
  const abs = Math.abs(centsValue);
  return money({ amount: `${centsValue < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`, currency: "EUR" });
}

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function inSeconds(iso) {
  const s = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  return s <= 0 ? "now" : `in ${s} s`;
}

// --- Credential -----------------------------------------------------------

const credential = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
  /** The token's claims, for showing who is signed in. The API checks them. */
  claims() {
    const token = this.get();
    if (!token) return null;
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    } catch {
      return null;
    }
  },
};
const isOperator = () => credential.claims()?.role === "operator";

// --- API ------------------------------------------------------------------

function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class SignedOut extends Error {}

/** Calls the API; resolves to {ok, status, data, etag}. A 401 signs out. */
async function api(method, path, { body, version } = {}) {
  const token = credential.get();
  if (!token) throw new SignedOut();
  const headers = { authorization: `Bearer ${token}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["idempotency-key"] = idempotencyKey();
  if (version !== undefined) headers["if-match"] = `"${version}"`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch {
    return { ok: false, status: 0, data: { title: "The service cannot be reached", detail: "Check your connection and try again." } };
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (response.status === 401) {
    credential.clear();
    throw new SignedOut();
  }
  return { ok: response.ok, status: response.status, data, etag: response.headers.get("etag") };
}

// --- Errors next to their fields ------------------------------------------

function acceptedWords(accepted) {
  if (accepted === null || accepted === undefined) return "";
  if (Array.isArray(accepted)) return accepted.length ? `Choose one of: ${accepted.join(", ")}.` : "";
  if (typeof accepted === "object") {
    if ("min" in accepted && "max" in accepted) return `Choose a value from ${accepted.min} to ${accepted.max}.`;
    if ("max" in accepted) return `At most ${accepted.max}.`;
    if ("min" in accepted) return `At least ${accepted.min}.`;
  }
  return typeof accepted === "string" || typeof accepted === "number" ? `Accepted: ${accepted}.` : "";
}

const RULE_WORDS = {
  required: "This is needed.",
  type: "This value has the wrong form.",
  one_of: "This choice is not offered.",
  range: "This number is out of range.",
  region_availability: "This product is not sold in that region.",
  image_region: "This operating system is not offered in that region.",
  image_plan: "This operating system needs a larger plan.",
  billing_cycle: "This product cannot be billed that way.",
  autoscaling_bounds: "The autoscaling limits do not fit together.",
  cluster_size: "The node count does not fit the cluster size.",
  quota: "This would go over your account's limit.",
  capacity: "That region has no room left for this.",
  item_count: "An order needs between one and the allowed number of items.",
};

function fieldErrorText(e) {
  // The API's sentence, without code-style quoting; the rule's words if it has none.
  const detail = (e.detail || "").replace(/`/g, "").trim();
  const lead = detail ? `${detail.charAt(0).toUpperCase()}${detail.slice(1).replace(/\.?$/, ".")}` : RULE_WORDS[e.rule] || "This value is not accepted.";
  const a = e.accepted;
  const said = a && typeof a === "object" && !Array.isArray(a) && "min" in a && "max" in a
    && lead.includes(String(a.min)) && lead.includes(String(a.max));
  const extra = said ? "" : acceptedWords(a);
  return extra && !lead.includes(extra) ? `${lead} ${extra}` : lead;
}

function clearErrors(scope) {
  scope.querySelectorAll(".field-error").forEach((el) => el.remove());
  scope.querySelectorAll("[aria-invalid]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    const described = (el.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.startsWith("err-"));
    if (described.length) el.setAttribute("aria-describedby", described.join(" "));
    else el.removeAttribute("aria-describedby");
  });
  scope.querySelectorAll(".alert[data-form-alert]").forEach((el) => el.remove());
}

/** The field a JSON pointer names, or the closest enclosing one. */
function fieldFor(scope, pointer) {
  let p = pointer;
  while (p) {
    const el = scope.querySelector(`[data-pointer="${CSS.escape(p)}"]`);
    if (el) return el;
    p = p.slice(0, p.lastIndexOf("/"));
  }
  return null;
}

/** Shows a problem+json: each field error next to its field, the rest on top. */
function showProblem(scope, problem, fallbackTitle = "That did not work") {
  clearErrors(scope);
  const loose = [];
  for (const e of problem?.errors || []) {
    const field = fieldFor(scope, e.pointer || "");
    if (!field) { loose.push(fieldErrorText(e)); continue; }
    const id = nextId("err");
    const message = h("p", { class: "field-error", id, dataset: { errorFor: e.pointer } }, fieldErrorText(e));
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", `${field.getAttribute("aria-describedby") || ""} ${id}`.trim());
    (field.closest(".field") || field).after(message);
  }
  if (!problem?.errors?.length || loose.length) {
    const words = problemWords(problem, fallbackTitle);
    const alert = h("div", { class: "alert", role: "alert", dataset: { formAlert: "" } },
      h("strong", {}, words.title), words.detail ? h("p", {}, words.detail) : null,
      loose.length ? h("ul", {}, loose.map((t) => h("li", {}, t))) : null);
    scope.prepend(alert);
    alert.scrollIntoView({ block: "nearest" });
  }
  const firstInvalid = scope.querySelector("[aria-invalid='true']");
  if (firstInvalid && !scope.contains(document.activeElement)) firstInvalid.focus();
}

function problemWords(problem, fallbackTitle) {
  const status = problem?.status;
  if (status === 409) return { title: "This order changed in the meantime", detail: `${problem.detail || ""} Reload it and try again.`.trim() };
  if (status === 403) return { title: "Your role may not do this", detail: problem.detail };
  if (status === 404) return { title: "Not found", detail: problem.detail };
  return { title: problem?.title || fallbackTitle, detail: problem?.detail };
}

// --- Routing --------------------------------------------------------------

let viewToken = 0; // bumps on every navigation: stale pollers stop.

function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === "/" || url.pathname.startsWith("/portal"))) return;
  event.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener("popstate", () => render());

async function render() {
  const token = ++viewToken;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  renderChrome(path);
  const root = main();
  root.replaceChildren();
  if (!credential.get()) return signIn(root);
  let match;
  try {
    if (path === "/" || path === "/portal" || path === "/portal/orders") await ordersPage(root, token);
    else if (path === "/portal/new") await editorPage(root, null);
    else if ((match = path.match(/^\/portal\/orders\/([0-9a-f-]{36})\/edit$/))) await editorPage(root, match[1]);
    else if ((match = path.match(/^\/portal\/orders\/([0-9a-f-]{36})$/))) await orderPage(root, match[1], token);
    else if (path === "/portal/subscriptions") await subscriptionsPage(root);
    else if (path === "/portal/operator") await operatorPage(root, token);
    else if (path === "/portal/sign-in") signIn(root);
    else root.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/portal/orders" }, "Go to your orders")));
  } catch (error) {
    if (error instanceof SignedOut) {
      root.replaceChildren();
      signIn(root, "Your sign-in has expired or was not accepted. Paste a current access token.");
    } else {
      root.append(h("div", { class: "alert", role: "alert" }, h("strong", {}, "Something went wrong on this page."), h("p", {}, String(error.message || error))));
    }
  }
  const heading = root.querySelector("h1");
  if (heading && document.activeElement === document.body) document.title = `${heading.textContent} · Orderflow`;
}

function renderChrome(path) {
  const claims = credential.claims();
  const nav = document.getElementById("nav");
  nav.hidden = !claims;
  nav.querySelector("[data-role='operator']").hidden = claims?.role !== "operator";
  for (const a of nav.querySelectorAll("a")) {
    const here = a.getAttribute("href") === path || (path.startsWith("/portal/orders") && a.getAttribute("href") === "/portal/orders");
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const session = document.getElementById("session");
  session.replaceChildren();
  if (claims) {
    session.append(
      h("span", { id: "who" }, `${claims.tenant} · ${claims.role}`),
      h("button", { type: "button", class: "secondary", id: "sign-out", on: { click: () => { credential.clear(); go("/portal/sign-in"); } } }, "Sign out"),
    );
  }
}

// --- Sign in --------------------------------------------------------------

function signIn(root, message) {
  const inputId = nextId("token");
  const form = h("form", { id: "sign-in", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: inputId }, "Access token"),
      h("input", { id: inputId, name: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": `${inputId}-hint`, dataset: { pointer: "/token" } }),
      h("p", { class: "hint", id: `${inputId}-hint` }, "Paste the access token you were given. It stays in this browser tab only and is forgotten when you close it.")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = form.token.value.trim();
    if (!value) return showProblem(form, { errors: [{ pointer: "/token", detail: "Paste your access token first" }] });
    credential.set(value);
    try {
      await api("GET", "/v1/products");
      go(isOperator() ? "/portal/operator" : "/portal/orders", { replace: true });
    } catch (error) {
      if (!(error instanceof SignedOut)) throw error;
      showProblem(form, { errors: [{ pointer: "/token", detail: "This token was not accepted: it may have expired or been mistyped" }] });
    }
  });
  root.append(h("h1", {}, "Sign in"), message ? h("div", { class: "notice", role: "status" }, message) : null, form);
  renderChrome(location.pathname);
}

// --- Catalog and the order editor -----------------------------------------

let catalogCache = null;
async function catalog() {
  if (catalogCache) return catalogCache;
  const r = await api("GET", "/v1/products");
  if (!r.ok) throw new Error(r.data?.detail || "The catalog could not be loaded.");
  catalogCache = r.data;
  return catalogCache;
}

const choice = (values, words = {}) => values.map((v) => [v, words[v] || v]);

/** Each product's configuration fields: what the API takes, worded for people. */
function productFields(cat, product, config) {
  const region = { name: "region", label: "Region", kind: "select", options: choice(cat.products.find((p) => p.product === product)?.regions || []) };
  switch (product) {
    case "vps": {
      const images = cat.os_images.filter((i) => !config.region || i.regions.includes(config.region));
      return [region,
        { name: "plan", label: "Plan", kind: "select", options: cat.vps_plans.map((p) => [p.plan, `${p.plan} — ${p.vcpus} vCPU, ${p.memory_gb} GB memory, ${p.disk_gb} GB disk`]) },
        { name: "os_image", label: "Operating system", kind: "select", options: images.map((i) => [i.id, i.name]) }];
    }
    case "kubernetes":
      return [region,
        { name: "workers", label: "Workers", kind: "number", value: 3, hint: "3 to 50 worker nodes" },
        { name: "storage_class", label: "Storage class", kind: "select", options: choice(["standard", "ssd"], { standard: "Standard (replicated)", ssd: "Local NVMe SSD" }) },
        { name: "storage_gb", label: "Storage (GB)", kind: "number", value: 100 },
        { name: "autoscaling", label: "Autoscaling", kind: "autoscaling" }];
    case "managed_database":
      return [region,
        { name: "engine", label: "Engine", kind: "select", options: [["postgresql-16", "PostgreSQL 16"]] },
        { name: "plan", label: "Plan", kind: "select", options: choice(["starter", "production"], { starter: "Starter", production: "Production" }) },
        { name: "storage_gb", label: "Storage (GB)", kind: "number", value: 20, hint: "20 to 2000 GB" },
        { name: "high_availability", label: "High availability (a hot standby, doubles the plan price)", kind: "checkbox" }];
    case "gpu":
      return [region,
        { name: "gpu", label: "GPU", kind: "select", options: choice(["A100", "H100"], { A100: "NVIDIA A100 80 GB", H100: "NVIDIA H100 80 GB" }) },
        { name: "nodes", label: "Nodes", kind: "number", value: 1, hint: "1 to 8 nodes" },
        { name: "storage_gb", label: "Storage (GB)", kind: "number", value: 500 },
        { name: "framework", label: "Framework", kind: "select", options: choice(["pytorch", "tensorflow", "jax", "none"], { pytorch: "PyTorch", tensorflow: "TensorFlow", jax: "JAX", none: "None (CUDA only)" }) }];
    case "private_cloud":
      return [region,
        { name: "cluster_size", label: "Cluster size", kind: "select", options: choice(["small", "medium", "large"], { small: "Small (3–6 nodes)", medium: "Medium (7–12 nodes)", large: "Large (13–20 nodes)" }) },
        { name: "nodes", label: "Nodes", kind: "number", value: 3 },
        { name: "storage_tb", label: "Storage (TB)", kind: "number", value: 5, hint: "5 to 500 TB" }];
    case "object_storage":
      return [region,
        { name: "tier", label: "Tier", kind: "select", options: choice(["standard", "archive"], { standard: "Standard", archive: "Archive" }) },
        { name: "capacity_tb", label: "Capacity (TB)", kind: "number", value: 1, hint: "1 to 1000 TB" },
        { name: "replication", label: "Replication", kind: "select", options: choice(["single_zone", "multi_zone"], { single_zone: "Single zone", multi_zone: "Across zones" }) }];
    default:
      return [region];
  }
}

/** A number input's value for the API: an integer, or the text as typed (the API names the problem). */
function numberValue(input) {
  const text = input.value.trim();
  if (text === "") return undefined;
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/** One item's editor: product, billing cycle, configuration and its live price. */
function itemEditor(cat, index, initial, onChange, onRemove) {
  const state = {
    product: initial?.product || "vps",
    billing_cycle: initial?.billing_cycle || "monthly",
    config: { ...(initial?.config || {}) },
  };
  const box = h("fieldset", { class: "item", dataset: { index: String(index), pointer: `/items/${index}` } });
  const priceBox = h("div", { class: "price", "aria-live": "polite", dataset: { priceFor: String(index) } });

  function readConfig() {
    const config = {};
    for (const el of box.querySelectorAll("[data-config]")) {
      const name = el.dataset.config;
      if (name === "autoscaling") continue;
      if (el.type === "checkbox") config[name] = el.checked;
      else if (el.type === "number") { const v = numberValue(el); if (v !== undefined) config[name] = v; }
      else if (el.value !== "") config[name] = el.value;
    }
    const scaling = box.querySelector("[data-config='autoscaling']");
    if (scaling) {
      if (scaling.checked) {
        const min = numberValue(box.querySelector("[data-config-sub='min_workers']"));
        const max = numberValue(box.querySelector("[data-config-sub='max_workers']"));
        config.autoscaling = { min_workers: min, max_workers: max };
      } else {
        config.autoscaling = null;
      }
    }
    return config;
  }

  function draw() {
    box.replaceChildren();
    const base = `/items/${index}`;
    box.append(h("legend", {}, `Item ${index + 1}`));
    const productId = nextId("product");
    const productSelect = h("select", { id: productId, name: "product", dataset: { pointer: `${base}/product` } },
      cat.products.map((p) => h("option", { value: p.product, selected: p.product === state.product }, PRODUCT_WORDS[p.product] || p.product)));
    productSelect.addEventListener("change", () => {
      state.product = productSelect.value;
      state.config = {};
      const cycles = cat.products.find((p) => p.product === state.product)?.billing_cycles || [];
      if (!cycles.includes(state.billing_cycle)) state.billing_cycle = cycles[0] || "monthly";
      draw();
      onChange();
    });
    box.append(h("div", { class: "field" }, h("label", { for: productId }, "Product"), productSelect));

    const cycles = cat.products.find((p) => p.product === state.product)?.billing_cycles || ["monthly", "annual"];
    const off = 100 - cents(String(cat.rates?.annual_factor ?? "0.8"));
    const group = nextId(`cycle-${index}`);
    const cycleGroup = h("fieldset", { class: "cycle-group", dataset: { pointer: `${base}/billing_cycle` } },
      h("legend", {}, "Billing"),
      h("div", { class: "cycle" }, ["monthly", "annual"].map((c) => {
        const id = nextId("cycle");
        const radio = h("input", { type: "radio", id, name: group, value: c, checked: c === state.billing_cycle, disabled: !cycles.includes(c), dataset: { cycle: c } });
        radio.addEventListener("change", () => { state.billing_cycle = c; onChange(); });
        return h("label", { for: id }, radio, c === "monthly" ? "Monthly" : `Annual (${off} % off)`);
      })));
    box.append(cycleGroup);

    for (const field of productFields(cat, state.product, state.config)) {
      const id = nextId(field.name);
      const pointer = `${base}/config/${field.name}`;
      const current = state.config[field.name];
      const hintId = field.hint ? `${id}-hint` : undefined;
      if (field.kind === "select") {
        const select = h("select", { id, name: field.name, dataset: { config: field.name, pointer }, "aria-describedby": hintId },
          field.options.map(([value, words]) => h("option", { value, selected: value === current }, words)));
        select.addEventListener("change", () => {
          state.config = readConfig();
          if (field.name === "region" && state.product === "vps") { draw(); }
          onChange();
        });
        box.append(h("div", { class: "field" }, h("label", { for: id }, field.label), select, field.hint ? h("p", { class: "hint", id: hintId }, field.hint) : null));
      } else if (field.kind === "number") {
        const input = h("input", { id, name: field.name, type: "number", inputmode: "numeric", step: "1", value: current ?? field.value, dataset: { config: field.name, pointer }, "aria-describedby": hintId });
        input.addEventListener("input", () => { state.config = readConfig(); onChange(); });
        box.append(h("div", { class: "field" }, h("label", { for: id }, field.label), input, field.hint ? h("p", { class: "hint", id: hintId }, field.hint) : null));
      } else if (field.kind === "checkbox") {
        const input = h("input", { id, name: field.name, type: "checkbox", checked: Boolean(current), dataset: { config: field.name, pointer } });
        input.addEventListener("change", () => { state.config = readConfig(); onChange(); });
        box.append(h("div", { class: "field inline" }, input, " ", h("label", { for: id }, field.label)));
      } else if (field.kind === "autoscaling") {
        const enabled = Boolean(current);
        const toggle = h("input", { id, type: "checkbox", checked: enabled, dataset: { config: "autoscaling", pointer } });
        const minId = nextId("min"), maxId = nextId("max");
        const bounds = h("div", { class: "autoscaling", hidden: !enabled },
          h("div", { class: "field" }, h("label", { for: minId }, "Fewest workers"),
            h("input", { id: minId, type: "number", step: "1", value: current?.min_workers ?? 3, dataset: { configSub: "min_workers", pointer: `${pointer}/min_workers` } })),
          h("div", { class: "field" }, h("label", { for: maxId }, "Most workers"),
            h("input", { id: maxId, type: "number", step: "1", value: current?.max_workers ?? 10, dataset: { configSub: "max_workers", pointer: `${pointer}/max_workers` } })));
        toggle.addEventListener("change", () => { bounds.hidden = !toggle.checked; state.config = readConfig(); onChange(); });
        bounds.addEventListener("input", () => { state.config = readConfig(); onChange(); });
        box.append(h("div", { class: "field inline" }, toggle, " ", h("label", { for: id }, "Autoscaling")), bounds);
      }
    }
    state.config = readConfig();
    box.append(priceBox);
    if (onRemove) {
      box.append(h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", on: { click: onRemove } }, `Remove item ${index + 1}`)));
    }
  }

  draw();
  return {
    element: box,
    request: () => ({ product: state.product, billing_cycle: state.billing_cycle, config: readConfig() }),
    showPrice(price) {
      priceBox.replaceChildren();
      if (!price) return;
      const monthly = price.monthly;
      if (price.billing_cycle === "annual") {
        const full = cents(monthly.amount) * 12;
        const saved = full - cents(price.period_total.amount);
        priceBox.append(h("p", {}, h("strong", { dataset: { periodTotal: price.period_total.amount } }, `${money(price.period_total)} a year`),
          " — 12 × ", money(monthly), " = ", h("s", {}, eur(full)), " ",
          h("span", { class: "discount" }, `you save ${eur(saved)} (${100 - cents(String(cat.rates?.annual_factor ?? "0.8"))} % off)`)));
      } else {
        priceBox.append(h("p", {}, h("strong", { dataset: { periodTotal: price.period_total.amount } }, `${money(price.period_total)} a month`),
          h("span", { class: "hint" }, ` · billed annually: ${100 - cents(String(cat.rates?.annual_factor ?? "0.8"))} % off`)));
      }
    },
  };
}

/** New order (`id` null) or editing a draft: items, live quote, save. */
async function editorPage(root, id) {
  const cat = await catalog();
  let order = null;
  if (id) {
    const r = await api("GET", `/v1/orders/${id}`);
    if (!r.ok) { root.append(h("h1", {}, "Edit order")); return showProblem(root, r.data); }
    order = r.data;
    if (order.state !== "draft") {
      root.append(h("h1", {}, "This order can no longer be edited"), h("p", {}, h("a", { href: `/portal/orders/${id}` }, "Back to the order")));
      return;
    }
  }
  root.append(h("h1", {}, order ? "Edit your draft order" : "New order"),
    h("p", { class: "lead" }, "Configure each item; the price updates as you go. Nothing is charged until you submit and pay."));
  const form = h("form", { id: "order-form", novalidate: true });
  const list = h("div", { class: "items" });
  const totalBox = h("p", { class: "total", id: "quote-total", "aria-live": "polite" });
  const editors = [];

  function rebuild(initials) {
    list.replaceChildren();
    editors.length = 0;
    initials.forEach((initial, i) => {
      const editor = itemEditor(cat, i, initial, scheduleQuote, initials.length > 1 ? () => {
        const current = editors.map((e) => e.request());
        current.splice(i, 1);
        rebuild(current);
        scheduleQuote();
      } : null);
      editors.push(editor);
      list.append(editor.element);
    });
  }

  let timer = null;
  let quoteSeq = 0;
  function scheduleQuote() {
    clearTimeout(timer);
    quoteSeq += 1; // what is in flight now prices an older configuration
    timer = setTimeout(quote, 250);
  }
  async function quote() {
    const seq = ++quoteSeq;
    const items = editors.map((e) => e.request());
    const r = await api("POST", "/v1/quotes", { body: { items } });
    if (seq !== quoteSeq) return; // a newer quote is on its way
    if (r.ok) {
      clearErrors(form);
      r.data.items.forEach((line, i) => editors[i]?.showPrice(line.price));
      totalBox.replaceChildren("Total due on submit: ", h("strong", { id: "total-amount", dataset: { amount: r.data.total.amount } }, money(r.data.total)));
      form.dataset.quoted = String(seq);
    } else {
      editors.forEach((e) => e.showPrice(null));
      totalBox.replaceChildren("Fix the highlighted fields to see the price.");
      showProblem(form, r.data, "This configuration cannot be priced");
      form.dataset.quoted = "error";
    }
  }

  rebuild(order ? order.items.map((i) => ({ product: i.product, billing_cycle: i.billing_cycle, config: i.config })) : [null]);
  const add = h("button", { type: "button", class: "secondary", id: "add-item" }, "Add another item");
  add.addEventListener("click", () => {
    rebuild([...editors.map((e) => e.request()), null]);
    scheduleQuote();
    list.lastElementChild?.querySelector("select")?.focus();
  });
  const save = h("button", { type: "submit", id: "save-draft" }, order ? "Save changes" : "Save as draft");
  // Where the access details go: asked once, when the order is created
  // (empty: the organisation's default address, if an operator set one).
  const emailId = nextId("delivery-email");
  const email = order ? null : h("input", { id: emailId, name: "delivery_email", type: "email", autocomplete: "email",
    "aria-describedby": `${emailId}-hint`, dataset: { pointer: "/delivery_email" } });
  const emailField = order ? null : h("div", { class: "field" }, h("label", { for: emailId }, "Send the access details to"), email,
    h("p", { class: "hint", id: `${emailId}-hint` }, "An e-mail address; leave empty for your organisation's default delivery address."));
  form.append(list, h("div", { class: "actions" }, add), totalBox, emailField, h("div", { class: "actions" }, save,
    order ? h("a", { class: "button secondary", href: `/portal/orders/${order.id}` }, "Discard changes") : null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    const items = editors.map((e) => e.request());
    const r = order
      ? await api("PATCH", `/v1/orders/${order.id}`, { body: { items }, version: order.version })
      : await api("POST", "/v1/orders", { body: email.value ? { items, delivery_email: email.value } : { items } });
    save.disabled = false;
    if (r.ok) {
      announce("Draft saved.");
      go(`/portal/orders/${r.data.id}`);
    } else {
      showProblem(form, r.data, "The order could not be saved");
    }
  });
  root.append(form);
  quote();
}

// --- Orders list ----------------------------------------------------------

async function ordersPage(root) {
  const params = new URLSearchParams(location.search);
  const status = params.get("status") || "";
  const cursor = params.get("cursor") || "";
  const deleted = params.get("include_deleted") === "true";
  root.append(h("h1", {}, "Orders"));
  const selectId = nextId("status");
  const filter = h("form", { class: "actions", id: "orders-filter", role: "search" },
    h("label", { for: selectId }, "Status"),
    h("select", { id: selectId, name: "status" }, h("option", { value: "" }, "All"),
      STATES.map((s) => h("option", { value: s, selected: s === status }, STATE_WORDS[s]))),
    isOperator() ? h("label", { class: "inline-check" }, h("input", { type: "checkbox", name: "include_deleted", checked: deleted }), " Include cancelled") : null,
    h("button", { type: "submit" }, "Show"),
    h("a", { class: "button secondary", href: "/portal/new" }, "New order"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (filter.status.value) q.set("status", filter.status.value);
    if (filter.include_deleted?.checked) q.set("include_deleted", "true");
    go(`/portal/orders${q.toString() ? `?${q}` : ""}`);
  });
  root.append(filter);
  const q = new URLSearchParams({ limit: "10" });
  if (status) q.set("status", status);
  if (cursor) q.set("cursor", cursor);
  if (deleted) q.set("include_deleted", "true");
  const r = await api("GET", `/v1/orders?${q}`);
  if (!r.ok) return showProblem(root, r.data);
  root.append(ordersTable(r.data.items));
  const pager = h("nav", { class: "actions", "aria-label": "Pages" });
  if (cursor) pager.append(h("button", { type: "button", class: "secondary", on: { click: () => history.back() } }, "Previous page"));
  if (r.data.next_cursor) {
    const next = new URLSearchParams(location.search);
    next.set("cursor", r.data.next_cursor);
    pager.append(h("a", { class: "button secondary", href: `/portal/orders?${next}`, id: "next-page" }, "Next page"));
  }
  root.append(pager);
}

function ordersTable(orders, actions) {
  if (!orders.length) return h("p", { class: "empty" }, "No orders here.");
  return h("div", { class: "table-wrap" }, h("table", { class: "orders" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Order"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Items"),
      h("th", { scope: "col" }, "Total"), h("th", { scope: "col" }, "Created"), actions ? h("th", { scope: "col" }, "Action") : null)),
    h("tbody", {}, orders.map((o) => h("tr", { dataset: { orderId: o.id } },
      h("td", {}, h("a", { href: `/portal/orders/${o.id}` }, o.id.slice(0, 8))),
      h("td", {}, stateBadge(o.state), o.needs_operator ? h("span", { class: "state state-failed" }, " needs an operator") : null),
      h("td", {}, o.items.map((i) => i.summary).join("; ")),
      h("td", {}, money(o.total)),
      h("td", {}, when(o.created_at)),
      actions ? h("td", {}, actions(o)) : null)))));
}

// --- One order, live -------------------------------------------------------

const FINAL_ORDER = ["draft", "cancelled"];
const SETTLED_ITEM = ["delivered", "rolled_back", "failed", "ended"];
function stillMoving(order) {
  // A refund on its way to the provider still changes what the page shows.
  if ((order.refunds || []).some((r) => OPEN_REFUND.includes(r.state))) return true;
  if (FINAL_ORDER.includes(order.state)) return false;
  if (["fulfilled", "failed", "partially_fulfilled"].includes(order.state)) {
    return order.items.some((i) => !SETTLED_ITEM.includes(i.state));
  }
  return true;
}

async function orderPage(root, id, token) {
  const r = await api("GET", `/v1/orders/${id}`);
  root.append(h("h1", {}, `Order ${id.slice(0, 8)}`));
  if (!r.ok) return showProblem(root, r.data, "This order could not be loaded");
  const view = h("div", { id: "order", dataset: { orderId: id } });
  const liveNote = h("p", { class: "live", id: "live-note" });
  const auditBox = h("section", { "aria-labelledby": "audit-heading" });
  root.append(view, liveNote, auditBox);
  let order = r.data;
  let lastStates = new Map(order.items.map((i) => [i.id, i.state]));
  let lastVersion = null;

  const draw = () => {
    drawOrder(view, order, reload);
    if (order.version !== lastVersion) {
      lastVersion = order.version;
      loadAudit(auditBox, id);
    }
  };
  async function reload() {
    const fresh = await api("GET", `/v1/orders/${id}`);
    if (fresh.ok && token === viewToken) {
      for (const item of fresh.data.items) {
        const before = lastStates.get(item.id);
        if (before && before !== item.state) {
          announce(`${item.summary}: ${STATE_WORDS[item.state] || item.state}.`);
        }
      }
      lastStates = new Map(fresh.data.items.map((i) => [i.id, i.state]));
      // Redraw only what changed, so messages and focus survive quiet polls.
      const changed = JSON.stringify(fresh.data) !== JSON.stringify(order);
      order = fresh.data;
      if (changed) draw();
    }
    return fresh;
  }
  draw();

  // Live progress: ask again every two seconds until the order settles.
  const tick = async () => {
    if (token !== viewToken) return;
    if (!stillMoving(order)) {
      liveNote.textContent = "";
      return;
    }
    liveNote.textContent = "Updating live every few seconds.";
    try { await reload(); } catch (error) { if (error instanceof SignedOut) return render(); }
    if (token === viewToken) setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

function drawOrder(view, order, reload) {
  const focusedId = document.activeElement?.id;
  view.replaceChildren();
  view.dataset.state = order.state;
  view.dataset.version = String(order.version);
  view.append(h("dl", { class: "summary" },
    h("dt", {}, "Status"), h("dd", { id: "order-state" }, stateBadge(order.state),
      order.needs_operator ? h("span", { class: "state state-failed" }, " waiting for an operator") : null),
    h("dt", {}, "Total"), h("dd", { id: "order-total", dataset: { amount: order.total.amount } }, money(order.total)),
    order.refunded && cents(order.refunded.amount) > 0 ? [h("dt", {}, "Refunded"), h("dd", {}, money(order.refunded))] : null,
    // Refunds of the whole payment (an item's own refund shows on the item).
    (order.refunds || []).filter((r) => !r.item_id).flatMap((r) => [
      h("dt", {}, "Refund"),
      h("dd", { class: "refund", dataset: { refundId: r.id, refundState: r.state } },
        money(r.amount), " ", h("span", { class: `state refund-${r.state}` }, REFUND_WORDS[r.state] || r.state))]),
    order.payment ? [h("dt", {}, "Payment"), h("dd", {}, `${money(order.payment.amount)} received ${when(order.payment.paid_at)} (reference ${order.payment.reference})`)] : null,
    order.delivery_email_masked ? [h("dt", {}, "Access details go to"), h("dd", { id: "order-delivery" }, order.delivery_email_masked)] : null,
    h("dt", {}, "Created"), h("dd", {}, when(order.created_at)),
    h("dt", {}, "Last change"), h("dd", {}, when(order.updated_at))));

  const actions = h("div", { class: "actions", id: "order-actions" });
  const errorScope = h("div", { class: "action-errors" });
  const act = (label, path, body, { danger = false, id } = {}) => {
    const button = h("button", { type: "button", class: danger ? "danger" : undefined, id }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      const r = await api("POST", `/v1/orders/${order.id}/${path}`, { body, version: order.version });
      button.disabled = false;
      if (r.ok) { announce(`${label}: done.`); await reload(); } else showProblem(errorScope, r.data, `${label} did not work`);
    });
    return button;
  };
  switch (order.state) {
    case "draft":
      actions.append(
        h("a", { class: "button secondary", href: `/portal/orders/${order.id}/edit`, id: "edit-order" }, "Edit"),
        act(`Submit and pay ${money(order.total)}`, "submit", { shown_total: order.total }, { id: "submit-order" }),
        act("Cancel order", "cancel", { reason: "cancelled by the customer in the portal" }, { danger: true, id: "cancel-order" }));
      break;
    case "pending_payment":
      if (order.payment_checkout_url) {
        const checkout = new URL(order.payment_checkout_url);
        checkout.searchParams.set("return_to", `${location.origin}/portal/orders/${order.id}`);
        actions.append(h("a", { class: "button", href: checkout.toString(), id: "pay-order", rel: "noreferrer" }, `Pay ${money(order.total)}`));
      } else {
        actions.append(h("p", { class: "notice", id: "pay-pending" }, order.payment_intent
          ? "Your payment is ready; pay it with the link you received."
          : "Preparing your payment…"));
      }
      actions.append(act("Cancel order", "cancel", { reason: "cancelled by the customer in the portal" }, { danger: true, id: "cancel-order" }));
      break;
    case "payment_confirmed":
    case "validating":
      actions.append(act("Cancel and refund", "cancel", { reason: "cancelled in the portal" }, { danger: true, id: "cancel-order" }));
      if (isOperator() && order.state === "payment_confirmed") {
        actions.append(act("Revert payment", "payment/revert", { reason: "reverted by an operator in the console" }, { danger: true, id: "revert-payment" }));
      }
      break;
    case "provisioning":
    case "partially_fulfilled":
      if (isOperator()) actions.append(act("Cancel: deprovision and refund", "cancel", { reason: "cancelled by an operator during provisioning" }, { danger: true, id: "cancel-order" }));
      break;
    case "cancelled":
      if (isOperator() && order.deleted_at) actions.append(act("Restore order", "restore", {}, { id: "restore-order" }));
      break;
    default:
      break;
  }
  if (actions.childElementCount) view.append(actions);
  view.append(errorScope);

  view.append(h("h2", { id: "items-heading" }, "Items"));
  view.append(h("ol", { class: "items", "aria-labelledby": "items-heading" }, order.items.map((item, n) => {
    const progress = item.progress;
    const live = ["active", "delivered"].includes(item.state);
    const redeliver = live ? h("button", { type: "button", class: "secondary", id: `redeliver-${n + 1}` }, "Send access details again") : null;
    const redeliverScope = h("div", {});
    redeliver?.addEventListener("click", async () => {
      redeliver.disabled = true;
      const r = await api("POST", `/v1/orders/${order.id}/items/${item.id}/redeliver`, { body: {} });
      redeliver.disabled = false;
      if (r.ok) redeliverScope.replaceChildren(h("p", { class: "notice", role: "status" }, "The access details are on their way to your e-mail."));
      else showProblem(redeliverScope, r.data, "The access details could not be sent");
    });
    return h("li", { class: "item", dataset: { itemId: item.id, itemState: item.state, attempts: String(progress?.attempts ?? 0) } },
      h("h3", {}, `${n + 1}. ${item.summary}`),
      h("p", {}, stateBadge(item.state), " ", money(item.price.period_total), item.billing_cycle === "annual" ? " a year" : " a month"),
      item.refund
        ? h("p", { class: "refund", dataset: { refundState: item.refund.state } },
          h("span", { class: `state refund-${item.refund.state}` }, REFUND_WORDS[item.refund.state] || item.refund.state),
          " ", money(item.refund.amount))
        : null,
      progress && (progress.attempts > 0 || progress.next_attempt_at)
        ? h("p", { class: "progress" },
          `Attempts: ${progress.attempts}.`,
          progress.next_attempt_at ? ` Next try ${inSeconds(progress.next_attempt_at)} (${when(progress.next_attempt_at)}).` : "",
          progress.last_error && !live ? " The provider had a problem; we retry automatically." : "")
        : null,
      // The provider's own words are for operators; customers get the plain sentence above.
      progress?.last_error && isOperator()
        ? h("details", {}, h("summary", {}, "Provider's last error"), h("pre", { class: "raw" }, progress.last_error))
        : null,
      live ? h("p", { class: "hint" }, "Access details are sent by e-mail, never shown here.") : null,
      redeliver, redeliverScope);
  })));
  if (focusedId) document.getElementById(focusedId)?.focus();
}

async function loadAudit(box, id) {
  const r = await api("GET", `/v1/orders/${id}/audit`);
  box.replaceChildren(h("h2", { id: "audit-heading" }, "History"));
  if (!r.ok) { box.append(h("p", {}, "The history could not be loaded.")); return; }
  const records = Array.isArray(r.data) ? r.data : r.data.items || r.data.records || [];
  box.append(h("ol", { class: "audit", id: "audit" }, records.map((a) => h("li", {},
    h("time", { datetime: a.at }, when(a.at)), " — ",
    a.from ? (a.from === a.to ? STATE_WORDS[a.to] || a.to : `${STATE_WORDS[a.from] || a.from} → ${STATE_WORDS[a.to] || a.to}`) : `created as ${STATE_WORDS[a.to] || a.to}`,
    `, by ${a.actor === "system" ? "the platform" : a.actor}`, a.reason ? `: ${a.reason}` : ` (${a.command})`))));
}

// --- Subscriptions ----------------------------------------------------------

async function subscriptionsPage(root) {
  root.append(h("h1", {}, "Subscriptions"));
  const r = await api("GET", "/v1/subscriptions");
  if (r.status === 404 || r.status === 405) {
    root.append(h("p", { class: "notice", id: "subscriptions-unavailable" }, "Subscriptions are not available here yet. Your running services are listed on each order."));
    return;
  }
  if (!r.ok) return showProblem(root, r.data, "Subscriptions could not be loaded");
  const items = r.data.items || [];
  if (!items.length) { root.append(h("p", { class: "empty" }, "No subscriptions yet: they start when an order's items are running.")); return; }
  const scope = h("div", {});
  root.append(scope, h("div", { class: "table-wrap" }, h("table", { id: "subscriptions" },
    h("thead", {}, h("tr", {}, ["Service", "Billing", "Price", "Status", "Next renewal", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((s) => {
      const cancel = s.status !== "cancelled" && !s.cancel_at_period_end
        ? h("button", { type: "button", class: "secondary" }, "Cancel at period end") : null;
      cancel?.addEventListener("click", async () => {
        cancel.disabled = true;
        const c = await api("POST", `/v1/subscriptions/${s.id}/cancel`, { body: {} });
        if (c.ok) { announce("The subscription ends at the end of this period."); render(); } else { cancel.disabled = false; showProblem(scope, c.data); }
      });
      return h("tr", { dataset: { subscriptionId: s.id } },
        h("td", {}, PRODUCT_WORDS[s.product_type] || s.product_type, " · ", h("a", { href: `/portal/orders/${s.order_id}` }, "order")),
        h("td", {}, s.billing_cycle === "annual" ? "Annual" : "Monthly"),
        h("td", {}, money(s.price)),
        h("td", {}, s.status.replace("_", " "), s.cancel_at_period_end ? " (ends at period end)" : ""),
        h("td", {}, s.next_renewal_at ? when(s.next_renewal_at) : "—"),
        h("td", {}, cancel));
    })))));
}

// --- Operator console -------------------------------------------------------

async function operatorPage(root, token) {
  root.append(h("h1", {}, "Operator console"));
  if (!isOperator()) {
    root.append(h("p", { class: "notice" }, "Sign in with an operator's access token to use the console."));
    return;
  }
  const sections = [
    { id: "needs-operator", title: "Orders needing an operator", hint: "A step or compensation kept failing; these orders are parked until someone looks. Fix the cause, then retry the parked job.", query: "needs_operator=true",
      action: (o, done) => parkedJobs(o, done) },
    { id: "paid", title: "Paid, not yet being set up", hint: "A payment may be reverted until provisioning starts.", query: "status=payment_confirmed",
      action: (o, done) => operatorAction(o, "payment/revert", "Revert payment", done) },
    { id: "provisioning", title: "Being set up", hint: "Cancelling deprovisions what was created and refunds the payment.", query: "status=provisioning",
      action: (o, done) => operatorAction(o, "cancel", "Cancel", done) },
    { id: "partly", title: "Partly ready", query: "status=partially_fulfilled",
      action: (o, done) => operatorAction(o, "cancel", "Cancel", done) },
    { id: "cancelled", title: "Cancelled orders", hint: "Hidden from customers; restoring brings them back into view.", query: "status=cancelled&include_deleted=true",
      action: (o, done) => (o.deleted_at ? operatorAction(o, "restore", "Restore", done) : null) },
  ];
  for (const s of sections) {
    const section = h("section", { id: s.id, "aria-labelledby": `${s.id}-heading` }, h("h2", { id: `${s.id}-heading` }, s.title), s.hint ? h("p", { class: "hint" }, s.hint) : null);
    root.append(section);
    const load = async () => {
      if (token !== viewToken) return;
      const r = await api("GET", `/v1/orders?limit=50&${s.query}`);
      [...section.children].slice(s.hint ? 2 : 1).forEach((el) => el.remove());
      if (!r.ok) return showProblem(section, r.data);
      section.append(ordersTable(r.data.items, s.action ? (o) => s.action(o, load) : undefined));
    };
    await load();
  }
  root.append(h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "refresh-console", on: { click: () => render() } }, "Refresh")));
}

// The order's parked saga jobs, each with why it stopped and a retry.
function parkedJobs(order, done) {
  const box = h("div", { class: "parked-jobs" });
  (async () => {
    const r = await api("GET", `/v1/orders/${order.id}/jobs`);
    if (!r.ok) return showProblem(box, r.data);
    const parked = r.data.items.filter((j) => j.state === "parked");
    if (!parked.length) box.append(h("p", { class: "hint" }, "No parked job (see the audit trail)."));
    for (const job of parked) {
      const reasonId = nextId("reason");
      const form = h("form", { class: "operator-action", dataset: { job: job.id } },
        h("p", { class: "parked-why" }, h("strong", {}, job.kind.replaceAll("_", " ")), `: ${job.last_error || "no error recorded"} (${job.attempts} attempts)`),
        h("label", { for: reasonId, class: "visually-hidden" }, `Reason to retry the ${job.kind} job of order ${order.id.slice(0, 8)}`),
        h("input", { id: reasonId, name: "reason", placeholder: "Reason", dataset: { pointer: "/reason" } }),
        h("button", { type: "submit" }, "Retry"));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const reason = form.reason.value.trim();
        const path = `/v1/orders/${order.id}/jobs/${job.id}/retry`;
        const res = await api("POST", path, { body: reason ? { reason } : {}, version: order.version });
        if (res.ok) { announce(`Retry: done for order ${order.id.slice(0, 8)}.`); await done(); } else showProblem(form, res.data, "Retry did not work");
      });
      box.append(form);
    }
  })();
  return box;
}

function operatorAction(order, path, label, done) {
  const reasonId = nextId("reason");
  const form = h("form", { class: "operator-action", dataset: { action: path } },
    h("label", { for: reasonId, class: "visually-hidden" }, `Reason to ${label.toLowerCase()} order ${order.id.slice(0, 8)}`),
    h("input", { id: reasonId, name: "reason", placeholder: "Reason", dataset: { pointer: "/reason" } }),
    h("button", { type: "submit", class: path === "restore" ? undefined : "danger" }, label));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.reason.value.trim();
    const r = await api("POST", `/v1/orders/${order.id}/${path}`, { body: reason ? { reason } : {}, version: order.version });
    if (r.ok) { announce(`${label}: done for order ${order.id.slice(0, 8)}.`); await done(); } else showProblem(form, r.data, `${label} did not work`);
  });
  return form;
}

render();
