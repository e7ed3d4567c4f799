// ffrflow 3D view: the centerline tree as tubes of the lumen radius, coloured by FFR, on a 2D canvas
// (orthographic, painter's algorithm). Data: the JSON element #viewer-data (docs/formats.md §Case report).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("viewer-data").textContent);
  var canvas = document.getElementById("viewer");
  var tip = document.getElementById("viewer-tip");
  var ctx = canvas.getContext("2d");
  var segs = [];            // [x0,y0,z0,x1,y1,z1,r,ffr, vessel index]
  var pts = [];             // for the hover: [x,y,z,ffr,vessel index]
  var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  data.vessels.forEach(function (v, vi) {
    var n = v.r.length;
    for (var i = 0; i < n; i++) {
      for (var k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k], v.p[3 * i + k]); hi[k] = Math.max(hi[k], v.p[3 * i + k]);
      }
      pts.push([v.p[3 * i], v.p[3 * i + 1], v.p[3 * i + 2], v.f[i], vi]);
      if (i + 1 < n) {
        segs.push([v.p[3 * i], v.p[3 * i + 1], v.p[3 * i + 2], v.p[3 * i + 3], v.p[3 * i + 4], v.p[3 * i + 5],
                   0.5 * (v.r[i] + v.r[i + 1]), 0.5 * (v.f[i] + v.f[i + 1]), vi]);
      }
    }
  });
  var centre = [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])];
  var extent = Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1e-3);
  // colour map: piecewise-linear through the RdBu control colours, norm lo..0.80..1 (two slopes)
  var stops = data.cmap.map(function (h) {
    return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
  });
  var nlo = data.norm[0], nc = data.norm[1], nhi = data.norm[2];
  function colour(f, shade) {
    var t = f <= nc ? 0.5 * Math.max(0, (f - nlo) / (nc - nlo)) : 0.5 + 0.5 * Math.min(1, (f - nc) / (nhi - nc));
    var x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), u = x - i;
    var c = [0, 1, 2].map(function (k) {
      return Math.round(Math.min(255, shade * ((1 - u) * stops[i][k] + u * stops[i + 1][k])));
    });
    return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")";
  }
  // view: screen x = patient's left (+x), screen up = head (+z), depth = posterior (+y)
  var R0 = [[1, 0, 0], [0, 0, 1], [0, 1, 0]];
  var R, zoom, panX, panY;
  function reset() { R = R0.map(function (r) { return r.slice(); }); zoom = 1; panX = 0; panY = 0; }
  reset();
  function mul(A, B) {
    return [0, 1, 2].map(function (i) {
      return [0, 1, 2].map(function (j) { return A[i][0] * B[0][j] + A[i][1] * B[1][j] + A[i][2] * B[2][j]; });
    });
  }
  function rotX(a) { var c = Math.cos(a), s = Math.sin(a); return [[1, 0, 0], [0, c, -s], [0, s, c]]; }
  function rotY(a) { var c = Math.cos(a), s = Math.sin(a); return [[c, 0, s], [0, 1, 0], [-s, 0, c]]; }
  var W = 0, H = 0, scale = 1;
  function project(x, y, z) {
    var d = [x - centre[0], y - centre[1], z - centre[2]];
    var a = R[0][0] * d[0] + R[0][1] * d[1] + R[0][2] * d[2];
    var b = R[1][0] * d[0] + R[1][1] * d[1] + R[1][2] * d[2];
    var c = R[2][0] * d[0] + R[2][1] * d[1] + R[2][2] * d[2];
    return [W / 2 + panX + a * scale, H / 2 + panY - b * scale, c];
  }
  function draw() {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    W = w; H = h;
    scale = zoom * 0.86 * Math.min(w, h - 40) / extent;
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, w, h);
    var proj = segs.map(function (s) {
      var a = project(s[0], s[1], s[2]), b = project(s[3], s[4], s[5]);
      return [a, b, 0.5 * (a[2] + b[2]), s];
    });
    proj.sort(function (p, q) { return q[2] - p[2]; });   // far (large depth) first
    ctx.lineCap = "round";
    proj.forEach(function (p) {
      var wpx = Math.max(1.5, 2 * p[3][6] * scale);
      ctx.strokeStyle = colour(p[3][7], 0.72);
      ctx.lineWidth = wpx;
      ctx.beginPath(); ctx.moveTo(p[0][0], p[0][1]); ctx.lineTo(p[1][0], p[1][1]); ctx.stroke();
      ctx.strokeStyle = colour(p[3][7], 1.0);
      ctx.lineWidth = Math.max(1, 0.62 * wpx);
      ctx.beginPath(); ctx.moveTo(p[0][0], p[0][1]); ctx.lineTo(p[1][0], p[1][1]); ctx.stroke();
    });
    ctx.font = "12px system-ui, sans-serif";
    data.lesions.forEach(function (m) {
      var q = project(m.xyz[0], m.xyz[1], m.xyz[2]);
      ctx.fillStyle = "#111"; ctx.beginPath(); ctx.arc(q[0], q[1], 3, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      var tw = ctx.measureText(m.text).width;
      ctx.fillRect(q[0] + 6, q[1] - 16, tw + 6, 16);
      ctx.fillStyle = "#111"; ctx.fillText(m.text, q[0] + 9, q[1] - 4);
    });
    // colour bar
    var bx = w - 230, by = h - 30, bw = 200;
    for (var i = 0; i < bw; i++) {
      var f = nlo + (nhi - nlo) * i / (bw - 1);
      ctx.fillStyle = colour(f, 1.0); ctx.fillRect(bx + i, by, 1, 10);
    }
    ctx.strokeStyle = "#666"; ctx.lineWidth = 1; ctx.strokeRect(bx, by, bw, 10);
    ctx.fillStyle = "#333";
    [nlo, nc, nhi].forEach(function (f) {
      var x = bx + bw * (f - nlo) / (nhi - nlo);
      ctx.fillRect(x, by + 10, 1, 4);
      ctx.fillText(f.toFixed(2), x - 11, by + 25);
    });
    ctx.fillText("FFR", bx - 30, by + 9);
    // scale bar: 10 mm
    var sb = 10 * scale;
    ctx.fillRect(16, h - 22, sb, 3);
    ctx.fillText("10 mm", 16, h - 28);
    canvas.setAttribute("data-drawn", String(segs.length));
    if (!canvas.hasAttribute("data-ink")) {   // once: how many sampled pixels are not background (tests)
      var img = ctx.getImageData(0, 0, canvas.width, canvas.height).data, ink = 0;
      for (var j = 0; j < img.length; j += 64) { if (img[j] < 250 || img[j + 1] < 250 || img[j + 2] < 250) { ink++; } }
      canvas.setAttribute("data-ink", String(ink));
    }
  }
  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = [e.clientX, e.clientY, e.shiftKey]; canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointerup", function () { drag = null; });
  canvas.addEventListener("pointermove", function (e) {
    if (drag) {
      var dx = e.clientX - drag[0], dy = e.clientY - drag[1];
      drag[0] = e.clientX; drag[1] = e.clientY;
      if (drag[2]) { panX += dx; panY += dy; } else { R = mul(mul(rotY(dx * 0.01), rotX(dy * 0.01)), R); }
      tip.style.display = "none";
      draw();
      return;
    }
    var rect = canvas.getBoundingClientRect(), mx = e.clientX - rect.left, my = e.clientY - rect.top;
    var best = null, bd = 64, bz = Infinity;
    pts.forEach(function (p) {
      var q = project(p[0], p[1], p[2]), d = (q[0] - mx) * (q[0] - mx) + (q[1] - my) * (q[1] - my);
      if (d < bd || (d < 64 && q[2] < bz)) { if (d < bd || q[2] < bz) { best = p; bd = Math.min(bd, d); bz = q[2]; } }
    });
    if (best) {
      var v = data.vessels[best[4]];
      tip.textContent = (v.name && v.name !== v.id ? v.name + " (" + v.id + ")" : v.id) + ": FFR " + best[3].toFixed(3);
      tip.style.left = (mx + 12) + "px"; tip.style.top = (my + 12) + "px"; tip.style.display = "block";
    } else {
      tip.style.display = "none";
    }
  });
  canvas.addEventListener("pointerleave", function () { tip.style.display = "none"; });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault(); zoom *= Math.exp(-0.0015 * e.deltaY); draw();
  }, {passive: false});
  canvas.addEventListener("dblclick", function () { reset(); draw(); });
  window.addEventListener("resize", draw);
  draw();
})();
