// ffrflow batch dashboard: renders window.FFRFLOW_DASHBOARD (set by index-data.js) as a sortable,
// filterable, paged table; while the batch runs it re-includes index-data.js every 5 s (a <script>
// element: browsers refuse a file:// page a request for a local JSON file). docs/formats.md §Batch dashboard.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var state = {key: "id", dir: 1, page: 0, size: 100};
  var data = null, view = [], started = false;
  function $(id) { return document.getElementById(id); }
  function text(v) { return v === null || v === undefined ? "" : String(v); }
  function num(v, d) { return typeof v === "number" && isFinite(v) ? v.toFixed(d) : "-"; }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; } else if (k === "cls") { e.className = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  // a path segment of a case folder: case ids are plain names (letters, digits, . _ -), encoded anyway
  function href(id, file) { return encodeURIComponent(id) + "/" + file; }
  function badge(cls) {
    var key = cls === "grey zone" ? "grey" : (cls || "none");
    return el("span", {cls: "cls cls-" + key, text: cls || "-"});
  }

  function filters() {
    return {
      id: $("f-id").value.trim().toLowerCase(), st: $("f-status").value, cls: $("f-class").value,
      lcls: $("f-lclass").value, lv: $("f-lvessel").value.trim().toLowerCase()
    };
  }
  function keep(r, f) {
    if (f.id && text(r.id).toLowerCase().indexOf(f.id) < 0) { return false; }
    if (f.st && r.st !== f.st) { return false; }
    if (f.cls === "none") { if (r.st !== "ok" || r.cls) { return false; } } else if (f.cls && r.cls !== f.cls) { return false; }
    if (f.lcls || f.lv) {
      var les = r.les || [];
      var hit = les.some(function (l) {
        return (!f.lcls || l[1] === f.lcls) && (!f.lv || (text(l[0]) + " " + text(l[3])).toLowerCase().indexOf(f.lv) >= 0);
      });
      if (!hit) { return false; }
    }
    return true;
  }
  function compare(a, b) {
    var k = state.key, x = a[k], y = b[k];
    var xe = x === null || x === undefined || x === "", ye = y === null || y === undefined || y === "";
    if (xe || ye) { return xe && ye ? 0 : (xe ? 1 : -1); }      // empty cells last, either direction
    var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
    return state.dir * c;
  }

  function renderCounts() {
    var c = data.counts || {}, box = $("counts");
    box.textContent = "";
    [["cases", "cases"], ["ok", "done"], ["failed", "failed"], ["rejected", "rejected"], ["not run", "not run"],
     ["positive", "worst lesion: positive"], ["grey zone", "worst: grey zone"], ["negative", "worst: negative"],
     ["no lesion", "no lesion"]].forEach(function (p) {
      var k = el("div", {cls: "kpi", "data-count": p[0]}, [el("span", {cls: "muted", text: p[1]}), el("b", {text: text(c[p[0]] || 0)})]);
      box.appendChild(k);
    });
    $("title").textContent = data.title || "ffrflow batch";
    document.title = data.title || "ffrflow batch";
    $("state").textContent = (data.running ? "running, updated " : "finished, last update ") + text(data.updated_utc) +
      (data.started_utc ? " (started " + data.started_utc + ")" : "") + (data.running ? "; this page refreshes every 5 s" : "");
  }

  function row(r) {
    var tr = el("tr", {"data-id": r.id, "data-status": r.st});
    var thumb = el("td", {cls: "thumb"});
    if (r.png) {
      var img = el("img", {loading: "lazy", decoding: "async", alt: "FFR picture of " + r.id, src: href(r.id, r.th ? "thumb.png" : "ffr.png")});
      thumb.appendChild(r.rep ? el("a", {href: href(r.id, "report.html")}, [img]) : img);
    }
    tr.appendChild(thumb);
    var idc = el("td", {cls: "id"});
    idc.appendChild(r.rep ? el("a", {href: href(r.id, "report.html"), text: r.id}) : document.createTextNode(r.id));
    tr.appendChild(idc);
    tr.appendChild(el("td", {cls: "status-" + text(r.st).replace(" ", ""), text: r.st}));
    tr.appendChild(el("td", {cls: "num", text: num(r.min, 3)}));
    tr.appendChild(el("td", {text: r.wl ? r.wl + " " + text(r.wv) : (r.st === "ok" ? "no lesion" : "")}));
    tr.appendChild(el("td", {cls: "num", text: r.wf === undefined ? "" : num(r.wf, 3) + (r.wat ? " @" + r.wat + " mm" : "")}));
    var cc = el("td", {}); if (r.st === "ok") { cc.appendChild(badge(r.cls)); } tr.appendChild(cc);
    tr.appendChild(el("td", {cls: "num", text: r.nl === undefined ? "" : text(r.nl)}));
    tr.appendChild(el("td", {cls: "num", text: num(r.s, 1)}));
    var ec = el("td", {cls: "err", text: r.err ? r.err + (r.stage ? " (" + r.stage + ")" : "") : ""});
    if (r.msg) { ec.title = r.msg; }
    tr.appendChild(ec);
    return tr;
  }

  function render() {
    if (!data) { return; }
    renderCounts();
    var f = filters();
    view = (data.rows || []).filter(function (r) { return keep(r, f); });
    view.sort(compare);
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    var lo = state.page * state.size, hi = Math.min(view.length, lo + state.size);
    var body = $("rows"), frag = document.createDocumentFragment();
    for (var i = lo; i < hi; i++) { frag.appendChild(row(view[i])); }
    body.textContent = "";
    body.appendChild(frag);
    $("range").textContent = view.length ? (lo + 1) + "–" + hi + " of " + view.length + " shown (" +
      (data.rows || []).length + " cases); page " + (state.page + 1) + " of " + pages : "no case matches";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    if (started) { writeHash(); }
    Array.prototype.forEach.call(document.querySelectorAll("th.sort"), function (th) {
      th.querySelector(".arrow").textContent = th.getAttribute("data-key") === state.key ? (state.dir > 0 ? " ▲" : " ▼") : "";
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("th.sort"), function (th) {
    th.addEventListener("click", function () {
      var k = th.getAttribute("data-key");
      if (state.key === k) { state.dir = -state.dir; } else { state.key = k; state.dir = 1; }
      state.page = 0; render();
    });
  });
  ["f-id", "f-lvessel"].forEach(function (id) { $(id).addEventListener("input", function () { state.page = 0; render(); }); });
  ["f-status", "f-class", "f-lclass"].forEach(function (id) { $(id).addEventListener("change", function () { state.page = 0; render(); }); });
  $("f-page").addEventListener("change", function () { state.size = parseInt($("f-page").value, 10) || 100; state.page = 0; render(); });
  $("prev").addEventListener("click", function () { if (state.page > 0) { state.page--; render(); } });
  $("next").addEventListener("click", function () { state.page++; render(); });

  // the view in the address's fragment (#sort=min&dir=desc&class=positive&vessel=LAD&page=2&size=50),
  // read at load and kept up to date: a view can be bookmarked or shared, and survives a reload
  var CONTROLS = {id: "f-id", status: "f-status", "class": "f-class", lclass: "f-lclass", vessel: "f-lvessel", size: "f-page"};
  function readHash() {
    (location.hash || "").replace(/^#/, "").split("&").forEach(function (kv) {
      if (!kv) { return; }
      var i = kv.indexOf("="), k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i)),
        v = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1).replace(/\+/g, " "));
      if (k === "sort") { state.key = v; } else if (k === "dir") { state.dir = v === "desc" ? -1 : 1; } else if (k === "page") {
        state.page = Math.max(0, (parseInt(v, 10) || 1) - 1);
      } else if (CONTROLS[k]) { $(CONTROLS[k]).value = v; }
    });
  }
  function writeHash() {
    var parts = ["sort=" + encodeURIComponent(state.key), "dir=" + (state.dir > 0 ? "asc" : "desc")];
    Object.keys(CONTROLS).forEach(function (k) {
      var v = $(CONTROLS[k]).value;
      if (v && !(k === "size" && v === "100")) { parts.push(k + "=" + encodeURIComponent(v)); }
    });
    if (state.page) { parts.push("page=" + (state.page + 1)); }
    try { history.replaceState(null, "", "#" + parts.join("&")); } catch (e) { /* some file:// setups refuse */ }
  }
  readHash();
  state.size = parseInt($("f-page").value, 10) || 100;

  function poll() {
    var old = $("dashboard-data");
    var s = document.createElement("script");
    s.id = "dashboard-data";
    s.src = "index-data.js?t=" + Date.now();
    s.onload = function () { if (old && old.parentNode) { old.parentNode.removeChild(old); } take(); };
    s.onerror = function () { s.parentNode.removeChild(s); setTimeout(poll, POLL_MS); };
    document.body.appendChild(s);
  }
  function take() {
    var d = window.FFRFLOW_DASHBOARD;
    if (!d) {
      $("state").textContent = "index-data.js not found beside this page (the batch has not written it yet?); retrying";
      setTimeout(poll, POLL_MS);
      return;
    }
    data = d;
    render();
    if (!started && window.performance) {   // how long the page took to show its first rows (tests, benchmarks)
      document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
    }
    started = true;
    if (data.running) { setTimeout(poll, POLL_MS); }
  }
  window.ffrflowDashboard = {render: render, state: state, view: function () { return view; }};
  take();
})();
