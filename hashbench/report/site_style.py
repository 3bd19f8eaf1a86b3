"""The leaderboard page's fixed parts: its style sheet, its sorting script and its "how to cite"
section (kept here so that ``html`` holds only what is built from the boards)."""

from hashbench import __version__

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1260px; margin: 0 auto; padding: 1rem 1rem 3rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; }
h3 { font-size: 1rem; margin-top: 1.5rem; }
nav h2 { font-size: 1rem; margin: 0.8rem 0 0.2rem; }
nav ul { padding-left: 1.2rem; margin: 0; } nav li { margin: 0.15rem 0; }
p.legend { color: #555; font-size: 0.9rem; max-width: 60rem; }
div.scroll { overflow-x: auto; }
table.board { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.8rem; }
table.board th, table.board td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.25rem;
  text-align: right; white-space: nowrap; }
table.board th { white-space: normal; vertical-align: bottom; }
table.board.dense { font-size: 0.72rem; }
table.board td.text, table.board th.text { text-align: left; }
table.board th { background: #eef1f5; cursor: pointer; user-select: none; }
table.board td.key, table.board th.key { font-weight: 600; background: #f3f7fd; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
tr.third-party td { background: #fff8e0; }
tr.yours td { background: #e9f7ec; }
tr.flagged td:first-child { box-shadow: inset 4px 0 #d9822b; }
tr.collapsed td { color: #999; font-style: italic; }
table.board td.flags { white-space: normal; min-width: 8rem; max-width: 14rem;
  font-size: 0.75rem; color: #8a4b0f; }
.track { position: relative; width: 4rem; height: 0.7rem; background: #e6e6e6;
  border-radius: 2px; display: inline-block; vertical-align: middle; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; background: #3b7dd8; border-radius: 2px; }
.floor { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #c0392b; }
details { background: #fff; border: 1px solid #ddd; border-radius: 4px; margin: 0.4rem 0;
  padding: 0.4rem 0.8rem; }
details summary { cursor: pointer; font-weight: 600; }
details.inner { border: none; padding: 0; } details.inner summary { font-weight: 400; }
details table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
details td, details th { padding: 0.15rem 0.8rem 0.15rem 0; border-bottom: 1px solid #f0f0f0;
  text-align: left; vertical-align: top; }
table.card td { overflow-wrap: anywhere; }
code { font-size: 0.8rem; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.plots img { width: 360px; max-width: 100%; border: 1px solid #eee; }
ul.records { font-size: 0.8rem; columns: 2; }
pre { background: #fff; border: 1px solid #ddd; padding: 0.6rem; overflow-x: auto;
  font-size: 0.8rem; }
@media (max-width: 700px) {
  main { padding: 0.5rem; } .opt { display: none; }
  ul.records { columns: 1; }
}
"""

# Click a header to sort by it (numbers numerically, empty cells last); click again to reverse.
# The page works from file:// with scripts allowed and nothing fetched.
SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = Number(x), ny = Number(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
// A link ending in #sort=<column> (twice: #sort=<column>,<column>) opens the page sorted by it.
var wanted = /sort=([^&]+)/.exec(decodeURIComponent(location.hash));
if (wanted) {
  wanted[1].split(",").forEach(function (name) {
    document.querySelectorAll("table.board th").forEach(function (th) {
      if (th.textContent === name) { th.click(); }
    });
  });
}
"""

# The page's "how to cite" section (CITATION.cff at the repository root holds the same).
CITE = f"""<section id="cite">
<h2>How to cite</h2>
<p>Cite hashbench with the suite version whose board you quote (for example
<em>standard v2</em>), and the papers of the methods you compare: each model card links its
defense's and attacks' papers.</p>
<pre>@software{{hashbench,
  title   = {{hashbench: a benchmark of adversarial robustness for deep-hashing retrieval}},
  author  = {{{{The hashbench developers}}}},
  year    = {{2026}},
  version = {{{__version__}}},
  license = {{MIT}}
}}</pre>
</section>
"""
