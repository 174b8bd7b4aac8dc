// The studio page's behaviour, for the server ("server" mode: faces from /sample.png) and the static
// export ("static" mode: generator.js draws them here). The state (seed, noise, sliders, pins) lives
// in the address bar, so a face can be shared and reloaded.
"use strict";
(() => {
  const CFG = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  const sliders = Array.from(document.querySelectorAll("#tags input[type=range]"));
  const params = new URLSearchParams(location.search);

  function randomSeed() { const a = new Uint32Array(1); crypto.getRandomValues(a); return a[0]; }
  let seed = /^\d+$/.test(params.get("seed") || "") ? Number(params.get("seed")) >>> 0 : randomSeed();
  if (params.has("noise")) $("noise").value = params.get("noise");
  sliders.forEach((s) => { if (params.has(s.name)) s.value = params.get(s.name); });
  let pinA = params.get("a"), pinB = params.get("b");
  if (params.has("t")) $("mix").value = params.get("t");

  // -- where faces come from ----------------------------------------------------------------------
  function serverBackend() {
    return {
      face: async (q) => "sample.png?" + q,
      mix: async (a, b, t) => "mix.png?" + new URLSearchParams({ t, a, b }).toString(),
    };
  }
  function staticBackend() {
    const dirs = CFG.directions.map((r) => Float32Array.from(r));
    const ready = Generator.load(CFG.model);
    const zOf = (q) => {
      const p = new URLSearchParams(q);
      const s = CFG.tags.map((t) => (p.has(t) ? parseFloat(p.get(t)) : 0));
      return Latent.face(Number(p.get("seed") || 0) >>> 0, parseFloat(p.get("noise") || "1"), CFG.nz, dirs, s);
    };
    return {
      face: async (q) => (await ready).toDataURL(zOf(q)),
      mix: async (a, b, t) => (await ready).toDataURL(Latent.mix(zOf(a), zOf(b), parseFloat(t))),
    };
  }
  const backend = CFG.mode === "server" ? serverBackend() : staticBackend();

  // -- showing images: the latest wanted one wins, one request at a time per image ---------------------
  function load(img, url) {
    return new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => {
        // the server explains a 4xx in its body
        fetch(url).then((r) => r.text()).then((t) => reject(new Error(t.trim())), () => reject(new Error("could not load the face")));
      };
      img.src = url;
    });
  }
  function show(img, key, make) {
    img.dataset.want = key;
    img._make = make;
    if (img._busy) return;
    img._busy = true;
    make()
      .then((url) => load(img, url))
      .then(() => { $("status").textContent = ""; }, (e) => { $("status").textContent = String(e.message || e); })
      .finally(() => {
        img._busy = false;
        img.dataset.shown = key;
        if (img.dataset.want !== key) show(img, img.dataset.want, img._make);
      });
  }

  // -- state ----------------------------------------------------------------------------------------
  function stateQuery() {
    const q = new URLSearchParams();
    q.set("seed", String(seed));
    q.set("noise", $("noise").value);
    sliders.forEach((s) => { if (parseFloat(s.value) !== 0) q.set(s.name, s.value); });
    return q.toString();
  }
  function pageQuery() {
    const q = new URLSearchParams(stateQuery());
    if (pinA) q.set("a", pinA);
    if (pinB) q.set("b", pinB);
    if (pinA || pinB) q.set("t", $("mix").value);
    return q.toString();
  }
  function remember(push) {
    const url = "?" + pageQuery();
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    $("share").href = url;
  }
  function update(push) {
    const q = stateQuery();
    $("seed-value").textContent = String(seed);
    $("noise-value").textContent = $("noise").value;
    sliders.forEach((s) => { s.nextElementSibling.textContent = parseFloat(s.value).toFixed(1); });
    remember(push);
    show($("sample"), q, () => backend.face(q));
  }
  function updatePins() {
    if (pinA) show($("pin-a-img"), pinA, () => backend.face(pinA));
    if (pinB) show($("pin-b-img"), pinB, () => backend.face(pinB));
    if (pinA && pinB) {
      const a = pinA, b = pinB, t = $("mix").value;
      show($("between"), a + "|" + b + "|" + t, () => backend.mix(a, b, t));
    }
    remember(false);
  }

  sliders.forEach((s) => s.addEventListener("input", () => update(false)));
  $("noise").addEventListener("input", () => update(false));
  $("shuffle").addEventListener("click", () => { seed = randomSeed(); update(true); });
  $("draw").addEventListener("click", () => update(true));
  $("reset").addEventListener("click", () => { sliders.forEach((s) => { s.value = 0; }); update(true); });
  $("pin-a").addEventListener("click", () => { pinA = stateQuery(); updatePins(); });
  $("pin-b").addEventListener("click", () => { pinB = stateQuery(); updatePins(); });
  $("mix").addEventListener("input", updatePins);
  update(false);
  updatePins();

  // -- colorizer --------------------------------------------------------------------------------------
  if (!CFG.colorizer || !$("line")) return;
  const drawing = $("drawing"), hints = $("hints");
  let lineFile = null, painted = false, last = null;

  function fitCanvases(w, h) {
    for (const c of [drawing, hints]) {
      c.width = w; c.height = h;
      c.style.width = "256px"; c.style.height = Math.round((256 * h) / w) + "px";
    }
    painted = false;
  }
  $("line").addEventListener("change", async () => {
    lineFile = $("line").files[0] || null;
    if (!lineFile) return;
    try {
      const bmp = await createImageBitmap(lineFile);
      fitCanvases(bmp.width, bmp.height);
      drawing.getContext("2d").drawImage(bmp, 0, 0);
      $("colorize-status").textContent = "";
    } catch (e) {
      $("colorize-status").textContent = "this file is not an image the browser can read";
    }
  });
  function at(ev) {
    const r = hints.getBoundingClientRect();
    return [((ev.clientX - r.left) * hints.width) / r.width, ((ev.clientY - r.top) * hints.height) / r.height];
  }
  function stroke(ev) {
    const ctx = hints.getContext("2d"), [x, y] = at(ev);
    const size = (Number($("brush-size").value) * hints.width) / 256;
    ctx.strokeStyle = ctx.fillStyle = $("brush-colour").value;
    ctx.lineWidth = size; ctx.lineCap = "round";
    ctx.beginPath();
    if (last) { ctx.moveTo(last[0], last[1]); ctx.lineTo(x, y); ctx.stroke(); } else { ctx.arc(x, y, size / 2, 0, 2 * Math.PI); ctx.fill(); }
    last = [x, y];
    painted = true;
  }
  hints.addEventListener("pointerdown", (ev) => { hints.setPointerCapture(ev.pointerId); last = null; stroke(ev); });
  hints.addEventListener("pointermove", (ev) => { if (ev.buttons) stroke(ev); });
  hints.addEventListener("pointerup", () => { last = null; });
  $("clear-hints").addEventListener("click", () => { hints.getContext("2d").clearRect(0, 0, hints.width, hints.height); painted = false; });

  const asDataURL = (blob) => new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
  $("colorize").addEventListener("click", async () => {
    const status = $("colorize-status");
    if (!lineFile) { status.textContent = "choose a line drawing first"; return; }
    status.textContent = "colouring...";
    const tags = Array.from(document.querySelectorAll("input[name=ctag]:checked")).map((c) => c.value);
    const body = { line: await asDataURL(lineFile), hints: painted ? hints.toDataURL("image/png") : null, tags };
    const r = await fetch("colorize", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!r.ok) { status.textContent = (await r.text()).trim(); return; }
    const img = $("colorized");
    img.onload = () => { status.textContent = ""; img.dataset.done = String(Number(img.dataset.done || 0) + 1); };
    img.src = URL.createObjectURL(await r.blob());
  });
})();
