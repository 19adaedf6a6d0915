// Sortable tables: click a column header to sort by it, click again to reverse.
// A cell's data-sort value, when present, is the key; th[data-type="number"] compares numbers.
(function () {
  "use strict";
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (header, column) {
      var button = header.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        var numeric = header.getAttribute("data-type") === "number";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var keyed = Array.prototype.slice.call(body.rows).map(function (row, index) {
          var cell = row.cells[column];
          var text = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
          return { row: row, index: index, key: numeric ? parseFloat(text) : text };
        });
        keyed.sort(function (a, b) {
          var order = numeric ? a.key - b.key : a.key.localeCompare(b.key);
          return (ascending ? order : -order) || a.index - b.index;
        });
        keyed.forEach(function (item) { body.appendChild(item.row); });
      });
    });
  });
}());
