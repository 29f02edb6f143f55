// Printable pages: a button marked data-print opens the print dialog (no onclick attribute:
// the Content-Security-Policy, core.csp, runs no inline script).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
