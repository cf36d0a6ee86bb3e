// The Space page: a live status badge (polling the runtime), the app frame appearing when the
// Space serves, build and container logs over Server-Sent Events, and the settings handlers.
"use strict";

(() => {
  const head = document.querySelector(".space-head");
  if (!head) return;
  const apiBase = head.dataset.apiBase;
  const labels = JSON.parse(head.dataset.labels || "{}");
  const SERVING = new Set(["RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING"]);
  const ERRORS = new Set(["BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR", "NO_APP_FILE"]);
  const POLL_MS = 2500;

  // ---- status -------------------------------------------------------------------------
  function setBadge(badge, stage) {
    const [label, tone] = labels[stage] || [stage, "idle"];
    badge.className = `badge tone-${tone}`;
    badge.dataset.stage = stage;
    badge.querySelector(".badge-label").textContent = label;
  }

  const frame = document.getElementById("app-frame");
  const waiting = document.getElementById("app-waiting");
  const errorBox = document.getElementById("space-error");
  let lastSha = null;
  const initialStage = document.querySelector("#space-status .badge")?.dataset.stage;

  function showApp(runtime) {
    if (!frame) return;
    const serving = SERVING.has(runtime.stage);
    if (serving && (frame.hidden || !frame.getAttribute("src"))) {
      frame.src = frame.dataset.src;
      frame.hidden = false;
      if (waiting) waiting.hidden = true;
    } else if (serving && lastSha && runtime.sha && runtime.sha !== lastSha) {
      frame.src = frame.dataset.src; // a new version was swapped in
    }
    if (!serving && waiting) {
      const text = waiting.querySelector("[data-waiting-text]");
      const [label] = labels[runtime.stage] || [runtime.stage];
      const [, tone] = labels[runtime.stage] || [];
      if (text && !frame.getAttribute("src") && runtime.stage !== initialStage) text.textContent = tone === "busy" ? `${label}…` : label;
    }
    if (runtime.sha) lastSha = runtime.sha;
  }

  function showError(runtime) {
    if (!errorBox) return;
    const failed = ERRORS.has(runtime.stage);
    errorBox.hidden = !failed;
    if (failed) {
      errorBox.querySelector(".alert-title").textContent = (labels[runtime.stage] || [runtime.stage])[0];
      const reason = runtime.errorMessage || (runtime.build && runtime.build.failure_reason) || "";
      errorBox.querySelector(".alert-detail").textContent = reason;
    }
  }

  async function poll() {
    try {
      const runtime = await Podium.api("GET", `${apiBase}/runtime`);
      const badge = document.querySelector("#space-status .badge");
      if (badge && runtime.stage) setBadge(badge, runtime.stage);
      showApp(runtime);
      showError(runtime);
      document.dispatchEvent(new CustomEvent("podium:runtime", { detail: runtime }));
    } catch (err) {
      if (err.status === 404) return; // deleted, or no runtime route: stop polling
    }
    setTimeout(poll, POLL_MS);
  }
  setTimeout(poll, 300);

  // ---- logs ---------------------------------------------------------------------------
  const MAX_LINES = 5000;

  function streamLog(panel) {
    const body = panel.querySelector("[data-log-body]");
    const state = panel.querySelector("[data-log-state]");
    const failure = panel.querySelector("[data-log-failure]");
    const kind = panel.dataset.log;
    let source = null;
    let finished = false;
    let buildId = null;

    function setState(text) { state.textContent = text; }

    // Phases seen before the current one are done, whatever order the builder uses.
    const seenPhases = new Set();
    function markPhase(phase) {
      seenPhases.add(phase);
      for (const item of panel.querySelectorAll("[data-phase]")) {
        const current = item.dataset.phase === phase;
        item.className = current ? "active" : seenPhases.has(item.dataset.phase) ? "done" : "";
        if (current) item.setAttribute("aria-current", "step");
        else item.removeAttribute("aria-current");
      }
    }

    function append(text, cls) {
      const nearBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 40;
      const line = document.createElement("div");
      line.className = cls ? `line ${cls}` : "line";
      line.textContent = text;
      body.append(line);
      while (body.childElementCount > MAX_LINES) body.firstElementChild.remove();
      if (nearBottom) body.scrollTop = body.scrollHeight;
    }

    function open(url) {
      if (source) source.close();
      body.textContent = "";
      seenPhases.clear();
      failure.hidden = true;
      finished = false;
      setState("connecting…");
      panel.dataset.status = "connecting";
      source = new EventSource(url);
      source.onopen = () => { setState("live"); panel.dataset.status = "live"; };
      source.onmessage = (event) => {
        let entry;
        try { entry = JSON.parse(event.data); } catch (_) { entry = { data: event.data }; }
        if (entry.phase) markPhase(entry.phase);
        append(entry.data ?? "");
      };
      const end = (ok) => (event) => {
        let info = {};
        try { info = JSON.parse(event.data); } catch (_) { /* keep defaults */ }
        finished = true;
        source.close();
        // One terminal event per push: "ready" once the app answers, else "failed" (the
        // build's status SUCCEEDED there means built but not started).
        const started = info.status === "SUCCEEDED";
        panel.dataset.status = ok ? "ready" : "failed";
        if (ok) {
          for (const item of panel.querySelectorAll("[data-phase]")) item.className = "done";
          setState("ready");
        } else {
          setState(started ? "start failed" : `build ${String(info.status || "failed").toLowerCase()}`);
          failure.hidden = false;
          panel.querySelector("[data-log-failure-title]").textContent = started ? "Start failed" : "Build failed";
          panel.querySelector("[data-log-reason]").textContent = info.reason || "see the log above";
        }
      };
      source.addEventListener("ready", end(true));
      source.addEventListener("failed", end(false));
      source.onerror = () => {
        if (source.readyState === EventSource.CLOSED && !finished) {
          panel.dataset.status = "unavailable";
          setState(kind === "build" ? "no build log yet" : "no running container");
        } else if (!finished) {
          setState("reconnecting…");
        }
      };
    }

    open(panel.dataset.url);

    // A new build (a push, a restart with rebuild) gets its own log.
    document.addEventListener("podium:runtime", (event) => {
      const runtime = event.detail;
      const id = runtime.build && runtime.build.id;
      if (kind === "build" && id) {
        if (buildId && id !== buildId) open(`${panel.dataset.url}?build=${encodeURIComponent(id)}`);
        buildId = id;
      } else if (kind === "run" && !finished && panel.dataset.status === "unavailable" &&
                 SERVING.has(runtime.stage)) {
        open(panel.dataset.url);
      }
    });
  }

  document.querySelectorAll("[data-log]").forEach(streamLog);

  // ---- settings handlers --------------------------------------------------------------
  Podium.handle("share-created", (link) => {
    const box = document.getElementById("new-share");
    box.hidden = false;
    document.getElementById("new-share-url").value = link.url;
    const tbody = document.querySelector("#share-table tbody");
    tbody.querySelector(".empty-row")?.remove();
    const expires = link.expires_at ? new Date(link.expires_at).toLocaleString() : "never";
    const views = link.max_views ? `${link.views} / ${link.max_views}` : String(link.views);
    const revoke = Podium.el("button", {
      type: "button", class: "btn btn-sm btn-danger", "data-then": "share-revoked",
      "data-api": `DELETE ${apiBase}/share-links/${link.id}`,
      "aria-label": `Revoke share link ${link.prefix}`,
    }, "Revoke");
    const row = Podium.el("tr", { "data-share-id": String(link.id) },
      Podium.el("td", {}, Podium.el("code", {}, `${link.prefix}…`)),
      Podium.el("td", {}, expires),
      Podium.el("td", { class: "num", "data-views": "" }, views),
      Podium.el("td", { "data-state": "" }, Podium.el("span", { class: "tag tag-ok" }, "active")),
      Podium.el("td", {}, revoke));
    tbody.prepend(row);
  });

  Podium.handle("share-revoked", (_result, button) => {
    const row = button.closest("tr");
    const state = row.querySelector("[data-state]");
    state.textContent = "";
    state.append(Podium.el("span", { class: "tag tag-muted" }, "revoked"));
    button.remove();
  });

  Podium.handle("go-result-page", (space) => {
    window.location.assign(space.page || `/${space.id}`);
  });
})();
