// Names what Django's autocomplete fields (select2) draw: the combobox and the box showing
// the choice take the field's label, which select2 leaves out (WCAG 4.1.2; axe's
// aria-input-field-name). Runs once select2 is set up (jQuery's ready, before "load") and
// for every inline row added.
(function () {
  function name(root) {
    root.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var drawn = select.nextElementSibling;
      var label = select.id && document.querySelector('label[for="' + select.id + '"]');
      if (!label || !drawn || !drawn.classList.contains("select2")) { return; }
      if (!label.id) { label.id = select.id + "-label"; }
      var box = drawn.querySelector(".select2-selection");
      var shown = drawn.querySelector(".select2-selection__rendered");
      if (shown) { shown.setAttribute("aria-labelledby", label.id); }
      if (box) { box.setAttribute("aria-labelledby", label.id + (shown && shown.id ? " " + shown.id : "")); }
    });
  }
  window.addEventListener("load", function () { name(document); });
  document.addEventListener("formset:added", function (event) {
    setTimeout(function () { name(event.target); }, 0);
  });
})();
