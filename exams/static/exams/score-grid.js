// The score grid (admin/exams/sitting/grid.html), from a file of its own: the
// Content-Security-Policy allows no inline script.
// - After a refused save the error summary takes the focus (a screen reader reads it), and
//   its links put the focus in the input they name.
// - In an input of the grid (a score, an ID number, the 缺考 box), Enter or ArrowDown moves
//   to the same column of the next row, ArrowUp to the row above; Enter never submits the
//   grid half typed (from the last row it moves to the save button). Tab keeps the page's
//   order: row by row.
(function () {
  "use strict";
  var summary = document.getElementById("grid-errors");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-focus]");
      var input = link && document.getElementById(link.dataset.focus);
      if (input) {
        event.preventDefault();
        input.focus();
        input.scrollIntoView({ block: "center" });
      }
    });
  }

  var grid = document.getElementById("score-grid");
  if (!grid) { return; }

  function inputAt(row, column, type) {
    var cell = row && row.cells[column];
    return cell ? cell.querySelector("input[type=" + type + "]:not([disabled])") : null;
  }

  function move(input, step) {
    var cell = input.closest("td");
    var row = cell.parentElement;
    var column = cell.cellIndex;
    var next = step > 0 ? row.nextElementSibling : row.previousElementSibling;
    while (next) {
      var target = inputAt(next, column, input.type);
      if (target) {
        target.focus();
        if (target.type === "text") { target.select(); }
        return true;
      }
      next = step > 0 ? next.nextElementSibling : next.previousElementSibling;
    }
    return false;
  }

  grid.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || (input.type !== "text" && input.type !== "checkbox")) { return; }
    if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) { return; }
    if (event.key === "Enter") {
      event.preventDefault();
      if (!move(input, 1)) {
        var save = document.querySelector("#score-grid-form .submit-row [type=submit]");
        if (save) { save.focus(); }
      }
    } else if (event.key === "ArrowDown" && !event.shiftKey) {
      if (move(input, 1)) { event.preventDefault(); }
    } else if (event.key === "ArrowUp" && !event.shiftKey) {
      if (move(input, -1)) { event.preventDefault(); }
    }
  });
})();
