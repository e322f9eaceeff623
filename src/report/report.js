/* report.js - the HTML report's own script, compiled into every page
 * (cmake/embed_text.cmake). The page is whole without it: svg.c draws the
 * charts as SVG. With it, the training curves are drawn again here from
 * the JSON each carries (a script element of type application/json and
 * class gg-plot), so a reader can smooth the per-step lines, switch a
 * chart's y axis between log and linear, zoom on the x axis (drag across a
 * chart; double-click or "reset zoom" undoes it), plot against wall time
 * and hide runs of a comparison. It loads nothing and evaluates no text. The layout
 * follows svg.c's, so a chart looks the same before and after. */
(function () {
  'use strict';
  var state = { smooth: 0, x: 'step', zoom: null, hidden: {} };
  var charts = [];
  var uid = 0;

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function n1(v) { return (Math.round(v * 10) / 10).toString(); }
  function ok(v) { return v !== null && v !== undefined && isFinite(v); }

  /* printf's %.Ng */
  function g(v, n) {
    if (v === 0) return '0';
    var e = Math.floor(Math.log10(Math.abs(v)));
    var s = (e < -4 || e >= n) ? v.toExponential(n - 1) : v.toFixed(Math.max(0, n - 1 - e));
    if (s.indexOf('e') >= 0) return s.replace(/\.?0+e/, 'e');
    return s.indexOf('.') >= 0 ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
  }
  /* gg_fmt_num: "0.25", "1.5k", "2M", "1e-5" */
  function fmt(v) {
    var a = Math.abs(v), s;
    if (v !== v) return 'n/a';
    if (!isFinite(v)) return v > 0 ? 'inf' : '-inf';
    if (a < 1e-300) return '0';
    if (a >= 1e9 || a < 1e-3) s = g(v, 3);
    else if (a >= 1e6) s = g(v / 1e6, 4) + 'M';
    else if (a >= 1e4) s = g(v / 1e3, 4) + 'k';
    else s = g(v, 4);
    return s.replace(/e\+?(-?)0*(\d)/, 'e$1$2');
  }

  /* ticks, as gg_ticks_linear and gg_ticks_log */
  function niceStep(raw) {
    var e = Math.floor(Math.log10(raw)), f = raw / Math.pow(10, e);
    var nf = f <= 1.0000001 ? 1 : f <= 2.0000001 ? 2 : f <= 2.5000001 ? 2.5 : f <= 5.0000001 ? 5 : 10;
    return nf * Math.pow(10, e);
  }
  function ticksLin(lo, hi, target) {
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    if (hi < lo) { var s0 = lo; lo = hi; hi = s0; }
    if (hi - lo <= 1e-12 * Math.max(Math.abs(lo), Math.abs(hi)) || hi === lo) {
      var d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
      lo -= d; hi += d;
    }
    var step = niceStep((hi - lo) / (target - 1)), k0, k1;
    for (;;) {
      k0 = Math.floor(lo / step + 1e-9);
      k1 = Math.ceil(hi / step - 1e-9);
      if (k1 - k0 + 1 <= 64) break;
      step = niceStep(step * 1.5);
    }
    if (k1 <= k0) k1 = k0 + 1;
    var t = [];
    for (var k = k0; k <= k1; k++) { var v = k * step; t.push(Math.abs(v) < step * 1e-9 ? 0 : v); }
    return t;
  }
  function ticksLog(lo, hi) {
    if (!(lo > 0) || !isFinite(lo)) lo = 1e-3;
    if (!(hi > 0) || !isFinite(hi)) hi = lo * 10;
    if (hi < lo) { var s0 = lo; lo = hi; hi = s0; }
    var e0 = Math.max(-300, Math.floor(Math.log10(lo) + 1e-9)), e1 = Math.min(300, Math.ceil(Math.log10(hi) - 1e-9));
    if (e1 <= e0) e1 = e0 + 1;
    var k = 1;
    while (Math.floor((e1 - e0 + k - 1) / k) > 7) k++;
    var a0 = Math.floor(e0 / k) * k, a1 = a0 + Math.ceil((e1 - a0) / k) * k, t = [];
    for (var e = a0; e <= a1; e += k) t.push(Math.pow(10, e));
    return t;
  }

  /* markers, as svg.c's shape() */
  function shape(k, cx, cy, r, c) {
    var f = function (v) { return v.toFixed(1); };
    switch (k) {
      case 0: return '<circle cx="' + f(cx) + '" cy="' + f(cy) + '" r="' + f(r * 0.85) + '" fill="' + c + '" stroke="#fff" stroke-width="1"/>';
      case 1: return '<path d="M' + f(cx - r) + ' ' + f(cy - r * 0.8) + 'L' + f(cx + r) + ' ' + f(cy - r * 0.8) + 'L' + f(cx) + ' ' + f(cy + r) + 'Z" fill="' + c + '" stroke="#fff" stroke-width="1"/>';
      case 2: return '<rect x="' + f(cx - r * 0.8) + '" y="' + f(cy - r * 0.8) + '" width="' + f(r * 1.6) + '" height="' + f(r * 1.6) + '" fill="' + c + '" stroke="#fff" stroke-width="1"/>';
      case 3: return '<path d="M' + f(cx) + ' ' + f(cy - r) + 'L' + f(cx + r) + ' ' + f(cy) + 'L' + f(cx) + ' ' + f(cy + r) + 'L' + f(cx - r) + ' ' + f(cy) + 'Z" fill="' + c + '" stroke="#fff" stroke-width="1"/>';
      case 4: return '<path d="M' + f(cx - r * 0.8) + ' ' + f(cy - r * 0.8) + 'L' + f(cx + r * 0.8) + ' ' + f(cy + r * 0.8) + 'M' + f(cx - r * 0.8) + ' ' + f(cy + r * 0.8) + 'L' + f(cx + r * 0.8) + ' ' + f(cy - r * 0.8) + '" stroke="' + c + '" stroke-width="2.6" stroke-linecap="round" fill="none"/>';
      case 5: {
        var d = '';
        for (var i = 0; i < 10; i++) {
          var a = -Math.PI / 2 + i * Math.PI / 5, rr = i % 2 ? r * 0.45 : r * 1.1;
          d += (i ? 'L' : 'M') + f(cx + rr * Math.cos(a)) + ' ' + f(cy + rr * Math.sin(a));
        }
        return '<path d="' + d + 'Z" fill="' + c + '" stroke="#fff" stroke-width="0.8"/>';
      }
      default: return '<line x1="' + f(cx - r * 2) + '" y1="' + f(cy) + '" x2="' + f(cx + r * 2) + '" y2="' + f(cy) + '" stroke="' + c + '" stroke-width="2.5"/>';
    }
  }
  function textW(s, px) { return String(s).length * px * 0.56; }
  function text(x, y, anchor, cls, s) {
    return '<text x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '"' + (anchor ? ' text-anchor="' + anchor + '"' : '') +
      (cls ? ' class="' + cls + '"' : '') + '>' + esc(s) + '</text>';
  }
  /* rows of legend entries across width w; drawn when out is given */
  function legend(e, x0, w, y, out) {
    if (!e.length) return 0;
    var rows = 1, x = x0;
    e.forEach(function (it) {
      var iw = 26 + textW(it.n, 11.5) + 14;
      if (x > x0 && x + iw > x0 + w) { rows++; x = x0; }
      if (out) {
        var cy = y + (rows - 1) * 18 + 9;
        if (it.s === 6)
          out.push('<line x1="' + x.toFixed(1) + '" y1="' + cy.toFixed(1) + '" x2="' + (x + 20).toFixed(1) + '" y2="' +
            cy.toFixed(1) + '" stroke="' + it.c + '" stroke-width="2.5"' + (it.dash ? ' stroke-dasharray="5 3"' : '') +
            ' stroke-opacity="' + (it.o || 1) + '"/>');
        else out.push(shape(it.s, x + 10, cy, 5, it.c));
        out.push(text(x + 26, cy + 4, null, 'lg', it.n));
      }
      x += iw;
    });
    return rows;
  }

  /* TensorBoard's smoothing: an exponential moving average, debiased at
   * its start and started again after a gap */
  function ema(y, w) {
    var out = [], last = 0, n = 0;
    for (var i = 0; i < y.length; i++) {
      var v = y[i];
      if (!ok(v)) { out.push(null); last = 0; n = 0; continue; }
      last = last * w + (1 - w) * v;
      n++;
      out.push(last / (1 - Math.pow(w, n)));
    }
    return out;
  }

  /* The chart as SVG text, from its JSON and the page's state. */
  function draw(c) {
    var P = c.p, logy = c.logy, useT = state.x === 'time', z = state.zoom;
    var Wt = c.w, Ht = c.h;
    var usable = function (x, y) { return ok(x) && ok(y) && (!logy || y > 0); };
    var inX = function (x) { return !z || (x >= z[0] && x <= z[1]); };
    var ser = [];
    P.s.forEach(function (s) {
      var xs = useT ? s.t : s.x;
      if (state.hidden[s.run] || !xs) return;
      if (s.sm && s.l && state.smooth > 0) {
        ser.push({ s: s, x: xs, y: s.y, o: (s.o || 1) * 0.25, raw: 1 });
        ser.push({ s: s, x: xs, y: ema(s.y, state.smooth), o: s.o || 1 });
      } else ser.push({ s: s, x: xs, y: s.y, o: s.o || 1 });
    });
    var marks = P.m.filter(function (m) { return !state.hidden[m.run] && ok(useT ? m.t : m.x); });
    var hls = P.h.filter(function (h) { return !state.hidden[h.run]; });
    var xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    ser.forEach(function (q) {
      for (var i = 0; i < q.x.length; i++) {
        var x = q.x[i], y = q.y[i];
        if (!usable(x, y) || !inX(x)) continue;
        if (ok(P.ymin) && y < P.ymin) continue;
        if (ok(P.ymax) && y > P.ymax) continue;
        xmin = Math.min(xmin, x); xmax = Math.max(xmax, x);
        ymin = Math.min(ymin, y); ymax = Math.max(ymax, y);
      }
    });
    var have = ymin <= ymax;
    marks.forEach(function (m) { var x = useT ? m.t : m.x; if (inX(x)) { xmin = Math.min(xmin, x); xmax = Math.max(xmax, x); } });
    if (have) hls.forEach(function (h) { if (usable(0, h.y)) { ymin = Math.min(ymin, h.y); ymax = Math.max(ymax, h.y); } });
    if (!(xmin <= xmax)) { xmin = 0; xmax = 1; }
    if (!have) { ymin = logy ? 0.1 : 0; ymax = logy ? 10 : 1; }
    if (have && P.zero && !logy) { ymin = Math.min(ymin, 0); ymax = Math.max(ymax, 0); }
    var xt, x0, x1;
    if (z) {
      x0 = z[0]; x1 = z[1];
      xt = ticksLin(x0, x1, 7).filter(function (v) { return v >= x0 - 1e-9 * (x1 - x0) && v <= x1 + 1e-9 * (x1 - x0); });
    } else {
      xt = ticksLin(xmin, xmax, 7);
      if (xmin >= 0 && xt[0] < 0) xt[0] = 0;
      var xend = xmax > xt[0] ? xmax : xt[xt.length - 1];
      while (xt.length > 2 && xt[xt.length - 1] > xend + 1e-9 * (xend - xt[0])) xt.pop();
      x0 = xt[0]; x1 = xend;
    }
    if (x1 <= x0) x1 = x0 + 1;
    var yt, y0, y1;
    if (logy) {
      yt = ticksLog(ymin, ymax);
      y0 = Math.log10(yt[0]); y1 = Math.log10(yt[yt.length - 1]);
    } else {
      yt = ticksLin(ymin, ymax, 6);
      var k0 = 0, k1 = yt.length - 1;
      while (ok(P.ymin) && k0 < k1 - 1 && yt[k0 + 1] <= P.ymin) k0++;
      while (ok(P.ymax) && k1 > k0 + 1 && yt[k1 - 1] >= P.ymax) k1--;
      yt = yt.slice(k0, k1 + 1);
      y0 = yt[0]; y1 = yt[yt.length - 1];
    }
    var ylab = yt.map(fmt), maxw = 0;
    ylab.forEach(function (l) { maxw = Math.max(maxw, textW(l, 11)); });
    var L = 30 + maxw + 8, R = 18, W = Wt - L - R;
    var px = function (x) { return Math.max(-1e4, Math.min(1e4, L + (x - x0) / (x1 - x0) * W)); };
    var le = [];
    ser.forEach(function (q) {
      var s = q.s;
      if (q.raw || !s.n || s.nl || !(s.l || s.dots)) return;
      for (var i = 0; i < q.x.length; i++)
        if (usable(q.x[i], q.y[i])) { le.push({ n: s.n, c: s.c, s: s.l ? 6 : s.d, dash: s.l === 2, o: s.o }); return; }
    });
    P.e.forEach(function (e) { le.push({ n: e.n, c: e.c, s: e.s, dash: e.dash, o: e.o }); });
    var lrows = legend(le, L, W, 0, null);
    /* markers closer than their size go to another lane (up to 3) */
    var shown = marks.filter(function (m) { return inX(useT ? m.t : m.x); });
    var lanes = [], last = [-1e9, -1e9, -1e9], nl = shown.length ? 1 : 0;
    shown.forEach(function (m, k) {
      var x = px(useT ? m.t : m.x), l = 0;
      while (l < 3 && Math.abs(x - last[l]) < 10) l++;
      if (l === 3) l = 0;
      lanes[k] = l; last[l] = x;
      nl = Math.max(nl, l + 1);
    });
    var strip = nl ? 20 + 12 * (nl - 1) : 0;
    var T = 8 + lrows * 18 + strip + 6, B = 44;
    Ht += (lrows > 1 ? (lrows - 1) * 18 : 0) + (nl > 1 ? 12 * (nl - 1) : 0);
    var H = Ht - T - B;
    var py = function (y) { var v = logy ? Math.log10(y) : y; return Math.max(-1e4, Math.min(1e4, T + H - (v - y0) / (y1 - y0) * H)); };
    c.frame = { L: L, W: W, T: T, H: H, x0: x0, x1: x1, Wt: Wt };
    var id = 'j' + (++uid), o = [];
    o.push('<svg class="chart" viewBox="0 0 ' + Wt + ' ' + Ht.toFixed(0) + '" role="img" aria-label="' + esc(c.title) + '">');
    o.push('<clipPath id="c' + id + '"><rect x="' + L.toFixed(1) + '" y="' + (T - 1).toFixed(1) + '" width="' + W.toFixed(1) + '" height="' + (H + 2).toFixed(1) + '"/></clipPath>');
    o.push('<clipPath id="d' + id + '"><rect x="' + (L - 8).toFixed(1) + '" y="' + (T - 8).toFixed(1) + '" width="' + (W + 16).toFixed(1) + '" height="' + (H + 16).toFixed(1) + '"/></clipPath>');
    o.push('<rect class="bg" x="' + L.toFixed(1) + '" y="' + T.toFixed(1) + '" width="' + W.toFixed(1) + '" height="' + H.toFixed(1) + '"/>');
    yt.forEach(function (v, i) {
      var y = T + H - i * H / (yt.length - 1);
      o.push('<line class="gr" x1="' + L.toFixed(1) + '" y1="' + y.toFixed(1) + '" x2="' + (L + W).toFixed(1) + '" y2="' + y.toFixed(1) + '"/>');
      o.push(text(L - 6, y + 4, 'end', 'tk', ylab[i]));
    });
    if (logy && (y1 - y0) / (yt.length - 1) <= 1.5 && y1 - y0 <= 6)
      for (var e = y0; e < y1; e += 1)
        for (var m = 2; m <= 9; m++) {
          var yy = T + H - (e + Math.log10(m) - y0) / (y1 - y0) * H;
          o.push('<line class="ax" x1="' + (L - 3).toFixed(1) + '" y1="' + yy.toFixed(1) + '" x2="' + L.toFixed(1) + '" y2="' + yy.toFixed(1) + '"/>');
        }
    xt.forEach(function (v) {
      var x = px(v);
      o.push('<line class="gr gx" x1="' + x.toFixed(1) + '" y1="' + T.toFixed(1) + '" x2="' + x.toFixed(1) + '" y2="' + (T + H).toFixed(1) + '"/>');
      o.push('<line class="ax" x1="' + x.toFixed(1) + '" y1="' + (T + H).toFixed(1) + '" x2="' + x.toFixed(1) + '" y2="' + (T + H + 4).toFixed(1) + '"/>');
      o.push(text(x, T + H + 17, 'middle', 'tk', fmt(v)));
    });
    o.push('<path class="ax" fill="none" d="M' + L.toFixed(1) + ' ' + T.toFixed(1) + 'V' + (T + H).toFixed(1) + 'H' + (L + W).toFixed(1) + '"/>');
    var xlabel = useT ? 'wall time (s)' : P.xl;
    o.push(text(L + W / 2, Ht - 8, 'middle', 'al', xlabel));
    var ylabel = P.yl.replace(/ \(log scale\)$/, '') + (logy ? ' (log scale)' : '');
    o.push('<text class="al" text-anchor="middle" transform="translate(14 ' + (T + H / 2).toFixed(1) + ') rotate(-90)">' + esc(ylabel) + '</text>');
    o.push('<g clip-path="url(#c' + id + ')">');
    hls.forEach(function (h, k) {
      if (!have || !usable(0, h.y)) return;
      var y = py(h.y);
      o.push('<line x1="' + L.toFixed(1) + '" y1="' + y.toFixed(1) + '" x2="' + (L + W).toFixed(1) + '" y2="' + y.toFixed(1) + '" stroke="' + h.c + '" stroke-width="1.4" stroke-dasharray="7 4"/>');
      if (h.lab) o.push('<text x="' + (L + W - 4).toFixed(1) + '" y="' + (y - 4 - 12 * k).toFixed(1) + '" text-anchor="end" class="hl" fill="' + h.c + '">' + esc(h.lab) + '</text>');
    });
    ser.forEach(function (q) {
      var s = q.s;
      if (!s.l) return;
      var d = '', open = 0, prev = 0;
      for (var i = 0; i < q.x.length; i++) {
        var x = q.x[i], y = q.y[i];
        if (!usable(x, y)) { if (open === 1) d += 'h0'; open = 0; continue; }
        /* a replay after a rollback goes back in steps: a new piece */
        if (open && x < prev) { if (open === 1) d += 'h0'; open = 0; }
        d += (open ? 'L' : 'M') + px(x).toFixed(1) + ' ' + py(y).toFixed(1);
        open++; prev = x;
      }
      if (open === 1) d += 'h0';
      o.push('<path class="ln' + (q.raw ? ' raw' : '') + '" fill="none" stroke="' + s.c + '" stroke-width="' + s.w + '"' +
        (s.l === 2 ? ' stroke-dasharray="6 4"' : '') + (q.o < 1 ? ' stroke-opacity="' + q.o + '"' : '') + ' d="' + d + '">' +
        (s.n ? '<title>' + esc(s.n) + '</title>' : '') + '</path>');
    });
    o.push('</g><g clip-path="url(#d' + id + ')">');
    ser.forEach(function (q) {
      var s = q.s;
      if (!s.dots) return;
      for (var i = 0; i < q.x.length; i++) {
        var x = q.x[i], y = q.y[i];
        if (!usable(x, y) || !inX(x)) continue;
        var tag = s.g && s.tn && ok(s.g[i]) ? ' \u2014 ' + s.tn + ' ' + s.g[i] + ',' : ' \u2014';
        o.push('<g class="pt"><title>' + esc((s.n || '') + tag + ' ' + (useT ? 'time' : xlabel) + ' ' + (useT ? n1(x) + ' s' : x) + ': ' + g(y, 5)) + '</title>' +
          shape(s.d, px(x), py(y), s.d === 5 ? 7 : 4.2, s.c) + '</g>');
      }
    });
    o.push('</g>');
    if (!have && P.empty) o.push(text(L + W / 2, T + H / 2, 'middle', 'empty', useT ? 'no wall time logged (an older run)' : P.empty));
    if (shown.length) {
      o.push('<text x="' + (L - 6).toFixed(1) + '" y="' + (T - 10).toFixed(1) + '" text-anchor="end" class="tk">events</text>');
      shown.forEach(function (m, k) {
        var x = px(useT ? m.t : m.x), y = T - 12 - 12 * lanes[k];
        o.push('<g class="ev"><title>' + esc(m.tip) + '</title><line x1="' + x.toFixed(1) + '" y1="' + (y + 6).toFixed(1) + '" x2="' + x.toFixed(1) + '" y2="' + (T + H).toFixed(1) +
          '" stroke="' + m.c + '" stroke-width="1" stroke-dasharray="3 3" opacity="0.55"/>' + shape(m.s, x, y, 5.5, m.c) + '</g>');
      });
    }
    legend(le, L, W, 6, o);
    o.push('</svg>');
    return o.join('');
  }

  function render(c) {
    c.box.innerHTML = draw(c);
    c.btn.setAttribute('aria-pressed', c.logy ? 'true' : 'false');
  }
  function renderAll() {
    charts.forEach(render);
    var zr = document.getElementById('gg-zoom-reset');
    if (zr) zr.disabled = !state.zoom;
  }

  /* a point of the page in the chart's viewBox */
  function toView(c, ev) {
    var svg = c.box.querySelector('svg'), r = svg.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * c.frame.Wt / r.width, y: (ev.clientY - r.top) * c.frame.Wt / r.width };
  }
  function zoomable(c) {
    var drag = null;
    c.box.addEventListener('mousedown', function (ev) {
      var f = c.frame, p = toView(c, ev);
      if (ev.button !== 0 || p.x < f.L || p.x > f.L + f.W || p.y < f.T || p.y > f.T + f.H) return;
      ev.preventDefault();
      drag = { a: p.x, b: p.x };
      c.box.querySelector('svg').insertAdjacentHTML('beforeend', '<rect class="zsel" x="' + p.x + '" y="' + f.T + '" width="0" height="' + f.H + '"/>');
    });
    document.addEventListener('mousemove', function (ev) {
      if (!drag) return;
      var f = c.frame, p = toView(c, ev), r = c.box.querySelector('rect.zsel');
      drag.b = Math.max(f.L, Math.min(f.L + f.W, p.x));
      if (r) { r.setAttribute('x', Math.min(drag.a, drag.b)); r.setAttribute('width', Math.abs(drag.b - drag.a)); }
    });
    document.addEventListener('mouseup', function () {
      if (!drag) return;
      var f = c.frame, a = Math.min(drag.a, drag.b), b = Math.max(drag.a, drag.b);
      drag = null;
      if (b - a < 4) { render(c); return; }
      var at = function (v) { return f.x0 + (v - f.L) / f.W * (f.x1 - f.x0); };
      state.zoom = [at(a), at(b)];
      renderAll();
    });
    c.box.addEventListener('dblclick', function () { if (state.zoom) { state.zoom = null; renderAll(); } });
  }

  function init() {
    var nodes = document.querySelectorAll('script.gg-plot');
    for (var i = 0; i < nodes.length; i++) {
      var js = nodes[i], svg = js.previousElementSibling, fig = js.parentNode, p;
      try { p = JSON.parse(js.textContent); } catch (e) { continue; }
      if (!svg || svg.tagName.toLowerCase() !== 'svg') continue;
      var vb = svg.getAttribute('viewBox').split(' ');
      var c = { p: p, logy: !!p.logy, w: +vb[2], h: 330, title: svg.getAttribute('aria-label') };
      c.box = document.createElement('div');
      c.box.className = 'plot';
      fig.replaceChild(c.box, svg);
      c.btn = document.createElement('button');
      c.btn.type = 'button';
      c.btn.className = 'tog';
      c.btn.textContent = 'log y';
      c.btn.title = 'a log or a linear y axis';
      (function (c) { c.btn.addEventListener('click', function () { c.logy = !c.logy; render(c); }); })(c);
      var h3 = fig.querySelector('h3');
      if (h3) h3.appendChild(c.btn);
      zoomable(c);
      charts.push(c);
    }
    var ctl = document.getElementById('gg-ctl');
    if (!charts.length || !ctl) return;
    ctl.hidden = false;
    var sm = document.getElementById('gg-smooth'), sv = document.getElementById('gg-smooth-v');
    sm.addEventListener('input', function () { state.smooth = +sm.value; sv.textContent = (+sm.value).toFixed(2); renderAll(); });
    var xs = document.getElementById('gg-x');
    xs.addEventListener('change', function () { state.x = xs.value; state.zoom = null; renderAll(); });
    document.getElementById('gg-zoom-reset').addEventListener('click', function () { state.zoom = null; renderAll(); });
    var boxes = ctl.querySelectorAll('input[data-run]');
    for (var k = 0; k < boxes.length; k++)
      boxes[k].addEventListener('change', function (ev) { state.hidden[ev.target.getAttribute('data-run')] = !ev.target.checked; renderAll(); });
    renderAll();
  }
  init();
})();
