// The photos page: choose a project (and a storey), pick or take several photos;
// each is sent on its own with XMLHttpRequest so its upload progress shows, and
// its checks run before the answer comes back (or later, with a job queue).
// Below, the project's recent photos with their state and open findings.
import { api, ApiError, LANGUAGE, NetworkError, page, problemWords as sharedProblemWords, t, el, formatTime } from "./api.js";

const PER_PAGE = 24;
const POLL_MS = 3000;

const $ = (id) => document.getElementById(id);
const projectSelect = $("project");
const statusFilter = $("status-filter");
const storeySelect = $("storey");
const uploadList = $("uploads");
const grid = $("photo-grid");
const listMessage = $("list-message");
const moreButton = $("more");

const queue = [];            // uploads in the order chosen
let sending = false;
let pagesShown = 1;
let pollTimer = null;
const ready = loadProjects();

// ---------------------------------------------------------------- words

function problemWords(error) {
  return sharedProblemWords(error, {
    "unsupported-image": t("This kind of file is not accepted: send a JPEG, PNG or WebP photo."),
    "unreadable-image": t("The file is damaged or incomplete: it cannot be read as a photo."),
    "image-too-large": t("The photo has too many pixels."),
    "payload-too-large": t("The file is too large."),
    "forbidden": t("Your role may not upload photos."),
  }, t("The server refused the photo."));
}

function fileSize(bytes) {
  const format = (value) => new Intl.NumberFormat(LANGUAGE, { maximumFractionDigits: 1 })
    .format(value);
  return bytes < 102400 ? t("{size} KB", { size: Math.ceil(bytes / 1024) })
    : t("{size} MB", { size: format(bytes / 1048576) });
}

// ---------------------------------------------------------------- projects and storeys

async function loadProjects() {
  let projects = [];
  try {
    projects = await api("/projects");
  } catch (error) {
    listMessage.textContent = problemWords(error).text;
    return;
  }
  const remembered = localStorage.getItem("prefabtrace-photo-project");
  projectSelect.replaceChildren(...projects.map((project) =>
    el("option", { value: project.id }, `${project.code} · ${project.name}`)));
  if (projects.some((project) => String(project.id) === remembered)) {
    projectSelect.value = remembered;
  }
  if (!projects.length) {
    listMessage.textContent = t("You take part in no project yet.");
    for (const input of document.querySelectorAll("#upload input, #upload select")) {
      input.disabled = true;
    }
    return;
  }
  await Promise.all([loadStoreys(), loadPhotos()]);
}

async function loadStoreys() {
  if (!storeySelect) return;
  const projectId = projectSelect.value;
  const rememberedStorey = localStorage.getItem("prefabtrace-photo-storey");
  storeySelect.replaceChildren(el("option", { value: "" }, t("No storey")));
  try {
    const buildings = await api(`/projects/${projectId}/buildings`);
    const groups = await Promise.all(buildings.map(async (building) => {
      const storeys = await api(`/buildings/${building.id}/storeys`);
      return el("optgroup", { label: building.name }, storeys.map((storey) =>
        el("option", { value: storey.id }, `${building.name} · ${storey.name}`)));
    }));
    if (projectSelect.value !== projectId) return;  // changed meanwhile
    storeySelect.append(...groups);
    if (rememberedStorey && storeySelect.querySelector(`option[value="${rememberedStorey}"]`)) {
      storeySelect.value = rememberedStorey;
    }
  } catch (error) {
    // Without storeys the photos still go to the project.
  }
}

projectSelect.addEventListener("change", () => {
  localStorage.setItem("prefabtrace-photo-project", projectSelect.value);
  localStorage.removeItem("prefabtrace-photo-storey");
  pagesShown = 1;
  loadStoreys();
  loadPhotos();
});
statusFilter.addEventListener("change", () => { pagesShown = 1; loadPhotos(); });
if (storeySelect) {
  storeySelect.addEventListener("change", () =>
    localStorage.setItem("prefabtrace-photo-storey", storeySelect.value));
}

// ---------------------------------------------------------------- uploading

async function choose(files) {
  await ready;  // photos chosen before the projects arrived wait for them
  const projectId = projectSelect.value;
  if (!projectId || !files.length) return;
  const storeyId = storeySelect ? storeySelect.value : "";
  const items = files.map((file) => ({ file, projectId, storeyId, state: "waiting",
                                       fraction: 0 }));
  // The newest choice on top, in the order it was chosen.
  uploadList.prepend(...items.map(renderUpload));
  for (const item of items) {
    update(item, {});
    queue.push(item);
  }
  sendNext();
}

for (const id of ["file-input", "camera-input"]) {
  const input = $(id);
  if (!input) continue;
  input.addEventListener("change", () => {
    choose([...input.files]);
    input.value = "";  // the same photo may be chosen again
  });
}

async function sendNext() {
  if (sending) return;
  sending = true;
  try {
    // One at a time: a slow site connection is not split, and each photo is
    // compared with the ones sent just before it.
    for (let item = next(); item; item = next()) {
      await send(item);
      loadPhotos();
    }
  } finally {
    sending = false;
  }
}

function next() {
  return queue.find((item) => item.state === "waiting");
}

function send(item) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("project_id", item.projectId);
    if (item.storeyId) form.append("storey_id", item.storeyId);
    form.append("image", item.file, item.file.name || "photo.jpg");
    const request = new XMLHttpRequest();
    request.open("POST", "/api/v1/photos");
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("Accept-Language", LANGUAGE);
    request.setRequestHeader("X-CSRFToken", page.csrf);
    request.responseType = "json";
    update(item, { state: "uploading", fraction: 0 });
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) update(item, { fraction: event.loaded / event.total });
    });
    request.upload.addEventListener("load", () => update(item, { state: "checking", fraction: 1 }));
    request.addEventListener("load", () => {
      const body = request.response;
      if (request.status === 200 || request.status === 202) {
        const photo = body && body.items && body.items[0];
        update(item, { state: "done", photo, again: request.status === 200 });
      } else {
        const problem = body && typeof body === "object" ? body
          : { title: `HTTP ${request.status}` };
        update(item, { state: "failed", error: new ApiError(request.status, problem),
                       retry: request.status >= 500 });
      }
      resolve();
    });
    for (const name of ["error", "timeout", "abort"]) {
      request.addEventListener(name, () => {
        update(item, { state: "failed", error: new NetworkError(name), retry: true });
        resolve();
      });
    }
    request.send(form);
  });
}

function update(item, changes) {
  Object.assign(item, changes);
  const percent = Math.round(item.fraction * 100);
  const { node, bar, status, extra } = item.parts;
  node.dataset.state = item.state;
  bar.className = `bar ${item.state}`;
  bar.setAttribute("aria-valuenow", String(percent));
  bar.firstChild.style.width = `${item.state === "done" ? 100 : percent}%`;
  const [text, kind, detail] = describeUpload(item, percent);
  status.textContent = text;
  status.className = `upload-status ${kind}`;
  extra.replaceChildren(...[
    detail ? el("p", { class: "muted small" }, detail) : null,
    item.state === "done" && item.photo
      ? el("a", { class: "button small-button", href: `/photos/${item.photo.id}` },
           t("Review the photo")) : null,
    item.state === "failed" && item.retry
      ? el("button", { type: "button", class: "small-button", onclick: () => {
          update(item, { state: "waiting", fraction: 0, error: null });
          sendNext();
        } }, t("Try again")) : null].filter(Boolean));
}

function describeUpload(item, percent) {
  if (item.state === "waiting") return [t("Waiting to send"), "muted"];
  if (item.state === "uploading") return [t("Sending… {percent}%", { percent }), "muted"];
  if (item.state === "checking") return [t("Sent. Checking the photo…"), "muted"];
  if (item.state === "failed") {
    const words = problemWords(item.error);
    return [t("Not uploaded: {reason}", { reason: words.text }), "bad", words.detail];
  }
  const photo = item.photo || {};
  const open = (photo.findings || []).filter((finding) => finding.status === "open").length;
  if (item.again) return [t("Already uploaded before: this is the same photo."), "ok"];
  if (photo.status === "pending") return [t("Uploaded. The checks are still running."), "ok"];
  if (photo.status === "failed") return [t("Uploaded, but a check failed."), "warn"];
  if (open) {
    return [t("Uploaded and checked. Findings to look at: {count}.", { count: open }), "warn"];
  }
  return [t("Uploaded and checked: nothing found."), "ok"];
}

function renderUpload(item) {
  const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0",
                          "aria-valuemax": "100", "aria-label": t("Upload progress") },
                 el("span"));
  const status = el("p", { "data-testid": "upload-status" });
  const extra = el("div", { class: "upload-extra" });
  const preview = el("img", { class: "preview", alt: "" });
  // Only a preview: the browser may not draw every format the server takes.
  preview.addEventListener("error", () => preview.classList.add("no-preview"), { once: true });
  preview.addEventListener("load", () => URL.revokeObjectURL(preview.src), { once: true });
  preview.src = URL.createObjectURL(item.file);
  const node = el("li", { class: "upload-item", "data-testid": "upload-item" },
    preview,
    el("div", { class: "upload-body" },
      el("div", { class: "upload-name" },
        el("strong", {}, item.file.name || t("Photo")),
        el("span", { class: "muted small" }, fileSize(item.file.size))),
      bar, status, extra));
  item.parts = { node, bar, status, extra };
  return node;
}

// ---------------------------------------------------------------- the list

async function loadPhotos() {
  const projectId = projectSelect.value;
  if (!projectId) return;
  const status = statusFilter.value;
  const query = new URLSearchParams({ project_id: projectId, page: "1",
                                      per_page: String(PER_PAGE * pagesShown) });
  if (status) query.set("status", status);
  let answer;
  try {
    answer = await api(`/photos?${query}`);
  } catch (error) {
    listMessage.textContent = problemWords(error).text;
    return;
  }
  if (projectSelect.value !== projectId || statusFilter.value !== status) return;
  listMessage.textContent = answer.total ? t("{shown} of {total} photos, newest first",
    { shown: answer.items.length, total: answer.total }) : t("No photos yet.");
  grid.replaceChildren(...answer.items.map(photoCard));
  moreButton.classList.toggle("hidden", answer.items.length >= answer.total);
  clearTimeout(pollTimer);
  if (answer.items.some((photo) => photo.status === "pending")) {
    pollTimer = setTimeout(loadPhotos, POLL_MS);
  }
}

moreButton.addEventListener("click", () => { pagesShown += 1; loadPhotos(); });

function photoCard(photo) {
  const findings = photo.findings || [];
  const open = findings.filter((finding) => finding.status === "open").length;
  const badges = [];
  if (photo.status === "pending") {
    badges.push(el("span", { class: "badge warn" }, t("Being checked")));
  } else if (photo.status === "failed") {
    badges.push(el("span", { class: "badge bad" }, t("A check failed")));
  } else {
    badges.push(el("span", { class: "badge ok" }, t("Checked")));
  }
  if (open) {
    badges.push(el("span", { class: "badge bad", "data-testid": "open-findings" },
                   t("Open findings: {count}", { count: open })));
  } else if (findings.length) {
    badges.push(el("span", { class: "badge" }, t("Findings decided: {count}",
                                                 { count: findings.length })));
  } else if (photo.status === "done") {
    badges.push(el("span", { class: "badge" }, t("No findings")));
  }
  const shown = (photo.components || []).length;
  return el("li", { class: "photo-card", "data-testid": "photo-card", "data-photo-id": photo.id },
    el("a", { href: `/photos/${photo.id}`, class: "photo-link" },
      el("img", { src: `${photo.image_url}?max_side=480`, alt: photo.original_name || "", loading: "lazy",
                  width: "320", height: "240" }),
      el("div", { class: "photo-meta" },
        el("div", { class: "badges" }, badges),
        el("div", { class: "small" }, shown
          ? t("Components shown: {count}", { count: shown }) : t("No labelled component")),
        el("div", { class: "muted small name" },
           `${formatTime(photo.uploaded_at)} · ${photo.original_name || ""}`))));
}

