/* report_harness.js - drives the report page's own script inside headless
 * Chromium for tests/report_render.sh, which appends it after the page's
 * script in a copy of the page. Each check clicks or moves a control the
 * way a reader would and looks at what is drawn afterwards; the results go
 * into a pre element of id gg-test as "PASS name" / "FAIL name" lines, which
 * --dump-dom shows. */
(function () {
  var out = [];
  function t(name, cond) { out.push((cond ? 'PASS ' : 'FAIL ') + name); }
  function fig(title) {
    var f = document.querySelectorAll('figure');
    for (var i = 0; i < f.length; i++) {
      var h = f[i].querySelector('h3');
      if (h && h.firstChild && h.firstChild.textContent === title) return f[i];
    }
    return null;
  }
  function svg(f) { return f && f.querySelector('.plot svg'); }
  /* a chart's markup, but for the ids of its clip paths (new at each drawing) */
  function markup(f) { return svg(f).outerHTML.replace(/[cd]j\d+/g, ''); }
  function texts(f) {
    return Array.prototype.map.call(svg(f).querySelectorAll('text'), function (e) { return e.textContent; }).join('|');
  }
  function fire(el, type, x, y) { el.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: x, clientY: y, button: 0 })); }
  function input(el, type, value) { el.value = value; el.dispatchEvent(new Event(type, { bubbles: true })); }
  try {
    var loss = fig('Loss'), grad = fig('Global gradient norm'), ctl = document.getElementById('gg-ctl');
    t('the script drew the charts and showed the controls', !!(svg(loss) && svg(grad) && ctl && !ctl.hidden));

    /* log/linear: a click on the loss chart's toggle */
    var before = markup(loss), wasLog = /\(log scale\)/.test(texts(loss));
    loss.querySelector('button.tog').click();
    t('a click on "log y" redraws the loss chart on the other axis',
      markup(loss) !== before && /\(log scale\)/.test(texts(loss)) !== wasLog);
    loss.querySelector('button.tog').click();
    t('a second click goes back', markup(loss) === before);

    /* smoothing: the raw line fades under a smoothed one */
    var sm = document.getElementById('gg-smooth'), d0 = svg(loss).querySelector('path.ln').getAttribute('d');
    input(sm, 'input', '0.9');
    var raw = svg(loss).querySelector('path.ln.raw'), lines = svg(loss).querySelectorAll('path.ln:not(.raw)');
    t('smoothing 0.9 draws a smoothed line over the faded raw one',
      !!raw && raw.getAttribute('d') === d0 && lines.length > 0 && lines[0].getAttribute('d') !== d0);
    input(sm, 'input', '0');
    t('smoothing 0 draws the raw line alone', !svg(loss).querySelector('path.ln.raw') && markup(loss) === before);

    /* the wall-time axis */
    var xs = document.getElementById('gg-x'), g0 = texts(grad);
    input(xs, 'change', 'time');
    t('the wall-time axis', /wall time \(s\)/.test(texts(grad)) && texts(grad) !== g0 &&
      svg(grad).querySelectorAll('path.ln').length > 0);
    input(xs, 'change', 'step');
    t('back to the step axis', texts(grad) === g0);

    /* zoom: a drag across the middle of the gradient chart zooms every chart */
    var r = svg(grad).getBoundingClientRect(), y = r.top + r.height * 0.55, l0 = texts(loss);
    fire(svg(grad), 'mousedown', r.left + r.width * 0.35, y);
    fire(document, 'mousemove', r.left + r.width * 0.6, y);
    fire(document, 'mouseup', r.left + r.width * 0.6, y);
    var reset = document.getElementById('gg-zoom-reset');
    t('a drag zooms the step axis of every chart', texts(grad) !== g0 && texts(loss) !== l0 && !reset.disabled);
    reset.click();
    t('"reset zoom" restores the axes', texts(grad) === g0 && texts(loss) === l0 && reset.disabled);

    /* a comparison: hiding a run and showing it again */
    var boxes = ctl.querySelectorAll('input[data-run]');
    if (boxes.length > 1) {
      var name = boxes[1].parentNode.textContent.trim();
      var has = function () { return texts(loss).split('|').indexOf(name) >= 0; };
      var shown = has();
      boxes[1].checked = false;
      boxes[1].dispatchEvent(new Event('change', { bubbles: true }));
      var hidden = !has();
      boxes[1].checked = true;
      boxes[1].dispatchEvent(new Event('change', { bubbles: true }));
      t('unticking a run hides it, ticking shows it again', shown && hidden && has());
    }
  } catch (e) {
    t('the harness ran without an exception: ' + e, false);
  }
  var pre = document.createElement('pre');
  pre.id = 'gg-test';
  pre.textContent = out.join('\n');
  document.body.appendChild(pre);
})();
