// The drawing pad: draw a digit with the mouse, a finger or a pen (pointer events); while the stroke
// is drawn, the browser prepares the canvas as the dataset's images were made, encodes it with the
// model's encoder, draws q(z|x)'s ellipse over the test codes, decodes its mean and scores it.
//
// Python (app_pages/draw_pad.py, vae_core/views/canvas.py) sends both networks once per model, the
// test codes once per model, and k fixed draws eps for the ELBO and L_k, as base64 float32. The
// preparation, prepare(canvas, net), is draw_prepare.js (vae_core.data.images.ink_to_dataset_image
// step by step), which draw_pad.py puts before this file. Undo drops the last stroke, Clear
// all of them. At each stroke's end the prepared image goes back to Python (trigger "drawn").
// Timings: the root's data-frame-ms (median frame: prepare, encode, draw), data-stroke-ms (each
// stroke's end -> the first task after the frame that painted its ellipse, comma-separated) and
// data-strokes (the count).

const payloads = new Map(); // id -> prepared networks or codes
const instances = new WeakMap(); // parentElement -> pad state
const DRAW = 280; // pixels of the drawing canvas (times data.scale)
const PLANE = 300; // pixels of the latent plane (times data.scale)
const BRUSH = 18; // the pen's width on the 280-pixel canvas
const KEEP = 120;

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
const f32 = (b64) => new Float32Array(bytesOf(b64).buffer);
const layersOf = (ls) => ls.map((l) => ({ out: l.shape[0], inp: l.shape[1], w: f32(l.w), b: f32(l.b) }));
const median = (v) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] : NaN);

function prepareNets(w) {
  return {
    encoder: layersOf(w.encoder),
    decoder: layersOf(w.decoder.layers),
    activation: w.decoder.activation,
    output: w.decoder.output,
    latentDim: w.decoder.latent_dim,
    xDim: w.decoder.x_dim,
    eps: f32(w.eps),
    k: w.k,
    shape: w.image_shape,
    box: w.box,
    work: w.work,
    stroke: w.stroke,
  };
}

function mlp(layers, activation, x) {
  let h = x;
  layers.forEach((L, li) => {
    const out = new Float32Array(L.out);
    for (let o = 0; o < L.out; o++) {
      let s = L.b[o];
      const row = o * L.inp;
      for (let i = 0; i < L.inp; i++) s += L.w[row + i] * h[i];
      out[o] = li === layers.length - 1 ? s : activation === "tanh" ? Math.tanh(s) : s > 0 ? s : 0;
    }
    h = out;
  });
  return h;
}

// -- the model in the browser ----------------------------------------------------------------------
function encode(net, x) {
  const out = mlp(net.encoder, net.activation, x);
  const d = net.latentDim;
  return { mu: out.slice(0, d), logvar: out.slice(d, 2 * d) };
}

const LOG_2PI = Math.log(2 * Math.PI);
const softplus = (l) => (l > 0 ? l + Math.log1p(Math.exp(-l)) : Math.log1p(Math.exp(l)));

// The ELBO (k draws, closed-form KL) and L_k of x with the fixed draws: canvas.canvas_scores.
function score(net, x, q) {
  const d = net.latentDim;
  let kl = 0;
  for (let j = 0; j < d; j++) kl += 0.5 * (q.mu[j] ** 2 + Math.exp(q.logvar[j]) - 1 - q.logvar[j]);
  const logW = [];
  let recSum = 0;
  const z = new Float32Array(d);
  for (let i = 0; i < net.k; i++) {
    let logPz = 0,
      logQ = 0;
    for (let j = 0; j < d; j++) {
      const e = net.eps[i * d + j];
      z[j] = q.mu[j] + Math.exp(0.5 * q.logvar[j]) * e;
      logPz += -0.5 * (z[j] ** 2 + LOG_2PI);
      logQ += -0.5 * (e * e + q.logvar[j] + LOG_2PI);
    }
    const l = mlp(net.decoder, net.activation, z);
    let rec = 0;
    for (let p = 0; p < l.length; p++) rec += x[p] * l[p] - softplus(l[p]);
    recSum += rec;
    logW.push(rec + logPz - logQ);
  }
  const top = Math.max(...logW);
  const lk = top + Math.log(logW.reduce((s, v) => s + Math.exp(v - top), 0) / net.k);
  return { elbo: recSum / net.k - kl, lk, kl };
}

// -- drawing ---------------------------------------------------------------------------------------
function paintStrokes(pad) {
  const ctx = pad.draw.getContext("2d");
  ctx.clearRect(0, 0, pad.draw.width, pad.draw.height);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = BRUSH * (pad.draw.width / DRAW);
  for (const stroke of pad.strokes) {
    ctx.beginPath();
    stroke.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.length === 1) ctx.lineTo(stroke[0][0] + 0.01, stroke[0][1]);
    ctx.stroke();
  }
}

function setup(pad) {
  const canvas = pad.draw;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
  };
  const down = (e) => {
    try {
      canvas.setPointerCapture(e.pointerId); // the stroke goes on past the canvas's edge
    } catch {
      // a pointer the browser no longer tracks: draw without the capture
    }
    pad.strokes.push([at(e)]);
    pad.drawing = true;
    update(pad, e.timeStamp, false);
  };
  const move = (e) => {
    if (!pad.drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const c of events.length ? events : [e]) pad.strokes[pad.strokes.length - 1].push(at(c));
    update(pad, e.timeStamp, false);
  };
  const up = (e) => {
    if (!pad.drawing) return;
    pad.drawing = false;
    update(pad, e.timeStamp, true);
  };
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  const undo = () => (pad.strokes.pop(), update(pad, performance.now(), true));
  const clear = () => ((pad.strokes = []), update(pad, performance.now(), true));
  pad.root.querySelector(".draw-undo").addEventListener("click", undo);
  pad.root.querySelector(".draw-clear").addEventListener("click", clear);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", up);
  };
}

// A pointer event at time t (its timeStamp) changed the strokes: redraw in the next animation frame.
function update(pad, t, strokeEnd) {
  pad.since = pad.since ?? t;
  pad.strokeEnd = pad.strokeEnd || strokeEnd;
  if (pad.pending) return;
  pad.pending = true;
  requestAnimationFrame(() => {
    pad.pending = false;
    frame(pad);
  });
}

function frame(pad) {
  if (!pad.net || !pad.codes) return;
  const t0 = performance.now();
  paintStrokes(pad);
  const x = pad.strokes.length ? prepare(pad.draw, pad.net) : null;
  pad.x = x;
  pad.q = x ? encode(pad.net, x) : null;
  drawPlane(pad);
  drawImages(pad);
  pad.frameMs.push(performance.now() - t0);
  if (pad.frameMs.length > KEEP) pad.frameMs.shift();
  const { since, strokeEnd, q } = pad;
  pad.since = null;
  pad.strokeEnd = false;
  // The scores (k decodes) wait for the next task: the browser paints the ellipse first, and the
  // stroke's latency is taken when that task starts, after the paint.
  setTimeout(() => {
    if (strokeEnd) pad.strokeMs.push(performance.now() - since);
    pad.scores = x ? score(pad.net, x, q) : null;
    report(pad);
    if (strokeEnd) pad.setTriggerValue("drawn", x ? Array.from(x, (v) => Math.round(v * 1e6) / 1e6) : []);
  }, 0);
}

function drawImages(pad) {
  const [h, w] = pad.net.shape;
  const recon = pad.q ? mlp(pad.net.decoder, pad.net.activation, pad.q.mu) : null;
  [
    [pad.seen, pad.x],
    [pad.recon, recon && recon.map((l) => 1 / (1 + Math.exp(-l)))],
  ].forEach(([canvas, values]) => {
    const small = new ImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const v = values ? 255 * (1 - Math.min(1, Math.max(0, values[i]))) : 255; // dark ink on white
      small.data[4 * i] = small.data[4 * i + 1] = small.data[4 * i + 2] = v;
      small.data[4 * i + 3] = 255;
    }
    const tmp = Object.assign(document.createElement("canvas"), { width: w, height: h });
    tmp.getContext("2d").putImageData(small, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  });
}

function planeBackground(pad) {
  const { codes, data } = pad;
  const side = pad.plane.width;
  const canvas = Object.assign(document.createElement("canvas"), { width: side, height: side });
  const ctx = canvas.getContext("2d");
  const toPx = (v) => ((v / data.bound + 1) * side) / 2;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, side, side);
  ctx.strokeStyle = "#ccc";
  for (const k of [1, 2, 3]) {
    ctx.beginPath();
    ctx.arc(toPx(0), toPx(0), (k / data.bound) * (side / 2), 0, 2 * Math.PI);
    ctx.stroke();
  }
  const r = (codes.n > 3000 ? 1 : 2) * data.scale;
  ctx.globalAlpha = 0.6;
  for (let i = 0; i < codes.n; i++) {
    ctx.fillStyle = data.palette[codes.labels[i] % data.palette.length];
    ctx.fillRect(toPx(codes.xy[2 * i]) - r, side - toPx(codes.xy[2 * i + 1]) - r, 2 * r, 2 * r);
  }
  return canvas;
}

function drawPlane(pad) {
  const ctx = pad.plane.getContext("2d");
  ctx.drawImage(pad.background, 0, 0);
  if (!pad.q) return;
  const side = pad.plane.width,
    b = pad.data.bound,
    s = pad.data.scale;
  const toPx = (v) => ((v / b + 1) * side) / 2;
  const [d0, d1] = pad.data.dims;
  const mx = toPx(pad.q.mu[d0]),
    my = side - toPx(pad.q.mu[d1]);
  ctx.strokeStyle = "crimson";
  [1, 2].forEach((k) => {
    ctx.lineWidth = (k === 1 ? 3 : 1.5) * s;
    ctx.setLineDash(k === 1 ? [] : [6 * s, 4 * s]);
    ctx.beginPath();
    const rx = (k * Math.exp(0.5 * pad.q.logvar[d0]) * side) / (2 * b);
    const ry = (k * Math.exp(0.5 * pad.q.logvar[d1]) * side) / (2 * b);
    ctx.ellipse(mx, my, Math.max(rx, 1), Math.max(ry, 1), 0, 0, 2 * Math.PI);
    ctx.stroke();
  });
  ctx.setLineDash([]);
}

function report(pad) {
  const root = pad.root;
  root.dataset.strokes = String(pad.strokes.length);
  root.dataset.frames = String((Number(root.dataset.frames) || 0) + 1);
  root.dataset.frameMs = median(pad.frameMs).toFixed(3);
  root.dataset.strokeMs = pad.strokeMs.map((v) => v.toFixed(2)).join(",");
  root.dataset.image = pad.x ? Array.from(pad.x, (v) => v.toFixed(6)).join(",") : "";
  root.dataset.mu = pad.q ? Array.from(pad.q.mu, (v) => v.toFixed(6)).join(",") : "";
  root.dataset.logvar = pad.q ? Array.from(pad.q.logvar, (v) => v.toFixed(6)).join(",") : "";
  const sc = pad.scores;
  root.dataset.elbo = sc ? sc.elbo.toFixed(4) : "";
  root.dataset.lk = sc ? sc.lk.toFixed(4) : "";
  const [d0, d1] = pad.data.dims;
  pad.readout.textContent = sc
    ? `ELBO ${sc.elbo.toFixed(2)} nats · L_${pad.net.k} ${sc.lk.toFixed(2)} nats (the test images: ELBO ` +
      `${pad.data.test_elbo.toFixed(2)} on average) · μ = (${pad.q.mu[d0].toFixed(2)}, ${pad.q.mu[d1].toFixed(2)}) in (z${d0 + 1}, z${d1 + 1})`
    : "Draw a digit in the box: its q(z|x) appears on the latent plane as you draw.";
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".draw-root");
  let pad = instances.get(parentElement);
  if (!pad) {
    pad = { root, strokes: [], frameMs: [], strokeMs: [], asked: new Set() };
    pad.draw = root.querySelector(".draw-canvas");
    pad.plane = root.querySelector(".draw-plane");
    pad.seen = root.querySelector(".draw-seen");
    pad.recon = root.querySelector(".draw-recon");
    pad.readout = root.querySelector(".draw-readout");
    pad.teardown = setup(pad);
    instances.set(parentElement, pad);
  }
  pad.setTriggerValue = setTriggerValue;
  if (data.weights) payloads.set(data.weights_id, prepareNets(data.weights));
  if (data.codes)
    payloads.set(data.codes_id, { ...data.codes, xy: f32(data.codes.xy), labels: bytesOf(data.codes.labels) });
  const missing = [data.weights_id, data.codes_id].filter((id) => !payloads.has(id) && !pad.asked.has(id));
  if (missing.length) {
    missing.forEach((id) => pad.asked.add(id));
    setTriggerValue("missing", missing);
    return pad.teardown;
  }
  const previous = pad.data || {};
  pad.data = data;
  pad.net = payloads.get(data.weights_id);
  pad.codes = payloads.get(data.codes_id);
  if (!pad.net || !pad.codes) return pad.teardown;
  const side = Math.round(PLANE * data.scale),
    drawSide = Math.round(DRAW * data.scale);
  if (pad.plane.width !== side || pad.plane.height !== side) {
    pad.plane.width = pad.plane.height = side;
    pad.plane.style.width = pad.plane.style.height = `${side}px`;
    pad.background = null;
  }
  if (pad.draw.width !== drawSide || pad.draw.height !== drawSide) {
    pad.draw.width = pad.draw.height = drawSide;
    pad.draw.style.width = pad.draw.style.height = `${drawSide}px`;
    pad.strokes = [];
  }
  const [h, w] = pad.net.shape;
  const px = Math.floor(Math.round(112 * data.scale) / Math.max(h, w));
  for (const c of [pad.seen, pad.recon]) {
    c.width = w * px;
    c.height = h * px;
  }
  if (previous.codes_id !== data.codes_id || previous.bound !== data.bound || !pad.background)
    pad.background = planeBackground(pad);
  // Another model re-encodes the same drawing, and the page scores it again.
  update(pad, performance.now(), previous.weights_id !== data.weights_id && pad.strokes.length > 0);
  return pad.teardown;
}
