// Drawing helpers shared by the canvas charts (live_chart.js, codes_chart.js): nice ticks and their
// labels, data extents, dashes, and a pen ({ ctx, s: scale, ink, font }) that writes text, grid lines,
// a y axis and a legend. Python prepends this file to each chart's module (one source, no import).

const FONT = 12; // px, times data.scale
const GRID_ALPHA = 0.15;

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw) || 10;
  return unit * power;
}

function ticks(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { values: out, step };
}

function label(v, step) {
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return Math.abs(v) >= 1e4 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) : v.toFixed(digits);
}

function extent(values, fromZero) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (fromZero) lo = Math.min(0, lo);
  if (hi - lo < 1e-9) return [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.05;
  return [fromZero && lo === 0 ? 0 : lo - pad, hi + pad];
}

function dashOf(dash, s) {
  if (dash === "dot") return [2 * s, 3 * s];
  if (dash === "dash") return [6 * s, 4 * s];
  return [];
}

function text(pen, value, x, y, align = "left", base = "alphabetic", angle = 0) {
  const { ctx } = pen;
  ctx.save();
  ctx.fillStyle = pen.ink;
  ctx.textAlign = align;
  ctx.textBaseline = base;
  ctx.translate(x, y);
  if (angle) ctx.rotate(angle);
  ctx.fillText(value, 0, 0);
  ctx.restore();
}

function grid(pen, x0, x1, y0, y1) {
  const { ctx } = pen;
  ctx.save();
  ctx.strokeStyle = pen.ink;
  ctx.globalAlpha = GRID_ALPHA;
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.restore();
}

function yAxis(pen, box, lo, hi, title) {
  const { values, step } = ticks(lo, hi, Math.max(2, Math.floor(box.h / (40 * pen.s))));
  const toY = (v) => box.y + box.h - ((v - lo) / (hi - lo)) * box.h;
  for (const v of values) {
    grid(pen, box.x, box.x + box.w, toY(v), toY(v));
    text(pen, label(v, step), box.x - 6 * pen.s, toY(v), "right", "middle");
  }
  if (title) text(pen, title, box.x - 55 * pen.s, box.y + box.h / 2, "center", "middle", -Math.PI / 2);
  return toY;
}

// Each series once by name, from (x, y) down, 20 px a row; a series with ``faded`` is drawn pale (a
// hidden class). Returns each row's box { name, x, y, w, h } (for clicks on it).
function legend(pen, series, x, y) {
  const { ctx, s } = pen;
  const seen = new Set();
  const rows = [];
  let row = 0;
  for (const c of series) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    const cy = y + row * 20 * s + 6 * s;
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = c.color;
    ctx.globalAlpha = c.faded ? 0.2 : Math.max(0.6, c.opacity ?? 1);
    ctx.lineWidth = Math.max(2, c.width ?? 2) * s;
    ctx.setLineDash(dashOf(c.dash, s));
    if (c.lines !== false) {
      ctx.beginPath();
      ctx.moveTo(x, cy);
      ctx.lineTo(x + 24 * s, cy);
      ctx.stroke();
    }
    if (c.markers) {
      ctx.beginPath();
      ctx.arc(x + 12 * s, cy, 3 * s, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
    ctx.save();
    if (c.faded) ctx.globalAlpha = 0.4;
    text(pen, c.name, x + 30 * s, cy, "left", "middle");
    ctx.restore();
    rows.push({ name: c.name, x, y: cy - 10 * s, w: 30 * s + pen.ctx.measureText(c.name).width, h: 20 * s });
    row += 1;
  }
  return rows;
}

// Call onWidth(width) whenever the element's width changes (not for a height change); returns the teardown.
function observeWidth(element, onWidth) {
  let last = 0;
  const observer = new ResizeObserver((entries) => {
    const width = Math.floor(entries[entries.length - 1].contentRect.width);
    if (width > 0 && width !== last) onWidth((last = width));
  });
  observer.observe(element);
  return () => observer.disconnect();
}

// Keep chart.width the width of chart.root, redrawing the chart when it changes; returns the teardown.
function followWidth(chart, redraw) {
  return observeWidth(chart.root, (width) => {
    if (width === chart.width) return;
    chart.width = width;
    redraw(chart);
  });
}

// Size the canvas to W x H CSS pixels at the device's pixel ratio, cleared; a pen in the theme's
// ink and type (from the element's computed style), enlarged by the scale s.
function penFor(canvas, themed, W, H, s) {
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    canvas.style.height = `${H}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const style = getComputedStyle(themed);
  const pen = { ctx, s, ink: style.color, font: `${FONT * s}px ${style.fontFamily}` };
  ctx.font = pen.font;
  return pen;
}
