// digitlab drawing page: draw on the canvas, the server reads the digit(s) while you write.
// Plain JS, no framework. Strokes are kept as points and repainted, which makes undo, resizing
// and exporting at a fixed size simple.
"use strict";

(() => {
  const INK = "#111827";          // near-black ink on white paper, as the server's vision pipeline expects
  const STROKE = 0.07;            // stroke width as a fraction of canvas height: MNIST strokes are ~1/10 of a digit's height
  const EXPORT_HEIGHT = 280;      // the sent PNG's height; the server crops to the ink and rescales anyway
  const READ_EVERY_MS = 200;      // at most one read per 200 ms while drawing, and one 200 ms after the last change
  // The reject option: a reading is accepted when the server's estimate of the chance it is right (its
  // calibrated confidence) reaches this. Default 90%; the page's own URL can set it: /?min_confidence=0.99.
  const MIN_CONFIDENCE = (() => {
    const asked = Number.parseFloat(new URLSearchParams(window.location.search).get("min_confidence"));
    return Number.isFinite(asked) && asked >= 0 && asked <= 1 ? asked : 0.9;
  })();
  const KEY_STORE = "digitlab.apiKey";

  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const ui = {
    hint: $("hint"), undo: $("undo"), clear: $("clear"), wide: $("wide"), digits: $("digits"),
    confidence: $("confidence"), verdict: $("verdict"), bars: $("bars"), status: $("status"), keyform: $("keyform"),
    apikey: $("apikey"), model: $("model"),
  };

  // Points are in units of the canvas height (x runs 0..aspect, y 0..1), so a stroke keeps its
  // shape when the canvas is resized and can be painted at any resolution.
  const state = {
    wide: false,
    strokes: [],        // [[{x, y}, ...], ...]
    drawing: null,      // {id, points, rect} while a pointer is down
    version: 0,         // bumped on every change to the strokes
    shownVersion: 0,    // the strokes version the shown result was read from
    boxes: [],          // digit boxes of the last reading (wide mode), in export pixels
  };

  // ---------------------------------------------------------------- drawing

  const aspect = () => (state.wide ? 3 : 1);

  function paintStrokes(c, scale) {
    c.lineCap = "round";
    c.lineJoin = "round";
    c.lineWidth = STROKE * scale;
    c.strokeStyle = INK;
    c.fillStyle = INK;
    for (const pts of state.strokes) {
      if (pts.length === 1) {  // a tap: a round dot as wide as the pen
        c.beginPath();
        c.arc(pts[0].x * scale, pts[0].y * scale, c.lineWidth / 2, 0, 2 * Math.PI);
        c.fill();
        continue;
      }
      // Quadratic curves through the midpoints smooth out the corners between sampled points.
      c.beginPath();
      c.moveTo(pts[0].x * scale, pts[0].y * scale);
      for (let i = 1; i < pts.length - 1; i++) {
        const mx = (pts[i].x + pts[i + 1].x) / 2, my = (pts[i].y + pts[i + 1].y) / 2;
        c.quadraticCurveTo(pts[i].x * scale, pts[i].y * scale, mx * scale, my * scale);
      }
      const last = pts[pts.length - 1];
      c.lineTo(last.x * scale, last.y * scale);
      c.stroke();
    }
  }

  function paintBoxes(c, scale) {
    // In wide mode, outline where the server found each digit: it shows how the number was split.
    if (!state.wide || !state.boxes.length) return;
    const k = scale / EXPORT_HEIGHT;
    c.save();
    c.strokeStyle = "rgba(79, 70, 229, .55)";
    c.fillStyle = "rgba(79, 70, 229, .9)";
    c.lineWidth = Math.max(1, scale / 200);
    c.setLineDash([6 * scale / 300, 4 * scale / 300]);
    c.font = `600 ${Math.round(scale / 11)}px system-ui, sans-serif`;
    c.textBaseline = "bottom";
    const pad = scale * 0.025;
    for (const { box, digit } of state.boxes) {
      const [l, t, r, b] = box.map((v) => v * k);
      c.strokeRect(l - pad, t - pad, r - l + 2 * pad, b - t + 2 * pad);
      c.fillText(String(digit), l - pad, Math.max(t - pad - 2, scale / 11));
    }
    c.restore();
  }

  let paintQueued = false;
  function repaint() {
    // One paint per animation frame, however many pointer events arrive.
    if (paintQueued) return;
    paintQueued = true;
    requestAnimationFrame(() => {
      paintQueued = false;
      const h = canvas.height;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, h);
      paintStrokes(ctx, h);
      paintBoxes(ctx, h);
    });
  }

  function fitCanvas() {
    // Back the canvas with device pixels, so lines stay crisp on high-DPI screens.
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr)), h = Math.max(1, Math.round(rect.height * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    repaint();
  }

  function pointFrom(e, rect) {
    const x = (e.clientX - rect.left) / rect.height, y = (e.clientY - rect.top) / rect.height;
    return { x: Math.min(Math.max(x, 0), aspect()), y: Math.min(Math.max(y, 0), 1) };
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (!e.isPrimary || state.drawing) return;            // one finger draws; a second one is ignored
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);                // keep the stroke even if the pointer leaves the canvas
    const rect = canvas.getBoundingClientRect();
    const points = [pointFrom(e, rect)];
    state.drawing = { id: e.pointerId, points, rect };
    state.strokes.push(points);
    changed();
  });

  canvas.addEventListener("pointermove", (e) => {
    const d = state.drawing;
    if (!d || e.pointerId !== d.id) return;
    // Coalesced events carry the points the browser merged into this one: smoother fast strokes.
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    let added = false;
    for (const ev of events.length ? events : [e]) {
      const p = pointFrom(ev, d.rect), last = d.points[d.points.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) < 0.002) continue;  // skip sub-pixel jitter
      d.points.push(p);
      added = true;
    }
    if (added) changed();
  });

  function endStroke(e) {
    if (state.drawing && e.pointerId === state.drawing.id) state.drawing = null;
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("lostpointercapture", endStroke);

  function changed(read = true) {
    state.version++;
    ui.hint.hidden = state.strokes.length > 0;
    ui.undo.disabled = ui.clear.disabled = state.strokes.length === 0;
    repaint();
    if (read) scheduleRead();
  }

  function undo() {
    if (!state.strokes.length) return;
    state.drawing = null;
    state.strokes.pop();
    state.boxes = [];
    if (!state.strokes.length) return clear();
    changed();
  }

  function clear() {
    state.drawing = null;
    state.strokes = [];
    state.boxes = [];
    cancelRead();
    changed(false);  // nothing to read: the empty state is shown at once
    showEmpty();
  }

  ui.undo.addEventListener("click", undo);
  ui.clear.addEventListener("click", clear);

  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement) return;    // typing the API key is not a shortcut
    if (e.key === "Escape" || e.key === "Delete") {
      e.preventDefault();
      clear();
    } else if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z") {
      e.preventDefault();
      undo();
    }
  });

  ui.wide.addEventListener("click", () => setWide(!state.wide));

  function setWide(wide) {
    state.wide = wide;
    ui.wide.setAttribute("aria-checked", String(wide));
    document.body.classList.toggle("wide", wide);
    ui.hint.textContent = wide ? "Write a number here" : "Draw a digit here";
    clear();              // strokes drawn for one shape of canvas mean nothing on the other
    fitCanvas();
  }

  new ResizeObserver(fitCanvas).observe(canvas);
  window.addEventListener("resize", fitCanvas);  // also fires when the zoom (devicePixelRatio) changes

  // ---------------------------------------------------------------- talking to the server

  let memoryKey = "";  // where localStorage is blocked, the key lasts as long as the page

  function apiKey() {
    try { return localStorage.getItem(KEY_STORE) || memoryKey; } catch { return memoryKey; }
  }

  function saveKey(key) {
    memoryKey = key;
    try { localStorage.setItem(KEY_STORE, key); } catch { /* blocked storage: memoryKey serves */ }
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const refused = (status, code, message) => {
      const err = new ApiError(status, code, message);
      err.staleKey = status === 401 && key !== apiKey();  // sent before the user entered a new key
      return err;
    };
    let res;
    try {
      res = await fetch(path, { ...options, headers });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, "network", "Cannot reach the server. Is `digitlab serve` still running?");
    }
    let body = null;
    try { body = await res.json(); } catch { /* not JSON: reported below */ }
    if (!res.ok) {
      const err = (body && body.error) || {};
      throw refused(res.status, err.code || "http_" + res.status, err.message || `HTTP ${res.status}`);
    }
    if (!body) throw new ApiError(res.status, "bad_response", "The server answered with something that is not JSON.");
    return body;
  }

  function exportPng() {
    // A fixed-size copy on an opaque white background: the PNG has no transparency and does not
    // depend on the screen's size or pixel ratio.
    const off = document.createElement("canvas");
    off.height = EXPORT_HEIGHT;
    off.width = EXPORT_HEIGHT * aspect();
    const c = off.getContext("2d");
    c.fillStyle = "#fff";
    c.fillRect(0, 0, off.width, off.height);
    paintStrokes(c, EXPORT_HEIGHT);
    return new Promise((resolve) => off.toBlob(resolve, "image/png"));
  }

  // One request at a time: while one is out, later changes wait for it (a slow server is not
  // flooded), then the newest strokes are sent. `generation` changes on clear and mode switch,
  // so an answer for a canvas that no longer exists is dropped.
  let timer = 0, inFlight = null, again = false, generation = 0;

  function scheduleRead() {
    if (!timer) timer = setTimeout(() => { timer = 0; read(); }, READ_EVERY_MS);
    updateBusy();
  }

  function cancelRead() {
    clearTimeout(timer);
    timer = 0;
    again = false;
    generation++;
    if (inFlight) inFlight.abort();
    inFlight = null;
  }

  async function read() {
    if (inFlight) { again = true; return; }
    if (!state.strokes.length) { updateBusy(); return; }
    const gen = generation, version = state.version, wide = state.wide;
    const ctrl = new AbortController();
    inFlight = ctrl;
    updateBusy();
    try {
      const blob = await exportPng();
      const body = await api(`v1/recognize?multi=${wide}&top_k=3&min_confidence=${MIN_CONFIDENCE}`, {
        method: "POST", body: blob, headers: { "Content-Type": "image/png" }, signal: ctrl.signal,
      });
      if (gen === generation && version >= state.shownVersion) showResult(body, version);
    } catch (e) {
      if (e.staleKey) again = true;  // refused for an old key: read again with the new one
      else if (e.name !== "AbortError" && gen === generation) showError(e);
    } finally {
      if (inFlight === ctrl) inFlight = null;
      if (again) { again = false; read(); } else updateBusy();
    }
  }

  function updateBusy() {
    // data-state tells tests (and CSS) whether the shown result is for the current strokes.
    const idle = !timer && !inFlight && (state.strokes.length === 0 || state.shownVersion === state.version);
    document.body.dataset.state = idle ? "idle" : "busy";
  }

  // ---------------------------------------------------------------- showing results

  // "97", "99.9": one decimal only where rounding to a whole percent would claim 100.
  const pctSure = (p) => (p >= 0.995 && p < 1 ? (Math.floor(p * 1000) / 10).toFixed(1) : String(Math.round(p * 100)));
  const pct = (p) => (p >= 0.995 ? "100" : p < 0.01 ? (p >= 0.001 ? "<1" : "") : String(Math.round(p * 100)));

  function barColumn(digit) {
    const col = document.createElement("div");
    col.className = "bar";
    col.setAttribute("role", "listitem");
    col.innerHTML = `<span class="bar-pct"></span><span class="bar-track"><span class="bar-fill"></span></span>` +
      `<span class="bar-label">${digit}</span>`;
    return col;
  }

  function setBars(cols, probs, withPct) {
    let best = 0;
    probs.forEach((p, i) => { if (p > probs[best]) best = i; });
    cols.forEach((col, i) => {
      const p = probs[i] || 0;
      col.querySelector(".bar-fill").style.height = `${(p * 100).toFixed(1)}%`;
      col.classList.toggle("win", probs.length > 0 && i === best);
      if (withPct) col.querySelector(".bar-pct").textContent = pct(p) && pct(p) + "%";
      col.setAttribute("aria-label", `${i}: ${Math.round(p * 100)}%`);
    });
  }

  function buildBars() {
    ui.bars.replaceChildren();
    ui.bars.classList.toggle("multi", state.wide);
    if (state.wide) {
      ui.bars.innerHTML = `<p class="mini-empty">Each digit's probabilities appear here.</p>`;
    } else {
      for (let d = 0; d < 10; d++) ui.bars.append(barColumn(d));
    }
  }

  function showEmpty() {
    state.shownVersion = state.version;
    ui.digits.textContent = "";
    ui.digits.classList.remove("unsure");
    ui.confidence.textContent = "";
    ui.verdict.hidden = true;
    buildBars();
    setStatus(state.wide ? "Write a number across the box: it is read as you write."
      : "Draw a digit in the box: it is read as you write.");
    updateBusy();
  }

  function showResult(body, version) {
    state.shownVersion = version;
    const items = body.items || [];
    const top = (item) => Math.max(...item.probs);
    const rejected = body.accepted === false;
    // The server writes ? for a digit under the threshold; the page shows its best guess, marked (amber).
    const text = body.digits || "";
    ui.digits.textContent = items.length === text.length
      ? items.map((item, i) => (item.accepted === false ? String(item.digit) : text[i])).join("") : text;
    ui.digits.classList.toggle("unsure", rejected);
    const sure = body.confidence ?? (items.length ? top(items[0]) : 0);
    ui.confidence.textContent = items.length ? `${pctSure(sure)}% sure` : "";
    ui.verdict.hidden = !(rejected && items.length);
    ui.verdict.textContent = `Not accepted: under ${pctSure(MIN_CONFIDENCE)}%`;

    if (state.wide) {
      ui.bars.replaceChildren(...items.map(miniChart));
      state.boxes = items.filter((it) => it.box).map((it) => ({ box: it.box, digit: it.digit }));
      repaint();
    } else if (items.length) {
      setBars([...ui.bars.children], items[0].probs, true);
    }
    const ms = body.timing_ms ? ` in ${Math.round(body.timing_ms.total)} ms` : "";
    setStatus(rejected ? "Not sure enough to accept: a form would send this to a person. Try writing it more clearly."
      : `Read${ms} by model “${body.model || "?"}”.`);
    updateBusy();
  }

  function miniChart(item) {
    const card = document.createElement("div");
    const p = Math.max(...item.probs);
    card.className = "mini" + (item.accepted === false ? " unsure" : "");
    card.innerHTML = `<div class="mini-head"><span class="mini-digit"></span><span class="mini-p"></span></div>` +
      `<div class="bars-mini" role="list"></div><div class="mini-topk"></div>`;
    card.querySelector(".mini-digit").textContent = String(item.digit);
    card.querySelector(".mini-p").textContent = `${Math.round(p * 100)}%`;
    const chart = card.querySelector(".bars-mini");
    const cols = [];
    for (let d = 0; d < 10; d++) chart.append((cols[d] = barColumn(d)));
    cols.forEach((c) => c.querySelector(".bar-pct").remove());
    setBars(cols, item.probs, false);
    // The runners-up in words: "then 9 4% · 1 2%".
    const rest = (item.top_k || []).slice(1).filter((t) => t.p >= 0.01);
    card.querySelector(".mini-topk").textContent =
      rest.length ? "then " + rest.map((t) => `${t.digit} ${Math.round(t.p * 100)}%`).join(" · ") : "\u00a0";
    return card;
  }

  function setStatus(text, isError = false) {
    ui.status.textContent = text;
    ui.status.classList.toggle("error", isError);
  }

  function showError(e) {
    if (e.status === 401) {
      ui.keyform.hidden = false;
      setStatus(apiKey() ? "That API key was refused. Check it and try again." :
        "This server needs an API key: enter it below.", true);
      ui.apikey.focus();
    } else if (e.code === "no_ink") {
      setStatus("No ink found: draw a little bigger or darker.");
    } else {
      setStatus(`Could not read the drawing: ${e.message}`, true);
    }
    updateBusy();
  }

  ui.keyform.addEventListener("submit", (e) => {
    e.preventDefault();
    saveKey(ui.apikey.value.trim());
    ui.keyform.hidden = true;
    ui.apikey.blur();
    setStatus("Key saved. Reading again…");
    loadModel();
    if (state.strokes.length) read();
  });

  // ---------------------------------------------------------------- model info (footer)

  async function loadModel() {
    try {
      const { models } = await api("v1/models");
      const m = models && models[0];
      if (!m) return;
      const parts = [`Model “${m.id}”`];
      if (m.architecture) parts.push(m.architecture);
      if (m.parameters) parts.push(`${(m.parameters / 1000).toFixed(1)}k parameters`);
      if (m.test_accuracy != null) parts.push(`${(m.test_accuracy * 100).toFixed(2)}% MNIST test accuracy`);
      if (m.version) parts.push(`weights ${m.version}`);
      ui.model.textContent = parts.join(" · ");
    } catch (e) {
      if (e.staleKey) return;  // the call made with the new key answers instead
      ui.model.textContent = e.status === 401 ? "Model info needs the API key." : "Model info unavailable.";
      if (e.status === 401) {
        ui.keyform.hidden = false;
        if (!ui.status.classList.contains("error")) setStatus("This server needs an API key: enter it below.", true);
      }
    }
  }

  buildBars();
  showEmpty();
  fitCanvas();
  loadModel();
})();
