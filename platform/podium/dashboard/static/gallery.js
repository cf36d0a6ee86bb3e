// Gallery and profile pages: keep the status badges of the cards on screen live with one
// listing request every few seconds (the same page the server rendered).
"use strict";

(() => {
  const grid = document.querySelector("[data-live-gallery]");
  if (!grid) return;
  const labels = JSON.parse(grid.dataset.labels || "{}");
  const POLL_MS = 8000;
  const params = new URLSearchParams(window.location.search);
  const query = new URLSearchParams({ offset: grid.dataset.offset, limit: grid.dataset.limit });
  for (const key of ["search", "sdk", "stage"]) {
    if (params.get(key)) query.set(key, params.get(key));
  }
  if (grid.dataset.owner) query.set("owner", grid.dataset.owner);

  async function refresh() {
    if (document.hidden) return;
    let listing;
    try {
      listing = await Podium.api("GET", `/api/spaces?${query}`);
    } catch (_) {
      return;
    }
    for (const space of Array.isArray(listing) ? listing : []) {
      const card = grid.querySelector(`[data-space-id="${CSS.escape(space.id)}"]`);
      const badge = card && card.querySelector(".badge");
      if (!badge || badge.dataset.stage === space.stage) continue;
      const [label, tone] = labels[space.stage] || [space.stage, "idle"];
      badge.className = `badge tone-${tone}`;
      badge.dataset.stage = space.stage;
      badge.querySelector(".badge-label").textContent = label;
    }
  }

  setInterval(refresh, POLL_MS);
})();
