// New Space: the source picker (template, blank, import) drives the SDK and the URL field;
// after creation, show the git remote and push commands for the new repository.
"use strict";

(() => {
  const form = document.getElementById("new-space");
  if (!form) return;
  const importField = document.getElementById("import-field");
  const importInput = document.getElementById("from_url");

  function syncSource() {
    const picked = form.querySelector("input[name=template]:checked");
    const importing = picked && picked.dataset.source === "import";
    importField.hidden = !importing;
    importInput.disabled = !importing;
    importInput.required = importing;
    if (picked && picked.dataset.sdk) {
      const sdk = form.querySelector(`input[name=sdk][value="${CSS.escape(picked.dataset.sdk)}"]`);
      if (sdk) sdk.checked = true;
    }
  }
  form.addEventListener("change", (event) => {
    if (event.target.name === "template") syncSource();
  });
  syncSource();

  Podium.handle("space-created", (space) => {
    const created = document.getElementById("created");
    const id = space.id || `${space.owner}/${space.name}`;
    const gitUrl = space.git_url || `${window.location.origin}/spaces/${id}.git`;
    document.getElementById("push-commands").textContent =
      `git remote add space ${gitUrl}\ngit push space main`;
    const link = document.getElementById("created-link");
    link.href = space.page || `/${id}`;
    link.textContent = `Open ${id} →`;
    const tokenButton = document.getElementById("make-token");
    tokenButton.dataset.body = JSON.stringify({ name: `git push ${id}`.slice(0, 100), scope: "write" });
    form.hidden = true;
    created.hidden = false;
    created.focus();
  });

  Podium.handle("git-token-created", (token, button) => {
    document.getElementById("git-token").hidden = false;
    document.getElementById("git-token-value").value = token.token;
    button.hidden = true;
  });
})();
