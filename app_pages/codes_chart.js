// The codes chart: every test code as a disc of its class's colour on a canvas, for the pages that
// draw a whole test set's codes (Latent space: its z-plane and its PCA / t-SNE view; Compare two
// runs; Your own image), where a plotly chart of 10,000 WebGL markers took a second of the
// browser's two cores to mount.
//
// Python (app_pages/codes_chart.py, vae_core/views/latent_figures.codes_payload) sends the codes as
// base64 float32 (x, y) pairs in the order they are drawn (a fixed shuffle, so no class lies wholly
// over another), the test-set row of each (uint32) and its class (uint8); the axes' ranges (null:
// the data's extent), whether the plane is square, the prior's 1, 2 and 3σ circles, the picked row,
// a marked point (your image's code, a draw z*), lines over the codes (q(z|x)'s ellipses).
// Hover names the code under the pointer (test image #row: class (x, y)); a click on it sends its row
// back (trigger "picked"). A click on a legend entry shows that class alone (again: all of them).
// The wheel zooms about the pointer, a drag pans, a double click goes back to the whole view; the
// button saves the chart as PNG (not shown where data.toolbar is false: presenter mode). data.scale enlarges type, discs and lines (presenter mode). For
// tests, the root's data-draws counts draws, data-points the discs of the last one, data-shown the
// classes shown, data-x-title the x axis's title, data-radius and data-font the discs' and the
// type's size in CSS pixels, data-view the axes' ranges (x0,x1,y0,y1) and data-legend its entries'
// boxes on the canvas.

const charts = new WeakMap(); // parentElement -> chart state
const RADIUS = 3; // px, times data.scale: plotly's marker size 6
const HIT = 8; // px, times data.scale: how near the pointer a code must be to be named
const CELL = 16; // px: the hover index's grid
const ZOOM = 1.0015; // per wheel delta pixel

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function decodeCodes(data) {
  return {
    xy: new Float32Array(bytesOf(data.xy).buffer),
    rows: new Uint32Array(bytesOf(data.rows).buffer),
    labels: bytesOf(data.labels),
  };
}

function fullView(data, codes) {
  const xs = [];
  const ys = [];
  for (let i = 0; i < codes.rows.length; i++) {
    xs.push(codes.xy[2 * i]);
    ys.push(codes.xy[2 * i + 1]);
  }
  const [x0, x1] = data.x_range || extent(xs, false);
  const [y0, y1] = data.y_range || extent(ys, false);
  return { x0, x1, y0, y1 };
}

function sprite(color, r, dpr) {
  const side = Math.ceil(2 * r * dpr) + 2;
  const c = document.createElement("canvas");
  c.width = c.height = side;
  const ctx = c.getContext("2d");
  ctx.globalAlpha = 0.8;
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(side / 2, side / 2, r * dpr, 0, 2 * Math.PI);
  ctx.fill();
  return c;
}

// The plot's box and the data -> pixel maps for the chart's current view.
function frameOf(chart, W, H) {
  const { data } = chart;
  const s = data.scale || 1;
  const left = 70 * s;
  const top = 15 * s;
  const right = 190 * s; // the legend
  const bottom = 60 * s;
  let w = Math.max(10, W - left - right);
  let h = Math.max(10, H - top - bottom);
  if (data.square) w = h = Math.min(w, h);
  const v = chart.view;
  const toX = (x) => left + ((x - v.x0) / (v.x1 - v.x0)) * w;
  const toY = (y) => top + h - ((y - v.y0) / (v.y1 - v.y0)) * h;
  const fromX = (px) => v.x0 + ((px - left) / w) * (v.x1 - v.x0);
  const fromY = (py) => v.y0 + ((top + h - py) / h) * (v.y1 - v.y0);
  return { box: { x: left, y: top, w, h }, toX, toY, fromX, fromY, s };
}

function draw(chart) {
  const { canvas, data, codes } = chart;
  if (!data || !codes || !chart.width) return;
  const W = chart.width;
  const s = data.scale || 1;
  const f = frameOf(chart, W, data.height);
  const rowsOfLegend = data.classes.length + 4 + (data.curves || []).length; // its title, the prior, a picked image, a marker, the curves
  // A square plane narrower than it is tall ends the chart under it (the legend's rows at least)
  const H = data.square ? Math.round(Math.max(f.box.y + f.box.h + 60 * s, (30 + 20 * rowsOfLegend) * s)) : data.height;
  const pen = penFor(canvas, chart.root, W, H, s);
  const { ctx } = pen;
  const { box, toX, toY } = f;
  chart.frame = f;
  const xt = ticks(chart.view.x0, chart.view.x1, Math.max(2, Math.floor(box.w / (70 * s))));
  for (const v of xt.values) {
    grid(pen, toX(v), toX(v), box.y, box.y + box.h);
    text(pen, label(v, xt.step), toX(v), box.y + box.h + 6 * s, "center", "top");
  }
  yAxis(pen, box, chart.view.y0, chart.view.y1, data.titles[1]);
  text(pen, data.titles[0], box.x + box.w / 2, box.y + box.h + 28 * s, "center", "top");
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x, box.y, box.w, box.h);
  ctx.clip();
  if (data.prior) {
    ctx.strokeStyle = "#999999";
    ctx.lineWidth = s;
    ctx.setLineDash([2 * s, 3 * s]);
    for (const k of [1, 2, 3]) {
      ctx.beginPath();
      ctx.ellipse(toX(0), toY(0), toX(k) - toX(0), toY(0) - toY(k), 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
  const dpr = window.devicePixelRatio || 1;
  const r = RADIUS * s;
  if (!chart.sprites || chart.sprites.key !== `${r}:${dpr}`) {
    chart.sprites = { key: `${r}:${dpr}`, all: data.classes.map(([, color]) => sprite(color, r, dpr)) };
  }
  const half = chart.sprites.all.length ? chart.sprites.all[0].width / dpr / 2 : 0;
  const index = new Map(); // grid cell -> the codes drawn in it (screen positions)
  let drawn = 0;
  for (let i = 0; i < codes.rows.length; i++) {
    const label_ = codes.labels[i];
    if (chart.hidden.has(label_)) continue;
    const px = toX(codes.xy[2 * i]);
    const py = toY(codes.xy[2 * i + 1]);
    if (px < box.x - r || px > box.x + box.w + r || py < box.y - r || py > box.y + box.h + r) continue;
    const img = chart.sprites.all[label_];
    if (img) ctx.drawImage(img, px - half, py - half, 2 * half, 2 * half);
    const cell = `${Math.floor(px / CELL)},${Math.floor(py / CELL)}`;
    if (!index.has(cell)) index.set(cell, []);
    index.get(cell).push(i);
    drawn += 1;
  }
  chart.index = index;
  const curves = data.curves || [];
  for (const c of curves) {
    ctx.strokeStyle = c.color;
    ctx.lineWidth = 2 * s;
    ctx.setLineDash(dashOf(c.dash, s));
    ctx.beginPath();
    for (let k = 0; k < c.xy.length; k += 2) {
      const [px, py] = [toX(c.xy[k]), toY(c.xy[k + 1])];
      if (k) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  const picked = data.picked === null ? -1 : codes.rows.indexOf(data.picked);
  if (picked >= 0) {
    ctx.strokeStyle = pen.ink;
    ctx.lineWidth = 3 * s;
    ctx.beginPath();
    ctx.arc(toX(codes.xy[2 * picked]), toY(codes.xy[2 * picked + 1]), 9 * s, 0, 2 * Math.PI);
    ctx.stroke();
  }
  if (data.marker) cross(ctx, toX(data.marker[0]), toY(data.marker[1]), 8 * s, s, data.marker_color);
  ctx.restore();
  const entries = data.prior ? [{ name: "prior N(0, I): 1, 2, 3σ", color: "#999999", dash: "dot", width: 1 }] : [];
  for (const c of curves) entries.push({ name: c.name, color: c.color, dash: c.dash, width: 2 });
  if (picked >= 0) entries.push({ name: data.picked_name || `test image #${data.picked}`, color: pen.ink, lines: false, markers: true });
  if (data.marker) entries.push({ name: data.marker_name, color: data.marker_color, lines: false, markers: true });
  data.classes.forEach(([name, color], c) => {
    entries.push({ name, color, lines: false, markers: true, faded: chart.hidden.has(c), cls: c });
  });
  const lx = box.x + box.w + 20 * s;
  if (data.classes.length > 1) text(pen, data.legend_title || "label", lx, box.y + 6 * s, "left", "middle");
  const rows = legend(pen, entries, lx, box.y + 22 * s);
  chart.legendRows = rows.map((row, i) => ({ ...row, cls: entries[i].cls }));
  const shown = data.classes.filter((_, c) => !chart.hidden.has(c)).map(([name]) => name);
  canvas.setAttribute("aria-label", data.label || "");
  chart.root.dataset.draws = String(Number(chart.root.dataset.draws || 0) + 1);
  chart.root.dataset.points = String(drawn);
  chart.root.dataset.shown = shown.join(",");
  chart.root.dataset.xTitle = data.titles[0];
  chart.root.dataset.radius = String(r);
  chart.root.dataset.view = [chart.view.x0, chart.view.x1, chart.view.y0, chart.view.y1].map((v) => v.toFixed(3)).join(",");
  chart.root.dataset.legend = JSON.stringify(rows.map(({ name, x, y, w, h }) => ({ name, x, y, w, h })));
  chart.root.dataset.font = String(FONT * s);
}

// A filled, outlined ✕ of half-width arm at (x, y): the marker of "your image", over every code.
function cross(ctx, x, y, arm, s, color) {
  ctx.save();
  ctx.lineCap = "round";
  for (const [width, ink] of [[6 * s, "white"], [3 * s, color]]) {
    ctx.strokeStyle = ink;
    ctx.lineWidth = width;
    ctx.beginPath();
    ctx.moveTo(x - arm, y - arm);
    ctx.lineTo(x + arm, y + arm);
    ctx.moveTo(x + arm, y - arm);
    ctx.lineTo(x - arm, y + arm);
    ctx.stroke();
  }
  ctx.restore();
}

function nearest(chart, px, py) {
  const { codes, frame, index } = chart;
  if (!index || !frame) return -1;
  const reach = HIT * frame.s;
  let best = -1;
  let bestD = reach * reach;
  const cx = Math.floor(px / CELL);
  const cy = Math.floor(py / CELL);
  const span = Math.ceil(reach / CELL);
  for (let gx = cx - span; gx <= cx + span; gx++) {
    for (let gy = cy - span; gy <= cy + span; gy++) {
      for (const i of index.get(`${gx},${gy}`) || []) {
        const dx = frame.toX(codes.xy[2 * i]) - px;
        const dy = frame.toY(codes.xy[2 * i + 1]) - py;
        const d = dx * dx + dy * dy;
        if (d <= bestD) [best, bestD] = [i, d]; // a later (drawn on top) code wins a tie
      }
    }
  }
  return best;
}

function schedule(chart) {
  if (chart.pending) return;
  chart.pending = true;
  requestAnimationFrame(() => {
    chart.pending = false;
    draw(chart);
  });
}

function setup(chart) {
  const { canvas, tip } = chart;
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  };
  const inBox = (px, py) => {
    const b = chart.frame && chart.frame.box;
    return b && px >= b.x && px <= b.x + b.w && py >= b.y && py <= b.y + b.h;
  };
  const hover = (px, py) => {
    const i = inBox(px, py) ? nearest(chart, px, py) : -1;
    if (i < 0) {
      tip.hidden = true;
      canvas.style.cursor = inBox(px, py) ? "grab" : "default";
      return;
    }
    const { codes, data } = chart;
    const name = (data.classes[codes.labels[i]] || ["test code"])[0];
    const x = codes.xy[2 * i].toFixed(2);
    const y = codes.xy[2 * i + 1].toFixed(2);
    tip.textContent = `test image #${codes.rows[i]}: ${name} (${x}, ${y})`;
    tip.hidden = false;
    tip.style.left = `${px + 12}px`;
    tip.style.top = `${py + 12}px`;
    canvas.style.cursor = "pointer";
  };
  const onMove = (event) => {
    const [px, py] = at(event);
    if (chart.drag) {
      const f = chart.frame;
      const dx = f.fromX(chart.drag.px) - f.fromX(px);
      const dy = f.fromY(chart.drag.py) - f.fromY(py);
      if (Math.abs(px - chart.drag.px) + Math.abs(py - chart.drag.py) > 3) chart.drag.moved = true;
      chart.view = { x0: chart.view.x0 + dx, x1: chart.view.x1 + dx, y0: chart.view.y0 + dy, y1: chart.view.y1 + dy };
      chart.drag.px = px;
      chart.drag.py = py;
      tip.hidden = true;
      schedule(chart);
      return;
    }
    hover(px, py);
  };
  const onDown = (event) => {
    const [px, py] = at(event);
    if (!inBox(px, py) || event.button !== 0) return;
    chart.drag = { px, py, moved: false };
    canvas.setPointerCapture(event.pointerId);
  };
  const onUp = (event) => {
    const drag = chart.drag;
    chart.drag = null;
    if (drag && drag.moved) return;
    const [px, py] = at(event);
    const row = chart.legendRows.find((r) => px >= r.x && px <= r.x + r.w && py >= r.y && py <= r.y + r.h);
    if (row && row.cls !== undefined) {
      const all = chart.data.classes.map((_, c) => c);
      const alone = all.every((c) => (c === row.cls) !== chart.hidden.has(c));
      chart.hidden = new Set(alone ? [] : all.filter((c) => c !== row.cls));
      schedule(chart);
      return;
    }
    const i = inBox(px, py) ? nearest(chart, px, py) : -1;
    if (i >= 0) chart.setTriggerValue("picked", chart.codes.rows[i]);
  };
  const onWheel = (event) => {
    const [px, py] = at(event);
    if (!inBox(px, py)) return;
    event.preventDefault();
    const f = chart.frame;
    const k = ZOOM ** event.deltaY; // > 1: out
    const cx = f.fromX(px);
    const cy = f.fromY(py);
    const v = chart.view;
    chart.view = { x0: cx + (v.x0 - cx) * k, x1: cx + (v.x1 - cx) * k, y0: cy + (v.y0 - cy) * k, y1: cy + (v.y1 - cy) * k };
    schedule(chart);
  };
  const onDouble = () => {
    chart.view = fullView(chart.data, chart.codes);
    schedule(chart);
  };
  const onLeave = () => {
    tip.hidden = true;
  };
  const onSave = () => {
    canvas.toBlob((blob) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${chart.data.filename || "codes"}.png`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    });
  };
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("dblclick", onDouble);
  canvas.addEventListener("pointerleave", onLeave);
  chart.save.addEventListener("click", onSave);
  const stop = followWidth(chart, draw);
  return () => {
    stop();
    canvas.removeEventListener("pointermove", onMove);
    canvas.removeEventListener("pointerdown", onDown);
    canvas.removeEventListener("pointerup", onUp);
    canvas.removeEventListener("wheel", onWheel);
    canvas.removeEventListener("dblclick", onDouble);
    canvas.removeEventListener("pointerleave", onLeave);
    chart.save.removeEventListener("click", onSave);
    charts.delete(chart.parent);
  };
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let chart = charts.get(parentElement);
  if (!chart) {
    const root = parentElement.querySelector(".codes-root");
    chart = {
      parent: parentElement,
      root,
      canvas: root.querySelector(".codes-canvas"),
      tip: root.querySelector(".codes-tip"),
      save: root.querySelector(".codes-save"),
      width: Math.floor(root.clientWidth),
      hidden: new Set(),
      legendRows: [],
    };
    chart.teardown = setup(chart);
    charts.set(parentElement, chart);
  }
  chart.setTriggerValue = setTriggerValue;
  chart.save.hidden = data.toolbar === false;
  const fresh = !chart.data || chart.data.codes_id !== data.codes_id; // other codes: decode them
  const another = !chart.data || chart.data.view_id !== data.view_id; // another chart: its own zoom and legend
  const reframe =
    another || JSON.stringify([chart.data.x_range, chart.data.y_range]) !== JSON.stringify([data.x_range, data.y_range]);
  chart.data = data;
  if (fresh) {
    chart.codes = decodeCodes(data);
    chart.sprites = null;
  }
  if (another) chart.hidden = new Set();
  if (reframe) chart.view = fullView(data, chart.codes);
  draw(chart);
  return chart.teardown;
}
