// Names what the admin draws without a name (WCAG 1.3.1, 4.1.2; axe's label, select-name and
// aria-input-field-name; tests/e2e/test_accessibility.py). Deferred: runs once the page is
// parsed, after the admin's own scripts are loaded.
(function () {
  // A list with editable columns (list_editable): each input is named by its column heading
  // and its row's object, e.g. "Levels (石家庄市)".
  var table = document.getElementById("result_list");
  if (table && table.tHead && table.tBodies.length) {
    var headings = Array.prototype.map.call(table.tHead.rows[0].cells, function (cell) {
      return cell.textContent.trim();
    });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var object = row.querySelector("th");
      var rowName = object ? object.textContent.trim() : "";
      Array.prototype.forEach.call(row.cells, function (cell, i) {
        cell.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (field) {
          if (field.labels.length || field.hasAttribute("aria-label") || field.hasAttribute("aria-labelledby")) { return; }
          if (headings[i]) { field.setAttribute("aria-label", headings[i] + (rowName ? " (" + rowName + ")" : "")); }
        });
      });
    });
  }

  // Django's autocomplete fields (select2): the combobox and the box showing the choice take
  // the field's label, which select2 leaves out. Done each time autocomplete.js sets select2 up
  // (on the page and in every inline row added), right after it: this file runs after
  // autocomplete.js is loaded and before its jQuery ready handler.
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
