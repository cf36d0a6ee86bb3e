// Access tokens: a new token is shown once (with a copy button) and joins the list.
"use strict";

(() => {
  Podium.handle("token-created", (token, form) => {
    document.getElementById("new-token").hidden = false;
    document.getElementById("new-token-value").value = token.token;
    form.reset();
    const tbody = document.querySelector("#token-table tbody");
    tbody.querySelector(".empty-row")?.remove();
    const revoke = Podium.el("button", {
      type: "button", class: "btn btn-sm btn-danger", "data-then": "remove-row",
      "data-api": `DELETE /api/tokens/${token.id}`, "aria-label": `Revoke token ${token.name}`,
    }, "Revoke");
    tbody.prepend(Podium.el("tr", { "data-token-id": String(token.id) },
      Podium.el("td", {}, token.name),
      Podium.el("td", {}, Podium.el("code", {}, `${token.token.slice(0, 8)}…`)),
      Podium.el("td", {}, Podium.el("span", { class: "tag" }, token.scope)),
      Podium.el("td", {}, "just now"),
      Podium.el("td", { class: "muted" }, "never"),
      Podium.el("td", {}, revoke)));
  });

  Podium.handle("remove-row", (_result, button) => {
    button.closest("tr").remove();
  });
})();
