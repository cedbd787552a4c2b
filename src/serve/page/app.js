// The page: upload with progress (XHR upload events), poll the job, show the verdict and its pictures.
// Plain JavaScript, no libraries; text is always set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("upload-form");
const input = $("video");
const drop = $("drop");
let file = null;
let jobId = null;
let authRequired = false;
let maxBytes = Infinity;

function token() {
  return $("token").value.trim();
}

function headers() {
  const h = {};
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function say(text, isError) {
  const state = $("state");
  state.textContent = text;
  state.classList.toggle("error", !!isError);
}

function chosen(f) {
  file = f;
  $("file-info").textContent = f ? `${f.name} (${(f.size / 1e6).toFixed(1)} MB)` : "No file chosen.";
}

input.addEventListener("change", () => chosen(input.files[0] || null));
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) chosen(e.dataTransfer.files[0]);
});

fetch("/healthz")
  .then((r) => r.json())
  .then((h) => {
    authRequired = !!h.auth;
    if (h.max_upload_bytes) maxBytes = h.max_upload_bytes;
    $("token-row").hidden = !authRequired;
    const saved = sessionStorage.getItem("deepfake-token");
    if (saved) $("token").value = saved;
  })
  .catch(() => {});

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!file) {
    say("Choose a video first.", true);
    $("progress-section").hidden = false;
    input.focus();
    return;
  }
  if (file.size > maxBytes) {
    say(`The file is ${(file.size / 1e6).toFixed(1)} MB; this server accepts at most ${(maxBytes / 1e6).toFixed(0)} MB.`, true);
    $("progress-section").hidden = false;
    return;
  }
  if (token()) sessionStorage.setItem("deepfake-token", token());
  upload();
});

function upload() {
  $("result").hidden = true;
  $("progress-section").hidden = false;
  $("submit").disabled = true;
  const bar = $("upload-progress");
  bar.value = 0;
  say("Uploading…");
  const data = new FormData();
  data.append("plots", $("plots").checked ? "1" : "0");
  data.append("video", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/jobs");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) {
      bar.value = Math.round((100 * e.loaded) / e.total);
      bar.textContent = bar.value + " %";
    }
  });
  xhr.addEventListener("load", () => {
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch (_) {}
    if (xhr.status === 202) {
      bar.value = 100;
      jobId = body.id;
      say("Uploaded. Waiting in the queue…");
      poll(500);
    } else {
      $("submit").disabled = false;
      let text = body.error || `The server answered ${xhr.status}.`;
      if (xhr.status === 429) text = `The service is busy; try again in ${xhr.getResponseHeader("Retry-After") || "a few"} seconds.`;
      if (xhr.status === 401) {
        $("token-row").hidden = false;
        $("token").focus();
      }
      say(text, true);
    }
  });
  xhr.addEventListener("error", () => {
    $("submit").disabled = false;
    say("The upload failed (network error, or the file is larger than the server accepts).", true);
  });
  xhr.send(data);
}

const STAGES = { decoding: "Reading the frames…", detecting: "Finding faces…", classifying: "Scoring the faces…", finishing: "Finishing…" };

function poll(delay) {
  setTimeout(async () => {
    let r;
    try {
      r = await fetch(`/v1/jobs/${jobId}`, { headers: headers() });
    } catch (_) {
      say("Lost contact with the server; retrying…", true);
      return poll(Math.min(delay * 2, 5000));
    }
    const job = await r.json();
    if (!r.ok) {
      $("submit").disabled = false;
      return say(job.error || `The server answered ${r.status}.`, true);
    }
    if (job.state === "queued") {
      say(job.position ? `Waiting in the queue (${job.position} ahead)…` : "Waiting in the queue…");
      return poll(1000);
    }
    if (job.state === "running") {
      say(STAGES[job.stage] || "Analysing…");
      return poll(700);
    }
    $("submit").disabled = false;
    say(job.state === "done" ? "Done." : "The video could not be analysed.", job.state === "failed");
    show(job);
  }, delay);
}

function show(job) {
  const report = job.report;
  const verdict = $("verdict");
  const score = $("score");
  verdict.className = "verdict";
  let meaning;
  if (job.state === "done" && report && report.status === "ok") {
    const p = report.score;
    const fake = p >= 0.5;
    verdict.textContent = fake ? "Likely manipulated (FAKE)" : "Likely real (REAL)";
    verdict.classList.add(fake ? "fake" : "real");
    score.textContent = p.toFixed(4);
    score.dataset.score = String(p);
    $("meter-fill").style.width = `${(100 * p).toFixed(1)}%`;
    $("meter-fill").className = fake ? "fake" : "real";
    meaning =
      `${(100 * p).toFixed(1)} % is the classifiers' estimate that the faces in this video were manipulated ` +
      "(0 % certainly real, 100 % certainly fake); 50 % is the decision threshold. Values near 50 % mean the " +
      "classifiers are unsure. " +
      (fake ? "The most suspicious faces decided it." : "Few faces looked manipulated.");
  } else if (job.state === "done") {
    verdict.textContent = "No face found";
    score.textContent = "none";
    score.dataset.score = "";
    $("meter-fill").style.width = "0";
    meaning = "No face was found in the sampled frames, so there is nothing to judge.";
  } else {
    verdict.textContent = "Could not analyse";
    score.textContent = "none";
    score.dataset.score = "";
    $("meter-fill").style.width = "0";
    meaning = `${job.error || "The video could not be read."} (status: ${job.status || "unknown"})`;
  }
  $("meaning").textContent = meaning;
  $("details").textContent = report
    ? `${report.file}: ${report.frames_read} frames read, ${report.faces_found} faces found, ${report.faces_used} ` +
      `scored; ${report.timing.total_s.toFixed(1)} s.`
    : "";
  // The server's own timeline picture, when asked for, replaces the page's drawing.
  drawTimeline((job.plots || []).includes("timeline.png") ? null : report);
  showPictures(job);
  const blob = new Blob([JSON.stringify(job, null, 2)], { type: "application/json" });
  $("report-link").href = URL.createObjectURL(blob);
  $("result").hidden = false;
  $("result").focus();
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// Every scored face as a dot at its frame, the mean of the models' probabilities (an ensemble's face score).
function drawTimeline(report) {
  const box = $("timeline");
  box.replaceChildren();
  const faces = [];
  for (const frame of (report && report.frames) || []) {
    for (const f of frame.faces) {
      if (f.probabilities.length) {
        faces.push([frame.index, f.probabilities.reduce((a, b) => a + b, 0) / f.probabilities.length]);
      }
    }
  }
  $("timeline-figure").hidden = faces.length === 0;
  if (!faces.length) return;
  const W = 600, H = 200, L = 40, R = 10, T = 10, B = 30;
  const last = Math.max(1, ...faces.map((f) => f[0]));
  const x = (i) => L + ((W - L - R) * i) / last;
  const y = (p) => T + (H - T - B) * (1 - p);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "tl-title" }, box);
  el("title", { id: "tl-title" }, svg).textContent =
    `${faces.length} faces; highest probability ${Math.max(...faces.map((f) => f[1])).toFixed(2)}`;
  el("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#767676" }, svg);
  el("line", { x1: L, y1: y(0.5), x2: W - R, y2: y(0.5), stroke: "#111", "stroke-dasharray": "4 3" }, svg);
  for (const p of [0, 0.5, 1]) {
    el("text", { x: 4, y: y(p) + 4 }, svg).textContent = p.toFixed(1);
  }
  el("text", { x: W / 2 - 20, y: H - 6 }, svg).textContent = "frame";
  el("text", { x: L - 3, y: H - 14 }, svg).textContent = "0";
  el("text", { x: W - R - 24, y: H - 14 }, svg).textContent = String(last);
  for (const [i, p] of faces) {
    el("circle", { cx: x(i), cy: y(p), r: 4, fill: p >= 0.5 ? "#a50e0e" : "#0b6b2f" }, svg);
  }
}

const PICTURES = {
  "timeline.png": "Per-face probabilities over the video, per model, with the video score and the 0.5 line",
  "faces.png": "Contact sheet: every face scored, with its probability",
  "gradcam.png": "Grad-CAM: where the first classifier looked on the most suspicious faces",
};

async function showPictures(job) {
  const box = $("pictures");
  box.replaceChildren();
  for (const name of job.plots || []) {
    const r = await fetch(`/v1/jobs/${job.id}/plots/${name}`, { headers: headers() });
    if (!r.ok) continue;
    const url = URL.createObjectURL(await r.blob());
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = url;
    img.alt = PICTURES[name] || name;
    const cap = document.createElement("figcaption");
    cap.textContent = PICTURES[name] || name;
    fig.append(cap, img);
    box.appendChild(fig);
  }
}

$("delete").addEventListener("click", async () => {
  if (!jobId) return;
  const r = await fetch(`/v1/jobs/${jobId}`, { method: "DELETE", headers: headers() });
  say(r.status === 204 || r.status === 404 ? "Deleted from the server." : `Delete failed (${r.status}).`, r.status >= 400 && r.status !== 404);
  $("result").hidden = true;
  jobId = null;
});
