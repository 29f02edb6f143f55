// The attendance grid (admin/training/batch/attendance.html), from a file of its own: the
// Content-Security-Policy allows no inline script. A change in a day's column ticks that
// day's 登记 box; 全部出勤 ticks the whole column in the page (no request) and its 登记 box.
// On a day's box the arrow keys move to the next person or day (Space ticks, as ever), and
// Enter does nothing: it would otherwise press the form's first button (the first day's
// 全部出勤) or save the grid half done.
(function () {
  "use strict";
  var form = document.getElementById("attendance-form");
  if (!form) { return; }
  function tick(day) {
    var box = form.querySelector('input.record-day[data-day="' + day + '"]');
    if (box) { box.checked = true; }
  }
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type === "checkbox" && !input.classList.contains("record-day") && input.dataset.day) { tick(input.dataset.day); }
  });
  var grid = document.getElementById("attendance-grid");
  var steps = { ArrowDown: [1, 0], ArrowUp: [-1, 0], ArrowRight: [0, 1], ArrowLeft: [0, -1] };
  function boxAt(row, column) {
    var cell = row && row.cells[column];
    return cell ? cell.querySelector("input[type=checkbox]:not([disabled])") : null;
  }
  grid.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "checkbox" || !input.closest("tbody")) { return; }
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    if (event.key === "Enter") { event.preventDefault(); return; }
    var step = steps[event.key];
    if (!step) { return; }
    var cell = input.closest("td");
    var row = cell.parentElement;
    var column = cell.cellIndex + step[1];
    // down/up: the next row with a box in this column (people no longer enrolled have none
    // to tick); left/right: the next day's box in this row
    for (var next = step[0] > 0 ? row.nextElementSibling : step[0] < 0 ? row.previousElementSibling : row;
         next; next = step[0] > 0 ? next.nextElementSibling : step[0] < 0 ? next.previousElementSibling : null) {
      var target = boxAt(next, column);
      if (target) { event.preventDefault(); target.focus(); return; }
    }
  });
  form.querySelectorAll("button.all-present").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var day = button.dataset.day;
      form.querySelectorAll('tbody input[type=checkbox][data-day="' + day + '"]').forEach(function (box) {
        if (!box.disabled) { box.checked = true; }
      });
      tick(day);
    });
  });
})();
