#include "serve/explorer.h"

namespace vae::serve {

namespace {

const char* const kPage = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vae explorer</title>
<style>
body{font:14px system-ui,sans-serif;margin:12px;background:#fafafa;color:#222}
#top{display:flex;gap:12px;align-items:center;margin-bottom:8px}
#main{display:flex;gap:16px;align-items:flex-start}
canvas{background:#fff;border:1px solid #ccc}
#map{cursor:crosshair}
#legend span{display:inline-block;margin-right:10px}
#legend i{display:inline-block;width:10px;height:10px;margin-right:3px}
#sliders label{display:block;font-size:12px}
#sliders input{width:220px}
.strip{display:block;margin-top:6px}
#status{color:#a00}
</style></head><body>
<div id="top"><b>vae explorer</b>
<label>model <select id="model"></select></label>
<label id="classbox" hidden>class <select id="cls"></select></label>
<button id="sample">sample</button><span id="info"></span><span id="status"></span></div>
<div id="main">
<div><canvas id="map" width="480" height="480"></canvas><div id="legend"></div>
<div>click: pick an example (A); shift+click: pick B; hover or drag: decode the point</div></div>
<div><canvas id="decoded" width="168" height="168"></canvas>
<div id="zinfo"></div><div id="score"></div><div id="sliders"></div>
<div>path A→B<canvas id="path" class="strip" width="480" height="60"></canvas></div>
<div>samples<canvas id="samples" class="strip" width="480" height="60"></canvas></div></div></div>
<script>
"use strict";
const E = window.explorer = {ready:false, lastZ:null, lastX:null, errors:[], decodes:0};
const $ = id => document.getElementById(id);
let info = null, map = null, view = null, pickA = -1, pickB = -1, busy = false, pending = null;
const colours = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
function fail(e){ E.errors.push(String(e)); $("status").textContent = String(e); }
async function api(path, body){
  const r = await fetch(path, body === undefined ? {} : {method:"POST", headers:{"Content-Type":"application/json"}, body:JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error(path + ": " + (j.error || r.status));
  return j;
}
function labels(n){ return info.classes > 0 ? Array(n).fill(+$("cls").value) : undefined; }
function drawImage(canvas, x, slot, slots){
  const c = canvas.getContext("2d"), s = info.data_shape, img = info.images;
  const w = canvas.width / slots, h = canvas.height;
  if (slot === 0) c.clearRect(0, 0, canvas.width, canvas.height);
  if (!img) { const n = x.length, bw = w / n;
    let lo = Math.min(...x), hi = Math.max(...x); if (hi - lo < 1e-9) hi = lo + 1;
    c.fillStyle = "#1f77b4";
    x.forEach((v, i) => { const bh = (v - lo) / (hi - lo) * (h - 4); c.fillRect(slot * w + i * bw, h - bh, Math.max(1, bw - 1), bh); });
    return; }
  const H = s[0], W = s[1], C = s[2], d = c.createImageData(W, H);
  for (let p = 0; p < H * W; ++p) for (let k = 0; k < 3; ++k) {
    const v = x[(C === 1 ? 0 : k) * H * W + p]; d.data[p * 4 + k] = Math.round(Math.min(1, Math.max(0, v)) * 255); }
  for (let p = 0; p < H * W; ++p) d.data[p * 4 + 3] = 255;
  const tmp = document.createElement("canvas"); tmp.width = W; tmp.height = H; tmp.getContext("2d").putImageData(d, 0, 0);
  c.imageSmoothingEnabled = false; const side = Math.min(w, h); c.drawImage(tmp, slot * w, 0, side, side);
}
function toScreen(p){ return [(p[0] - view.x0) / (view.x1 - view.x0) * 480, 480 - (p[1] - view.y0) / (view.y1 - view.y0) * 480]; }
function toData(px, py){ return [view.x0 + px / 480 * (view.x1 - view.x0), view.y0 + (480 - py) / 480 * (view.y1 - view.y0)]; }
function drawMap(){
  const c = $("map").getContext("2d"); c.clearRect(0, 0, 480, 480);
  if (!map || !map.points) { c.fillText("no --data given: hover decodes the plane of the first two latent dimensions", 10, 20); return; }
  map.xy.forEach((p, i) => { const [sx, sy] = toScreen(p);
    c.fillStyle = map.labels.length ? colours[map.labels[i] % 10] : "#555"; c.fillRect(sx - 1.5, sy - 1.5, 3, 3); });
  [[pickA, "A"], [pickB, "B"]].forEach(([i, t]) => { if (i < 0) return; const [sx, sy] = toScreen(map.xy[i]);
    c.strokeStyle = "#000"; c.strokeRect(sx - 5, sy - 5, 10, 10); c.fillStyle = "#000"; c.fillText(t, sx + 7, sy - 7); });
}
// The latent point of map coordinates: the latent itself, or mean + a·c0 + b·c1 (PCA).
function latentAt(a, b){
  const Z = info.latent, ax = map && map.points ? map.axes : {kind:"latent"};
  if (ax.kind !== "pca") { const z = Array(Z).fill(0); z[0] = a; if (Z > 1) z[1] = b; return z; }
  return ax.mean.map((m, j) => m + a * ax.components[j] + b * ax.components[Z + j]);
}
async function decode(z){
  if (busy) { pending = z; return; }
  busy = true;
  try { const lab = labels(1), r = await api("/v1/models/" + info.name + "/decode", {z:[z], labels:lab});
    E.lastZ = z; E.lastX = r.x[0]; E.lastLabel = lab ? lab[0] : null; E.decodes++; drawImage($("decoded"), r.x[0], 0, 1);
    $("zinfo").textContent = "z = [" + z.map(v => v.toFixed(2)).join(", ") + "]";
  } catch (e) { fail(e); }
  busy = false;
  if (pending) { const p = pending; pending = null; decode(p); }
}
function pointer(ev){ const r = $("map").getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; }
function nearest(px, py){ let best = -1, bd = 64;
  if (map && map.points) map.xy.forEach((p, i) => { const [sx, sy] = toScreen(p); const d = (sx - px) ** 2 + (sy - py) ** 2; if (d < bd) { bd = d; best = i; } });
  return best; }
function sliders(){
  const box = $("sliders"); box.innerHTML = ""; if (pickA < 0) return;
  const mu = map.mu[pickA], z = mu.slice();
  mu.forEach((m, j) => { const l = document.createElement("label"), s = document.createElement("input");
    s.type = "range"; s.min = m - 3; s.max = m + 3; s.step = 0.01; s.value = m; s.dataset.dim = j;
    s.oninput = () => { z[j] = +s.value; decode(z.slice()); };
    l.textContent = "z" + j + " "; l.appendChild(s); box.appendChild(l); });
}
async function scorePick(){
  try { const lab = map.labels.length && info.classes > 0 ? [map.labels[pickA]] : undefined;
    const r = await api("/v1/models/" + info.name + "/score", {x:[map.x[pickA]], labels:lab});
    E.lastScore = r.score[0];
    $("score").textContent = "example " + pickA + (map.labels.length ? " (" + (map.class_names[map.labels[pickA]] || map.labels[pickA]) + ")" : "") +
      ": score " + r.score[0].toFixed(2) + " nats (recon " + r.recon[0].toFixed(2) + ", KL " + r.kl[0].toFixed(2) + ")" +
      (r.out_of_range && r.out_of_range[0] ? ", outside the training range" : "");
  } catch (e) { fail(e); }
}
async function path(){
  if (pickA < 0 || pickB < 0) return;
  const a = map.mu[pickA], b = map.mu[pickB], n = 8, zs = [];
  for (let t = 0; t < n; ++t) zs.push(a.map((v, j) => v + (b[j] - v) * t / (n - 1)));
  try { const r = await api("/v1/models/" + info.name + "/decode", {z:zs, labels:labels(n)});
    r.x.forEach((x, i) => drawImage($("path"), x, i, n)); E.paths = (E.paths || 0) + 1; } catch (e) { fail(e); }
}
async function pick(i, second){
  if (i < 0) return;
  if (second) { pickB = i; drawMap(); return path(); }
  pickA = i; drawMap(); sliders(); decode(map.mu[i].slice()); await scorePick(); path();
}
async function load(name){
  info = await api("/v1/models/" + name); map = await api("/v1/models/" + name + "/map");
  pickA = pickB = -1; $("score").textContent = ""; $("sliders").innerHTML = "";  // the last model's pick
  $("info").textContent = info.architecture + ", " + info.likelihood + (map.points ? ", " + map.points + " examples (" + map.axes.kind + ")" : "");
  if (map.points) { const xs = map.xy.map(p => p[0]), ys = map.xy.map(p => p[1]);
    const pad = v => (Math.max(...v) - Math.min(...v)) * 0.05 + 1e-3;
    view = {x0:Math.min(...xs) - pad(xs), x1:Math.max(...xs) + pad(xs), y0:Math.min(...ys) - pad(ys), y1:Math.max(...ys) + pad(ys)};
  } else view = {x0:-3, x1:3, y0:-3, y1:3};
  $("classbox").hidden = !(info.classes > 0); $("cls").innerHTML = "";
  for (let y = 0; y < info.classes; ++y) $("cls").add(new Option(info.class_names[y] || String(y), y));
  const names = map.class_names || [];
  $("legend").innerHTML = map.labels && map.labels.length ? [...new Set(map.labels)].sort((a, b) => a - b)
    .map(y => '<span><i style="background:' + colours[y % 10] + '"></i>' + (names[y] || y) + "</span>").join("") : "";
  E.latent = info.latent; E.model = info.name; drawMap(); E.ready = true;
}
E.screenOf = i => toScreen(map.xy[i]);
let dragging = false;
$("map").addEventListener("mousedown", ev => { dragging = true; const [px, py] = pointer(ev); const i = nearest(px, py);
  if (i >= 0) pick(i, ev.shiftKey); else decode(latentAt(...toData(px, py))); });
window.addEventListener("mouseup", () => { dragging = false; });
$("map").addEventListener("mousemove", ev => { const [px, py] = pointer(ev); decode(latentAt(...toData(px, py))); });
$("sample").onclick = async () => { const n = 8;
  try { const r = await api("/v1/models/" + info.name + "/sample", {n:n, seed:Math.floor(Math.random() * 1e9), label:info.classes > 0 ? +$("cls").value : undefined});
    r.x.forEach((x, i) => drawImage($("samples"), x, i, n)); E.samples = r.x.length; } catch (e) { fail(e); } };
$("cls").onchange = () => { if (E.lastZ) decode(E.lastZ); };
$("model").onchange = () => load($("model").value).catch(fail);
api("/v1/models").then(r => { r.models.forEach(m => $("model").add(new Option(m.name, m.name))); return load(r.models[0].name); }).catch(fail);
</script></body></html>
)PAGE";

}  // namespace

const std::string& explorer_page() {
  static const std::string page(kPage);
  return page;
}

}  // namespace vae::serve
