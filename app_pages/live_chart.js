// The live chart: a training run's charts on a canvas, redrawn at each poll while it trains.
//
// Python (app_pages/live_chart.py, vae_core/views/live.py) sends one payload per poll, of a kind:
//   "lines": stacked panels sharing the x axis (the curves: reconstruction, KL, ELBO; or β), each
//            series a line (a gap at null; "hv" a step line) and/or markers, with a legend;
//   "bars":  KL per latent dimension, a collapsed unit grey;
//   "codes": every test code in one PNG on the square [-lim, lim]², the prior's 1, 2 and 3σ
//            circles over it, and a legend of the colours.
// data.height is the chart's CSS height, data.scale enlarges type and lines (presenter mode), data.label
// is the canvas's accessible name. The chart follows its width (a ResizeObserver) and the device's pixel
// ratio. For tests, the root's data-draws counts the draws, data-points the points of the last one and
// data-x-max its largest x.

const charts = new WeakMap(); // parentElement -> chart state

function setup(chart) {
  const stop = followWidth(chart, draw);
  return () => {
    stop();
    charts.delete(chart.parent);
  };
}

function draw(chart) {
  const { canvas, data } = chart;
  if (!data || !chart.width) return;
  const W = chart.width;
  const H = data.height;
  const pen = penFor(canvas, chart.root, W, H, data.scale || 1);
  const points = { n: 0, xMax: null };
  if (data.kind === "lines") drawLines(pen, data, W, H, points);
  else if (data.kind === "bars") drawBars(pen, data, W, H, points);
  else if (data.kind === "codes") drawCodes(pen, chart, W, H, points);
  canvas.setAttribute("aria-label", data.label || "");
  chart.root.dataset.kind = data.kind;
  chart.root.dataset.draws = String(Number(chart.root.dataset.draws || 0) + 1);
  chart.root.dataset.points = String(points.n);
  if (points.xMax !== null) chart.root.dataset.xMax = String(points.xMax);
}

function drawLines(pen, data, W, H, points) {
  const { ctx, s } = pen;
  const n = data.panels.length;
  const left = 75 * s;
  const right = data.legend ? 200 * s : 15 * s;
  const top = 26 * s;
  const bottom = 50 * s;
  const gap = 34 * s;
  const w = Math.max(10, W - left - right);
  const h = Math.max(10, (H - top - bottom - gap * (n - 1)) / n);
  const xs = data.series.flatMap((c) => c.x);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)] : [0, 1];
  const toX = (v) => left + ((v - x0) / (x1 - x0)) * w;
  const xt = ticks(x0, x1, Math.max(2, Math.floor(w / (90 * s))));
  data.panels.forEach((panel, p) => {
    const box = { x: left, y: top + p * (h + gap), w, h };
    const mine = data.series.filter((c) => c.panel === p);
    const [lo, hi] = extent(
      mine.flatMap((c) => c.y),
      panel.from_zero,
    );
    text(pen, panel.title, box.x, box.y - 8 * s, "left", "alphabetic");
    for (const v of xt.values) grid(pen, toX(v), toX(v), box.y, box.y + box.h);
    const toY = yAxis(pen, box, lo, hi, panel.y_title);
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.x, box.y, box.w, box.h);
    ctx.clip();
    for (const c of mine) {
      ctx.strokeStyle = ctx.fillStyle = c.color;
      ctx.globalAlpha = c.opacity ?? 1;
      ctx.lineWidth = (c.width ?? 2) * s;
      ctx.setLineDash(dashOf(c.dash, s));
      if (c.lines !== false) {
        ctx.beginPath();
        let open = false;
        c.x.forEach((xv, i) => {
          const yv = c.y[i];
          if (yv === null) return void (open = false);
          if (!open) ctx.moveTo(toX(xv), toY(yv));
          else if (c.shape === "hv") {
            ctx.lineTo(toX(xv), toY(c.y[i - 1]));
            ctx.lineTo(toX(xv), toY(yv));
          } else ctx.lineTo(toX(xv), toY(yv));
          open = true;
        });
        ctx.stroke();
      }
      ctx.setLineDash([]);
      if (c.markers) {
        c.x.forEach((xv, i) => {
          if (c.y[i] === null) return;
          ctx.beginPath();
          ctx.arc(toX(xv), toY(c.y[i]), 3 * s, 0, 2 * Math.PI);
          ctx.fill();
        });
      }
      points.n += c.y.filter((v) => v !== null).length;
      if (c.x.length) points.xMax = Math.max(points.xMax ?? -Infinity, c.x[c.x.length - 1]);
    }
    ctx.restore();
  });
  const last = top + (n - 1) * (h + gap) + h;
  for (const v of xt.values) text(pen, label(v, xt.step), toX(v), last + 6 * s, "center", "top");
  text(pen, data.x_title, left + w / 2, last + 28 * s, "center", "top");
  if (data.legend) legend(pen, data.series, left + w + 20 * s, top);
}

function drawBars(pen, data, W, H, points) {
  const { ctx, s } = pen;
  const box = { x: 75 * s, y: 40 * s, w: Math.max(10, W - 90 * s), h: Math.max(10, H - 80 * s) };
  text(pen, data.title, box.x, 22 * s, "left", "middle");
  const [, hi] = extent(data.y, true);
  const toY = yAxis(pen, box, 0, hi, data.y_title);
  const n = data.y.length;
  const slot = box.w / Math.max(1, n);
  const every = Math.max(1, Math.ceil((40 * s) / slot)); // a label per 40 px at most
  data.y.forEach((v, i) => {
    const x = box.x + i * slot;
    if (v !== null) {
      ctx.fillStyle = data.colors[i];
      ctx.fillRect(x + slot * 0.1, toY(v), slot * 0.8, toY(0) - toY(v));
      points.n += 1;
    }
    if (i % every === 0) text(pen, data.labels[i], x + slot / 2, box.y + box.h + 6 * s, "center", "top");
  });
}

function drawCodes(pen, chart, W, H, points) {
  const { ctx, s } = pen;
  const { data } = chart;
  const left = 70 * s;
  const top = 15 * s;
  const side = Math.max(10, Math.min(W - left - 190 * s, H - top - 60 * s));
  const box = { x: left, y: top, w: side, h: side };
  const lim = data.lim;
  const toX = (v) => box.x + ((v + lim) / (2 * lim)) * side;
  const toY = yAxis(pen, box, -lim, lim, data.titles[1]);
  const xt = ticks(-lim, lim, Math.max(2, Math.floor(side / (60 * s))));
  for (const v of xt.values) {
    grid(pen, toX(v), toX(v), box.y, box.y + side);
    text(pen, label(v, xt.step), toX(v), box.y + side + 6 * s, "center", "top");
  }
  text(pen, data.titles[0], box.x + side / 2, box.y + side + 28 * s, "center", "top");
  if (chart.picture) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(chart.picture, box.x, box.y, side, side);
    points.n = 1;
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x, box.y, side, side);
  ctx.clip();
  ctx.strokeStyle = "#999999";
  ctx.lineWidth = s;
  ctx.setLineDash([2 * s, 3 * s]);
  for (const k of [1, 2, 3]) {
    ctx.beginPath();
    ctx.arc(toX(0), toY(0), (k / (2 * lim)) * side, 0, 2 * Math.PI);
    ctx.stroke();
  }
  ctx.restore();
  const entries = [{ name: "prior N(0, I): 1, 2, 3σ", color: "#999999", dash: "dot", width: 1 }];
  for (const [name, color] of data.legend) entries.push({ name, color, lines: false, markers: true });
  text(pen, "label", box.x + side + 20 * s, top + 6 * s, "left", "middle");
  legend(pen, entries, box.x + side + 20 * s, top + 22 * s);
}

export default function (component) {
  const { data, parentElement } = component;
  let chart = charts.get(parentElement);
  if (!chart) {
    const root = parentElement.querySelector(".live-root");
    chart = { parent: parentElement, root, canvas: root.querySelector(".live-canvas"), width: 0, picture: null };
    chart.width = Math.floor(root.clientWidth);
    chart.teardown = setup(chart);
    charts.set(parentElement, chart);
  }
  chart.data = data;
  if (data.kind === "codes" && data.picture !== chart.source) {
    chart.source = data.picture;
    const image = new Image();
    image.onload = () => {
      if (chart.source !== data.picture) return; // a newer picture is on its way
      chart.picture = image;
      draw(chart);
    };
    image.src = data.picture;
  }
  draw(chart);
  return chart.teardown;
}
