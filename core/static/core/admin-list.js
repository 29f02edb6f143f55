// A list column whose values are all short breaks only between words (an English date or
// status), never inside one nor between Chinese characters; columns of long text (course
// titles, places) wrap anywhere instead of pushing the table sideways. Django marks dates and
// foreign keys "nowrap" whatever their length: here the text decides.
// Loaded at the end of the page (not deferred: base_site.html's footer), so the columns are
// sized before the first paint and the list does not move after it (layout shift 0.07 on the
// English batch list when this ran at DOMContentLoaded).
(function () {
  var table = document.getElementById("result_list");
  if (!table || !table.tHead || !table.tBodies.length) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (heading, i) {
    var cells = rows.map(function (row) { return row.cells[i]; }).filter(Boolean);
    var short = cells.every(function (cell) { return cell.textContent.trim().length <= 14; });
    cells.concat([heading]).forEach(function (cell) {
      cell.classList.remove("nowrap");
      cell.classList.toggle("short", short);
    });
  });
  table.classList.add("sized");
})();
