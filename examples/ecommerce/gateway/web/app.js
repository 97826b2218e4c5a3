// The storefront: products, account, cart, checkout and orders, all through
// the gateway's /api/v1 routes.
"use strict";

const state = {
  products: new Map(), // id → product, as last listed
  cursor: "",
  cart: new Map(),     // id → quantity
  // checkoutKey is the Idempotency-Key of the cart as it is now: a retried
  // checkout of the same cart sends the same key, so it cannot order twice.
  checkoutKey: null,
  session: session.load(),
};

const $ = (id) => document.getElementById(id);

function say(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "info";
  s.hidden = !text;
}

function explain(err, what) {
  if (err.status === 429) {
    return `Too many attempts to ${what}; try again in ${err.retryAfter || 1} s.`;
  }
  if (err.status === 0) return "The shop cannot be reached; is it running?";
  return `Could not ${what}: ${err.message}`;
}

// ---- products ----

async function loadProducts(more) {
  const grid = $("products");
  try {
    const q = "/api/v1/products?limit=50" + (more && state.cursor ? "&cursor=" + encodeURIComponent(state.cursor) : "");
    const page = await api("GET", q);
    if (!more) {
      grid.replaceChildren();
      state.products.clear();
    }
    for (const p of page.products || []) {
      state.products.set(p.id, p);
      grid.append(productCard(p));
    }
    state.cursor = page.next_cursor || "";
    $("more").hidden = !state.cursor;
    grid.setAttribute("aria-busy", "false");
    if (state.products.size === 0) grid.append(el("p", { class: "muted" }, "The catalogue is empty."));
  } catch (err) {
    grid.setAttribute("aria-busy", "false");
    say(explain(err, "load the products"), "error");
  }
  renderCart();
}

function productCard(p) {
  const inCart = state.cart.get(p.id) || 0;
  const left = p.stock - inCart;
  return el("article", { class: "product", dataset: { id: p.id } },
    el("h3", { class: "name" }, p.name),
    el("p", { class: "description" }, p.description || ""),
    el("p", { class: "meta" },
      el("span", { class: "price" }, money(p.price_cents)),
      el("span", { class: "stock" + (p.stock > 0 ? "" : " out") }, p.stock > 0 ? `${p.stock} in stock` : "Out of stock")),
    el("button", { class: "add-to-cart", disabled: left <= 0, onclick: () => addToCart(p.id) }, "Add to cart"));
}

function refreshCard(id) {
  const old = document.querySelector(`.product[data-id="${CSS.escape(id)}"]`);
  const p = state.products.get(id);
  if (old && p) old.replaceWith(productCard(p));
}

// ---- cart ----

function addToCart(id) {
  const p = state.products.get(id);
  if (!p) return;
  const q = (state.cart.get(id) || 0) + 1;
  if (q > p.stock) return;
  state.cart.set(id, q);
  state.checkoutKey = null;
  $("confirmation").hidden = true;
  refreshCard(id);
  renderCart();
}

function removeFromCart(id) {
  state.cart.delete(id);
  state.checkoutKey = null;
  refreshCard(id);
  renderCart();
}

function renderCart() {
  const list = $("cart");
  list.replaceChildren();
  let total = 0, count = 0;
  for (const [id, q] of state.cart) {
    const p = state.products.get(id);
    if (!p) continue;
    total += p.price_cents * q;
    count += q;
    list.append(el("li", { class: "line", dataset: { id } },
      el("span", {}, `${q} × ${p.name}`),
      el("span", {}, money(p.price_cents * q)),
      el("button", { class: "link remove", onclick: () => removeFromCart(id), "aria-label": "Remove " + p.name }, "remove")));
  }
  if (count === 0) list.append(el("li", { class: "muted" }, "Your cart is empty."));
  $("cart-count").textContent = String(count);
  $("cart-total").textContent = money(total);
  const btn = $("place-order");
  btn.disabled = count === 0 || !state.session;
  btn.title = state.session ? "" : "Log in to order";
}

async function placeOrder() {
  if (!state.session) {
    say("Log in to place an order.", "error");
    return;
  }
  const items = [...state.cart].map(([product_id, quantity]) => ({ product_id, quantity }));
  if (items.length === 0) return;
  if (!state.checkoutKey) state.checkoutKey = newKey();
  const btn = $("place-order");
  btn.disabled = true;
  try {
    const order = await api("POST", "/api/v1/orders", {
      body: { items }, token: state.session.token, headers: { "Idempotency-Key": state.checkoutKey },
    });
    state.cart.clear();
    state.checkoutKey = null;
    const box = $("confirmation");
    box.replaceChildren(
      el("strong", {}, "Order confirmed. "),
      el("span", { id: "confirmation-id" }, order.id),
      el("span", {}, ` — ${order.items.length} item(s), total ${money(order.total_cents)}`));
    box.hidden = false;
    say("Thank you for your order!", "ok");
    await Promise.all([loadProducts(false), loadOrders()]);
  } catch (err) {
    if (err.status === 401) {
      logout();
      say("Your session has expired; log in again.", "error");
    } else if (err.code === "out_of_stock") {
      state.checkoutKey = null; // the cart must change before another try
      say("Some items are no longer in stock; nothing was ordered.", "error");
      await loadProducts(false);
    } else {
      // The same key is kept: trying again cannot order twice.
      say(explain(err, "place the order") + " Press the button to try again.", "error");
    }
  } finally {
    renderCart();
  }
}

// ---- account ----

function renderSession() {
  const s = state.session;
  $("who").textContent = s ? `Signed in as ${s.email}${s.role === "admin" ? " (admin)" : ""}` : "Not signed in";
  $("logout").hidden = !s;
  $("account").classList.toggle("signed-in", !!s);
  renderCart();
}

function logout() {
  session.clear();
  state.session = null;
  renderSession();
  $("orders").replaceChildren(el("li", { class: "muted" }, "Log in to see your orders."));
}

async function signup(ev) {
  ev.preventDefault();
  const body = {
    name: $("signup-name").value.trim(),
    email: $("signup-email").value.trim(),
    password: $("signup-password").value,
  };
  try {
    const user = await api("POST", "/api/v1/users", { body });
    $("signup-form").reset();
    $("login-email").value = user.email;
    $("login-password").focus();
    say(`Account created for ${user.email}. Log in below.`, "ok");
  } catch (err) {
    say(err.code === "email_taken" ? "That email already has an account; log in instead." : explain(err, "sign up"), "error");
  }
}

async function login(ev) {
  ev.preventDefault();
  try {
    const res = await api("POST", "/api/v1/login", {
      body: { email: $("login-email").value.trim(), password: $("login-password").value },
    });
    state.session = session.save(res.token, res.expires_at);
    $("login-form").reset();
    renderSession();
    say(`Welcome, ${state.session.email}.`, "ok");
    await loadOrders();
  } catch (err) {
    say(err.status === 401 ? "Wrong email or password." : explain(err, "log in"), "error");
  }
}

// ---- orders ----

async function loadOrders() {
  const list = $("orders");
  if (!state.session) return;
  try {
    const page = await api("GET", "/api/v1/orders?limit=20", { token: state.session.token });
    list.replaceChildren();
    for (const o of page.orders || []) list.append(orderLine(o));
    if (!list.firstChild) list.append(el("li", { class: "muted" }, "No orders yet."));
  } catch (err) {
    if (err.status === 401) logout();
    else say(explain(err, "load your orders"), "error");
  }
}

function orderLine(o) {
  const when = o.created_at ? new Date(o.created_at).toLocaleString() : "";
  return el("li", { class: "line order", dataset: { id: o.id, status: o.status } },
    el("span", {}, el("code", {}, o.id), " ", el("span", { class: "badge " + o.status }, o.status)),
    el("span", {}, money(o.total_cents)),
    el("span", { class: "muted small" }, when),
    o.status === "confirmed"
      ? el("button", { class: "link cancel", onclick: () => cancelOrder(o.id) }, "cancel")
      : null);
}

async function cancelOrder(id) {
  try {
    await api("POST", `/api/v1/orders/${encodeURIComponent(id)}/cancel`, { token: state.session.token });
    say(`Order ${id} cancelled; its stock is back on the shelf.`, "ok");
    await Promise.all([loadOrders(), loadProducts(false)]);
  } catch (err) {
    say(explain(err, "cancel the order"), "error");
  }
}

// ---- start ----

$("signup-form").addEventListener("submit", signup);
$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", () => { logout(); say("Logged out.", "info"); });
$("place-order").addEventListener("click", placeOrder);
$("more").addEventListener("click", () => loadProducts(true));
renderSession();
loadProducts(false);
loadOrders();
