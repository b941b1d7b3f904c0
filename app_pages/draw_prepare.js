// The drawing pad's preparation of a canvas: vae_core.data.images.ink_to_dataset_image, step by step
// (draw_pad.py puts this file before draw_pad.js in the component's one module). The canvas's alpha
// is the ink, stretched, cropped to the pixels above 0.25, its box fitted with PIL's Lanczos filter
// (Resample.c's coefficients), thickened to a dataset's stroke width, fitted to the dataset's box and
// centred by its centre of mass. Python's round() is half-to-even: so is roundEven here.

const roundEven = (v) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

const sinc = (x) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const lanczos = (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

// PIL's precompute_coeffs for one axis: inSize -> outSize (Resample.c).
function coeffs(inSize, outSize) {
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = 3 * fs;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
    const k = [];
    let ww = 0;
    for (let x = xmin; x < xmax; x++) {
      const w = lanczos((x - center + 0.5) / fs);
      k.push(w);
      ww += w;
    }
    out.push({ xmin, k: ww !== 0 ? k.map((w) => w / ww) : k });
  }
  return out;
}

// A float image {h, w, v} resized to (oh, ow) with Lanczos, then clipped to [0, 1] (images._fit).
function resize(img, oh, ow) {
  const cx = coeffs(img.w, ow);
  const tmp = new Float64Array(img.h * ow);
  for (let y = 0; y < img.h; y++)
    cx.forEach(({ xmin, k }, xx) => {
      let s = 0;
      for (let i = 0; i < k.length; i++) s += img.v[y * img.w + xmin + i] * k[i];
      tmp[y * ow + xx] = Math.fround(s);
    });
  const cy = coeffs(img.h, oh);
  const v = new Float32Array(oh * ow);
  cy.forEach(({ xmin, k }, yy) => {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < k.length; i++) s += tmp[(xmin + i) * ow + x] * k[i];
      v[yy * ow + x] = Math.min(1, Math.max(0, s));
    }
  });
  return { h: oh, w: ow, v };
}

function fit(img, side) {
  const scale = side / Math.max(img.h, img.w);
  const ow = Math.max(1, roundEven(img.w * scale));
  const oh = Math.max(1, roundEven(img.h * scale));
  return ow === img.w && oh === img.h ? img : resize(img, oh, ow);
}

function cropAbove(img, level) {
  let r0 = img.h,
    r1 = -1,
    c0 = img.w,
    c1 = -1;
  for (let r = 0; r < img.h; r++)
    for (let c = 0; c < img.w; c++)
      if (img.v[r * img.w + c] > level) {
        (r0 = Math.min(r0, r)), (r1 = Math.max(r1, r)), (c0 = Math.min(c0, c)), (c1 = Math.max(c1, c));
      }
  if (r1 < 0) return null;
  const h = r1 - r0 + 1,
    w = c1 - c0 + 1,
    v = new Float32Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) v[r * w + c] = img.v[(r0 + r) * img.w + c0 + c];
  return { h, w, v };
}

function thicken(img, target) {
  const m = (r, c) => img.v[r * img.w + c] > 0.5;
  let area = 0,
    inner = 0;
  for (let r = 0; r < img.h; r++) for (let c = 0; c < img.w; c++) area += m(r, c);
  if (!area) return img;
  for (let r = 1; r < img.h - 1; r++)
    for (let c = 1; c < img.w - 1; c++) inner += m(r, c) && m(r - 1, c) && m(r + 1, c) && m(r, c - 1) && m(r, c + 1);
  const grow = roundEven(target - (2 * area) / Math.max(1, area - inner));
  if (grow < 2) return img;
  const kernel = grow % 2 === 0 ? grow + 1 : grow,
    half = (kernel - 1) / 2;
  const h = img.h + 2 * kernel,
    w = img.w + 2 * kernel;
  const rowMax = new Float32Array(h * w),
    v = new Float32Array(h * w);
  const at = (r, c) =>
    r >= kernel && r < kernel + img.h && c >= kernel && c < kernel + img.w
      ? img.v[(r - kernel) * img.w + c - kernel]
      : 0;
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let d = -half; d <= half; d++) if (c + d >= 0 && c + d < w) s = Math.max(s, at(r, c + d));
      rowMax[r * w + c] = s;
    }
  for (let r = 0; r < h; r++)
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let d = -half; d <= half; d++) if (r + d >= 0 && r + d < h) s = Math.max(s, rowMax[(r + d) * w + c]);
      v[r * w + c] = s;
    }
  return cropAbove({ h, w, v }, 0.05);
}

function centre(img, size) {
  let total = 0,
    sy = 0,
    sx = 0;
  for (let r = 0; r < img.h; r++)
    for (let c = 0; c < img.w; c++) {
      const p = img.v[r * img.w + c];
      (total += p), (sy += r * p), (sx += c * p);
    }
  const cy = total ? sy / total : (img.h - 1) / 2,
    cx = total ? sx / total : (img.w - 1) / 2;
  const top = Math.min(size - img.h, Math.max(0, roundEven((size - 1) / 2 - cy)));
  const left = Math.min(size - img.w, Math.max(0, roundEven((size - 1) / 2 - cx)));
  const field = new Float32Array(size * size);
  let peak = 0;
  for (let r = 0; r < img.h; r++)
    for (let c = 0; c < img.w; c++) {
      const p = img.v[r * img.w + c];
      field[(top + r) * size + left + c] = p;
      peak = Math.max(peak, p);
    }
  if (peak > 0) for (let i = 0; i < field.length; i++) field[i] /= peak;
  return field;
}

// The canvas's alpha as a dataset image (size * size,), or null when there is no drawing.
function prepare(canvas, net) {
  const { width, height } = canvas;
  const px = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  const alpha = new Float32Array(width * height);
  let top = 0;
  for (let i = 0; i < alpha.length; i++) top = Math.max(top, (alpha[i] = Math.fround(px[4 * i + 3] / 255)));
  if (top < 0.15) return null;
  for (let i = 0; i < alpha.length; i++) {
    const s = Math.min(1, Math.max(0, alpha[i] / top));
    alpha[i] = Math.min(1, Math.max(0, (s - 0.1) / 0.9));
  }
  const crop = cropAbove({ h: height, w: width, v: alpha }, 0.25);
  if (!crop) return null;
  const work = thicken(fit(crop, net.work), net.stroke);
  return centre(fit(work, net.box), net.shape[0]);
}
