// Small enhancements only; every page works without script.
document.addEventListener("DOMContentLoaded", () => {
  // After a refused form, move focus to the summary so screen readers announce it.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  // One click per form: a second click while the first post is on its way does nothing.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent === "yes") { event.preventDefault(); return; }
      form.dataset.sent = "yes";
    });
  }
});
// Coming back with the browser's back button: the forms may be sent again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sent]")) delete form.dataset.sent;
});
