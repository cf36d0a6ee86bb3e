// The like button on a Space's page: POST or DELETE /api/spaces/{owner}/{name}/like with the
// session cookie, then show what the API answered (pressed state and count).
"use strict";

(() => {
  const button = document.querySelector("[data-like]");
  if (!button) return;
  const count = button.querySelector("[data-like-count]");
  button.addEventListener("click", async () => {
    const liked = button.getAttribute("aria-pressed") === "true";
    button.disabled = true;
    try {
      const result = await Podium.api(liked ? "DELETE" : "POST", button.dataset.like);
      button.setAttribute("aria-pressed", String(result.liked));
      count.textContent = String(result.likes);
    } catch (err) {
      button.title = err.message;
      Podium.say(button, err.message, "error");
    } finally {
      button.disabled = false;
    }
  });
})();
