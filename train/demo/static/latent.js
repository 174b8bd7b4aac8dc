// The direction maths of train/directions/latent.py, line for line, for the page (served and exported).
//   z0 = noise * normal(seed);  z = cap(z0 + sum_i s_i * d_i);  cap: norm at most the prior's radius.
"use strict";
const Latent = (() => {
  const CHI_SIGMAS = 3.0;

  // mulberry32: floats in [0, 1) from a 32-bit seed (the same stream as latent.mulberry32)
  function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1) >>> 0;
      t = ((t + (Math.imul(t ^ (t >>> 7), t | 61) >>> 0)) >>> 0) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // nz N(0, 1) values by Box-Muller (latent.normal)
  function normal(seed, nz) {
    const rnd = mulberry32(seed);
    const out = new Float32Array(nz);
    for (let i = 0; i < nz; i += 2) {
      const u1 = 1.0 - rnd(), u2 = rnd();
      const r = Math.sqrt(-2.0 * Math.log(u1));
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < nz) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  function priorRadius(nz) { return Math.sqrt(nz) + CHI_SIGMAS * Math.sqrt(0.5); }

  function z0(seed, nz, noise) {
    const n = normal(seed, nz), f = Math.fround(noise);
    for (let i = 0; i < nz; i++) n[i] = f * n[i];
    return n;
  }

  function norm(z) { let s = 0; for (let i = 0; i < z.length; i++) s += z[i] * z[i]; return Math.sqrt(s); }

  function cap(z) {
    const n = norm(z), r = priorRadius(z.length);
    const out = Float32Array.from(z);
    if (n > r) for (let i = 0; i < out.length; i++) out[i] = out[i] * (r / n);
    return out;
  }

  // cap(start + strengths @ directions); directions: array of Float32Array rows
  function compose(start, directions, strengths) {
    const z = Float32Array.from(start);
    directions.forEach((d, t) => {
      const s = strengths[t];
      if (s) for (let i = 0; i < z.length; i++) z[i] += s * d[i];
    });
    return cap(z);
  }

  function slerp(a, b, t) {
    const na = norm(a), nb = norm(b), out = new Float32Array(a.length);
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
    const omega = (na < 1e-6 || nb < 1e-6) ? 0 : Math.acos(Math.max(-1, Math.min(1, dot / (na * nb))));
    if (omega < 1e-4) {
      for (let i = 0; i < a.length; i++) out[i] = (1 - t) * a[i] + t * b[i];
      return out;
    }
    const so = Math.sin(omega), fa = Math.sin((1 - t) * omega) / so, fb = Math.sin(t * omega) / so;
    for (let i = 0; i < a.length; i++) out[i] = fa * a[i] + fb * b[i];
    return out;
  }

  // one face: compose(z0(seed, nz, noise), directions, strengths) (latent.face)
  function face(seed, noise, nz, directions, strengths) { return compose(z0(seed, nz, noise), directions, strengths); }

  // between two pinned faces: cap(slerp(a, b, t)) (latent.mix)
  function mix(a, b, t) { return cap(slerp(a, b, t)); }

  return { mulberry32, normal, priorRadius, z0, cap, compose, slerp, face, mix };
})();
