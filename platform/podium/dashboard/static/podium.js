// Podium dashboard core: every action is a call to the JSON API with the session cookie.
//
//   <form data-api="POST /api/tokens" data-then="token-created">   fields become a JSON body
//   <button data-api="DELETE /api/tokens/3" data-then="reload">    optional data-body='{...}'
//
// data-then: "reload", "go:/path", "notice:Text", or the name of a handler registered with
// Podium.handle(name, fn(result, element)). User text only ever reaches the page through
// textContent or input values, never innerHTML.
"use strict";

const Podium = (() => {
  const handlers = {};

  class ApiError extends Error {
    constructor(status, body) {
      const message = (body && body.message) || (typeof body === "string" && body) ||
        `Request failed (${status})`;
      super(message);
      this.status = status;
      this.hint = body && body.hint;
    }
  }

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function coerce(el, raw) {
    switch (el.dataset.type) {
      case "int": return raw === "" ? undefined : parseInt(raw, 10);
      case "float": return raw === "" ? undefined : parseFloat(raw);
      case "bool": return raw === "true";
      default: return raw === "" ? undefined : raw;
    }
  }

  // Named, enabled fields; empty ones are left out so the API keeps its defaults.
  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.dataset.skip !== undefined) continue;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) {
        if (el.type === "checkbox") body[el.name] = false;
        continue;
      }
      const value = el.type === "checkbox" ? true : coerce(el, el.value);
      if (value !== undefined) body[el.name] = value;
    }
    return body;
  }

  function statusFor(el) {
    const scope = el.closest("form, section, .panel") || document;
    return scope.querySelector(".form-status");
  }

  function say(el, text, tone) {
    const target = el && (el.classList.contains("form-status") ? el : statusFor(el));
    if (!target) return;
    target.textContent = text;
    target.dataset.tone = tone || "";
  }

  function sayError(el, err) {
    say(el, err.hint ? `${err.message} — ${err.hint}` : err.message, "error");
  }

  async function run(el, method, path, body) {
    const then = el.dataset.then || "";
    const busy = el.tagName === "FORM" ? el.querySelector("[type=submit]") : el;
    if (busy) busy.disabled = true;
    say(el, "Working…", "busy");
    try {
      const result = await api(method, path, body);
      say(el, "", "");
      if (then === "reload") window.location.reload();
      else if (then.startsWith("go:")) window.location.assign(then.slice(3));
      else if (then.startsWith("notice:")) say(el, then.slice(7), "ok");
      else if (handlers[then]) handlers[then](result, el);
    } catch (err) {
      sayError(el, err);
    } finally {
      if (busy && document.body.contains(busy)) busy.disabled = false;
    }
  }

  function target(spec) {
    const [method, ...rest] = spec.trim().split(/\s+/);
    return [method.toUpperCase(), rest.join(" ")];
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    const [method, path] = target(form.dataset.api);
    run(form, method, path, formBody(form));
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-api]");
    if (button && !button.form) {
      event.preventDefault();
      const [method, path] = target(button.dataset.api);
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      run(button, method, path, body);
      return;
    }
    const copy = event.target.closest("[data-copy]");
    if (copy) copyFrom(copy);
  });

  // A destructive form stays disabled until the exact name is typed.
  document.addEventListener("input", (event) => {
    const form = event.target.closest("form[data-confirm-name]");
    if (!form) return;
    const submit = form.querySelector("[type=submit]");
    submit.disabled = event.target.value.trim() !== form.dataset.confirmName;
  });

  async function copyFrom(button) {
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // Plain-http origins other than localhost have no async clipboard.
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (source.select) source.select();
      document.execCommand("copy");
    }
    const label = button.textContent;
    button.textContent = "Copied!";
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  // Close the account menu when clicking elsewhere.
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  });

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "type") {
        node.setAttribute(key, value);
      } else node[key] = value;
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  return {
    api, el, say,
    handle(name, fn) { handlers[name] = fn; },
  };
})();
