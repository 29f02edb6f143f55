// Loaded (not deferred) right after the admin's sidebar (core/templates/admin/nav_sidebar.html):
// opens or closes it before the first paint, from the same stored choice Django's deferred
// nav_sidebar.js reads, so the content does not move when that script runs.
(function () {
  var main = document.getElementById("main");
  var nav = document.getElementById("nav-sidebar");
  if (!main || !nav) { return; }
  var open = "true";
  try { open = localStorage.getItem("django.admin.navSidebarIsOpen") || "true"; } catch (e) { /* storage off */ }
  main.classList.toggle("shifted", open === "true");
  nav.setAttribute("aria-expanded", open);
})();
