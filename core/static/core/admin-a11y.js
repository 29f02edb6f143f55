// Names what Django's autocomplete fields (select2) draw: the combobox and the box showing
// the choice take the field's label, which select2 leaves out (WCAG 4.1.2; axe's
// aria-input-field-name). Done each time Django's autocomplete.js sets select2 up (on the
// page and in every inline row added), right after it: this file is deferred, so it runs
// after autocomplete.js is loaded and before its jQuery ready handler.
(function () {
  var $ = window.django && window.django.jQuery;
  if (!$ || !$.fn.djangoAdminSelect2) { return; }
  function name() {
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
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
  var setUp = $.fn.djangoAdminSelect2;
  $.fn.djangoAdminSelect2 = function () {
    var result = setUp.apply(this, arguments);
    name();
    return result;
  };
})();
