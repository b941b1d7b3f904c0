// The latent pad: decodes z -> E[x|z] in the browser while the pointer moves over the latent plane.
//
// Python (app_pages/latent_pad.py, vae_core/pad.py) sends the decoder's weights once per model and
// the test codes once per (model, dims), as base64 float32; later reruns send only their ids, the
// slider position and the plane's extent. This module keeps the decoded payloads in a Map that
// outlives reruns; when it lacks one (a reloaded page) it asks for it with the trigger "missing".
// Decoding is a ReLU (or tanh) MLP in plain JavaScript (then a sigmoid for Bernoulli pixels), drawn to a
// canvas scaled up with nearest neighbour, once per animation frame at most. A click sends the
// position back (trigger "picked") so the server-side sliders follow. The plane takes the keyboard
// focus: arrow keys move the point (Shift: five times as far), Enter or Space moves the sliders
// there, Escape goes back to the sliders. A click on a legend chip shows that class alone.
// data.scale enlarges everything (presenter mode); data.timings adds the timings to the readout.
// Timings: performance.now() around each decode and frame; medians of the last 120 are written to
// the root's data-decode-ms / data-frame-ms, a 300-decode benchmark (run when the browser is idle,
// not in the first render's way) to data-bench-decode-ms.

const payloads = new Map(); // id -> prepared weights or codes
const instances = new WeakMap(); // parentElement -> pad state
const KEEP = 120; // frames in the rolling medians
const PLANE = 300; // pixels of the latent plane (times data.scale)
const IMAGE = 208; // at most this many pixels for the decoded image (a whole multiple of its size; times data.scale)
const KEY_STEPS = 60; // an arrow key moves the point by 1/60 of the plane's width (Shift: 5 times that)

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const f32 = (b64) => new Float32Array(bytesOf(b64).buffer);

function prepareWeights(w) {
  const layers = w.layers.map((l) => ({ out: l.shape[0], inp: l.shape[1], w: f32(l.w), b: f32(l.b) }));
  const widest = Math.max(...layers.map((l) => l.out));
  return { ...w, layers, bufs: [new Float32Array(widest), new Float32Array(widest)] };
}

function prepareCodes(c) {
  const points = c.data_xy ? f32(c.data_xy) : null; // test data in the plane, for 2-D point sets
  return { ...c, xy: f32(c.xy), labels: bytesOf(c.labels), data_xy: points };
}

// E[x|z] for one z (Float32Array(latent_dim)) into out (Float32Array(x_dim)).
function decode(net, z, out) {
  let h = z;
  const last = net.layers.length - 1;
  net.layers.forEach((L, li) => {
    const dst = li === last ? out : net.bufs[li % 2];
    for (let o = 0; o < L.out; o++) {
      let s = L.b[o];
      const row = o * L.inp;
      for (let i = 0; i < L.inp; i++) s += L.w[row + i] * h[i];
      dst[o] = li === last ? s : net.activation === "tanh" ? Math.tanh(s) : s > 0 ? s : 0;
    }
    h = dst;
  });
  if (net.output === "sigmoid") for (let o = 0; o < out.length; o++) out[o] = 1 / (1 + Math.exp(-out[o]));
  return out;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

function setup(root, pad) {
  const plane = root.querySelector(".pad-plane");
  const toZ = (event) => {
    const r = plane.getBoundingClientRect();
    const b = pad.data.bound;
    return [(-1 + (2 * (event.clientX - r.left)) / r.width) * b, (1 - (2 * (event.clientY - r.top)) / r.height) * b];
  };
  const onMove = (event) => {
    pad.pointer = toZ(event);
    schedule(pad);
  };
  const onClick = (event) => {
    const z = toZ(event).map((v) => Math.round(v * 100) / 100);
    pad.setTriggerValue("picked", z);
  };
  const onKey = (event) => {
    const b = pad.data.bound;
    const at = pad.pointer || pad.data.z;
    if (event.key in ARROWS) {
      const step = ((2 * b) / KEY_STEPS) * (event.shiftKey ? 5 : 1);
      const [dx, dy] = ARROWS[event.key];
      pad.pointer = [clamp(at[0] + dx * step, b), clamp(at[1] + dy * step, b)];
    } else if (event.key === "Enter" || event.key === " ") {
      pad.setTriggerValue("picked", at.map((v) => Math.round(v * 100) / 100));
    } else if (event.key === "Escape") {
      pad.pointer = null;
    } else {
      return;
    }
    event.preventDefault(); // the page does not scroll under the arrow keys
    schedule(pad);
  };
  plane.addEventListener("pointermove", onMove);
  plane.addEventListener("click", onClick);
  plane.addEventListener("keydown", onKey);
  return () => {
    plane.removeEventListener("pointermove", onMove);
    plane.removeEventListener("click", onClick);
    plane.removeEventListener("keydown", onKey);
  };
}

const clamp = (v, b) => Math.min(b, Math.max(-b, v));

function schedule(pad) {
  if (pad.pending) return;
  pad.pending = true;
  requestAnimationFrame(() => {
    pad.pending = false;
    frame(pad);
  });
}

function frame(pad) {
  const { net, codes, data } = pad;
  if (!net || !codes) return;
  const t0 = performance.now();
  const at = pad.pointer || data.z;
  const z = Float32Array.from(data.base);
  data.dims.forEach((d, i) => (z[d] = at[i]));
  decode(net, z, pad.out);
  const t1 = performance.now();
  drawImage(pad);
  drawPlane(pad, at);
  const t2 = performance.now();
  if (pad.pointer) {
    pad.decodeMs.push(t1 - t0);
    pad.frameMs.push(t2 - t0);
    if (pad.decodeMs.length > KEEP) pad.decodeMs.shift(), pad.frameMs.shift();
    pad.frames += 1;
  }
  report(pad, at);
}

function report(pad, at) {
  const root = pad.root;
  root.dataset.frames = String(pad.frames);
  root.dataset.bound = String(pad.data.bound);
  root.dataset.z = at.map((v) => v.toFixed(3)).join(",");
  const decodeMs = median(pad.decodeMs);
  const frameMs = median(pad.frameMs);
  root.dataset.decodeMs = decodeMs.toFixed(4);
  root.dataset.frameMs = frameMs.toFixed(4);
  const [a, b] = pad.data.dims.map((d) => `z${d + 1}`);
  const signed = (v) => `${v >= 0 ? "+" : ""}${v.toFixed(2)}`;
  let text = `(${a}, ${b}) = (${signed(at[0])}, ${signed(at[1])})`;
  text += pad.pointer ? " under the pointer (click or Enter: move the sliders here)" : " at the sliders (✕)";
  if (pad.data.timings && pad.frames) text += ` · decode ${decodeMs.toFixed(2)} ms, frame ${frameMs.toFixed(2)} ms`;
  if (pad.data.timings && root.dataset.benchDecodeMs) text += ` · ${Number(root.dataset.benchDecodeMs).toFixed(3)} ms/decode`;
  pad.readout.textContent = text;
}

function drawImage(pad) {
  const ctx = pad.image.getContext("2d");
  const shape = pad.data.image_shape;
  if (shape) {
    const [h, w] = shape;
    const px = pad.small.data;
    const { width, height } = pad.image;
    for (let i = 0; i < h * w; i++) {
      const v = 255 * (1 - Math.min(1, Math.max(0, pad.out[i]))); // ink is dark on white paper
      px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = v;
      px[4 * i + 3] = 255;
    }
    pad.smallCanvas.getContext("2d").putImageData(pad.small, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pad.smallCanvas, 0, 0, width, height);
  } else {
    // Points in the plane: the decoded mean over the test data, in data coordinates.
    const lim = pad.codes.data_bound;
    const side = pad.image.width;
    const toPx = (v, flip) => ((flip ? -v : v) / lim + 1) * 0.5 * side;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, side, side);
    ctx.fillStyle = "rgba(120,120,120,0.5)";
    const pts = pad.codes.data_xy;
    for (let i = 0; i < pts.length / 2; i++) ctx.fillRect(toPx(pts[2 * i], false) - 1, toPx(pts[2 * i + 1], true) - 1, 2, 2);
    marker(ctx, toPx(pad.out[0], false), toPx(pad.out[1], true), "crimson", 8);
  }
}

function marker(ctx, x, y, color, r) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(x - r, y - r);
  ctx.lineTo(x + r, y + r);
  ctx.moveTo(x - r, y + r);
  ctx.lineTo(x + r, y - r);
  ctx.stroke();
}

function planeBackground(pad) {
  const { codes, data } = pad;
  const side = pad.plane.width;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const ctx = canvas.getContext("2d");
  const b = data.bound;
  const toPx = (v) => ((v / b + 1) * side) / 2;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, side, side);
  ctx.strokeStyle = "#ddd";
  ctx.lineWidth = 1;
  for (let t = -Math.floor(b); t <= b; t++) {
    ctx.beginPath();
    ctx.moveTo(toPx(t), 0);
    ctx.lineTo(toPx(t), side);
    ctx.moveTo(0, side - toPx(t));
    ctx.lineTo(side, side - toPx(t));
    ctx.stroke();
  }
  const r = (codes.n > 3000 ? 1 : 2) * data.scale;
  for (let i = 0; i < codes.n; i++) {
    const label = codes.labels[i];
    ctx.globalAlpha = pad.only === null || pad.only === label ? 0.7 : 0.06; // a legend chip isolates its class
    ctx.fillStyle = data.palette[label % data.palette.length];
    ctx.fillRect(toPx(codes.xy[2 * i]) - r, side - toPx(codes.xy[2 * i + 1]) - r, 2 * r, 2 * r);
  }
  return canvas;
}

function drawPlane(pad, at) {
  const ctx = pad.plane.getContext("2d");
  ctx.drawImage(pad.background, 0, 0);
  const side = pad.plane.width;
  const s = pad.data.scale;
  const b = pad.data.bound;
  const toPx = (v) => ((v / b + 1) * side) / 2;
  const [sx, sy] = pad.data.z; // the server-side sliders
  marker(ctx, toPx(sx), side - toPx(sy), "crimson", 7 * s);
  if (pad.pointer) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2 * s;
    ctx.beginPath();
    ctx.arc(toPx(at[0]), side - toPx(at[1]), 6 * s, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

// Runs ``work`` once the browser is idle (after the pad and the page around it are drawn).
const later = (work) => (window.requestIdleCallback ? requestIdleCallback(work, { timeout: 3000 }) : setTimeout(work, 200));

// Decodes per millisecond once the JIT has warmed up (a single decode is near the timer's resolution).
function benchmark(pad) {
  const z = new Float32Array(pad.net.latent_dim);
  const run = (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      z[0] = Math.sin(i);
      decode(pad.net, z, pad.out);
    }
    return (performance.now() - t0) / n;
  };
  run(100);
  pad.root.dataset.benchDecodeMs = run(300).toFixed(4);
}

function legend(pad) {
  const el = pad.root.querySelector(".pad-legend");
  el.replaceChildren(
    ...pad.data.class_names.map((name, i) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "pad-chip";
      chip.style.setProperty("--chip", pad.data.palette[i % pad.data.palette.length]);
      chip.textContent = name;
      chip.title = `show class ${name} alone (click again: all)`;
      chip.setAttribute("aria-pressed", String(pad.only === i));
      chip.addEventListener("click", () => {
        pad.only = pad.only === i ? null : i;
        pad.background = planeBackground(pad);
        legend(pad);
        schedule(pad);
      });
      return chip;
    }),
  );
  pad.root.dataset.only = pad.only === null ? "" : String(pad.only);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".pad-root");
  let pad = instances.get(parentElement);
  if (!pad) {
    pad = { root, frames: 0, decodeMs: [], frameMs: [], asked: new Set(), pointer: null, only: null };
    pad.plane = root.querySelector(".pad-plane");
    pad.image = root.querySelector(".pad-image");
    pad.readout = root.querySelector(".pad-readout");
    pad.teardown = setup(root, pad);
    instances.set(parentElement, pad);
  }
  pad.setTriggerValue = setTriggerValue;
  if (data.weights) payloads.set(data.weights_id, prepareWeights(data.weights));
  if (data.codes) payloads.set(data.codes_id, prepareCodes(data.codes));
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
  pad.out = new Float32Array(pad.net.x_dim);
  const side = Math.round(PLANE * data.scale);
  if (pad.plane.width !== side || pad.plane.height !== side) {
    pad.plane.width = pad.plane.height = side;
    pad.plane.style.width = pad.plane.style.height = `${side}px`;
    pad.background = null;
  }
  const [h, w] = data.image_shape || [1, 1];
  const most = Math.round(IMAGE * data.scale);
  const scale = data.image_shape ? Math.floor(most / Math.max(h, w)) : most;
  pad.image.width = w * scale;
  pad.image.height = h * scale;
  pad.image.dataset.shape = `${h},${w}`;
  pad.image.style.width = `${w * scale}px`;
  pad.image.style.height = `${h * scale}px`;
  if (data.image_shape) {
    pad.smallCanvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
    pad.small = new ImageData(w, h);
  }
  if (previous.codes_id !== data.codes_id) pad.only = null;
  if (previous.codes_id !== data.codes_id || previous.bound !== data.bound || !pad.background) {
    pad.background = planeBackground(pad);
    legend(pad);
  }
  if (previous.weights_id !== data.weights_id) later(() => benchmark(pad)); // not in the way of the first frame
  if (String(previous.z) !== String(data.z)) pad.pointer = null; // the sliders moved: show their position
  schedule(pad);
  return pad.teardown;
}
