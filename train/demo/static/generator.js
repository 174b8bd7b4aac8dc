// The DCGAN generator's forward pass in plain JavaScript, for the exported page (no library, no network).
// Every layer is a ConvTranspose2d whose BatchNorm (eval) was folded into its weights and bias at export
// time, followed by ReLU or Tanh. Activations are HWC Float32Arrays; weights are [cin][k][k][cout].
"use strict";
const Generator = (() => {
  function convT(x, h, w, L) {
    const { cin, cout, k, stride: s, pad: p } = L, W = L.w;
    const ho = (h - 1) * s - 2 * p + k, wo = (w - 1) * s - 2 * p + k;
    const out = new Float32Array(ho * wo * cout);
    for (let iy = 0; iy < h; iy++) for (let ix = 0; ix < w; ix++) {
      const xb = (iy * w + ix) * cin;
      for (let ky = 0; ky < k; ky++) {
        const oy = iy * s - p + ky;
        if (oy < 0 || oy >= ho) continue;
        for (let kx = 0; kx < k; kx++) {
          const ox = ix * s - p + kx;
          if (ox < 0 || ox >= wo) continue;
          const ob = (oy * wo + ox) * cout;
          for (let ci = 0; ci < cin; ci++) {
            const v = x[xb + ci];
            if (v === 0) continue; // after a ReLU most inputs are zero
            const wb = ((ci * k + ky) * k + kx) * cout;
            for (let co = 0; co < cout; co++) out[ob + co] += v * W[wb + co];
          }
        }
      }
    }
    const b = L.b, n = ho * wo;
    for (let i = 0; i < n; i++) for (let co = 0; co < cout; co++) {
      const v = out[i * cout + co] + b[co];
      out[i * cout + co] = L.act === "relu" ? (v > 0 ? v : 0) : L.act === "tanh" ? Math.tanh(v) : v;
    }
    return [out, ho, wo];
  }

  function forward(layers, z) {
    let x = Float32Array.from(z), h = 1, w = 1;
    for (const L of layers) [x, h, w] = convT(x, h, w, L);
    return { data: x, h, w, c: layers[layers.length - 1].cout };
  }

  function toDataURL(out) {
    const canvas = document.createElement("canvas");
    canvas.width = out.w; canvas.height = out.h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(out.w, out.h);
    for (let i = 0; i < out.w * out.h; i++) {
      for (let c = 0; c < 3; c++) img.data[4 * i + c] = Math.round((Math.max(-1, Math.min(1, out.data[i * out.c + c])) + 1) * 127.5);
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return canvas.toDataURL("image/png");
  }

  // model: {"weights": "weights.bin", "layers": [{cin, cout, k, stride, pad, act, w_offset, b_offset}]}
  async function load(model) {
    const r = await fetch(model.weights);
    if (!r.ok) throw new Error("could not read " + model.weights + " (" + r.status + ")");
    const f32 = new Float32Array(await r.arrayBuffer());
    const layers = model.layers.map((L) => ({
      ...L,
      w: f32.subarray(L.w_offset, L.w_offset + L.cin * L.k * L.k * L.cout),
      b: f32.subarray(L.b_offset, L.b_offset + L.cout),
    }));
    return { run: (z) => forward(layers, z), toDataURL: (z) => toDataURL(forward(layers, z)) };
  }

  return { load, forward };
})();
