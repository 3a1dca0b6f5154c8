// The scan page: camera (zxing-wasm), keyboard-wedge scanners and typed codes all
// lead to one card with the allowed next actions; a tap queues the action in
// IndexedDB and sends it when the network allows. QC inspectors fill the
// checklists of the component on the card here too (queued the same way).
import { api, ApiError, LOCALE, NetworkError, page, t, stateName, actionName, loadStateName, el, formatTime, stageName, gateName, itemText } from "./api.js";
import * as outbox from "./outbox.js";

const REPEAT_MS = 4000;          // the same label read again within this is the same read
const FRAME_INTERVAL_MS = 150;   // how often the camera frame is decoded

const $ = (id) => document.getElementById(id);
const card = $("card");
const resultLine = $("result");
const manualForm = $("manual");
const manualInput = $("manual-code");
const cameraVideo = $("camera-video");
const cameraMessage = $("camera-message");
const cameraToggle = $("camera-toggle");

const deviceId = localStorage.getItem("prefabtrace-device") ||
  (() => { const id = `web-${outbox.newEventId().slice(0, 8)}`;
           localStorage.setItem("prefabtrace-device", id); return id; })();
const typeNames = new Map();
const storeyNames = new Map();
const buildingNames = new Map();
let current = null;          // {scanned, component|null, load|null}
// The last label each way of reading saw. A label the camera keeps seeing is
// one read until it has been out of view for REPEAT_MS; a scanner's repeat
// within REPEAT_MS is one read too. Typing is always deliberate.
const lastRead = { camera: { text: "", at: 0 }, wedge: { text: "", at: 0 } };
const queuedHere = new Set();   // "code|action" tapped and not yet sent: no second tap
const checklists = new Map();   // component type -> its checklist templates (a promise)
const decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });

// ---------------------------------------------------------------- reading

async function onRead(text, source) {
  text = text.trim();
  if (!text) return;
  const now = Date.now();
  const last = lastRead[source];
  if (last) {
    const repeated = text === last.text && now - last.at < REPEAT_MS;
    if (repeated && source === "camera") last.at = now;
    if (repeated) return;
    lastRead[source] = { text, at: now };
  }
  // While a record number is asked for, the card stays on the tapped component.
  if ($("record-dialog").open || $("checklist-dialog").open) return;
  if (navigator.vibrate && source === "camera") navigator.vibrate(60);
  await show(text);
}

// A load label (GS1 Digital Link /00/{sscc}, or /l/{code}) or a printed SSCC names a truck.
const LOAD_TEXT = /(\/00\/[0-9]{18}|\/l\/[0-9A-Z]{1,16})(\?|$)|^\(00\)/;

// keepResult: the card is looked up again after a refusal, which stays on the line.
async function show(scanned, { keepResult = false } = {}) {
  current = { scanned, component: null, load: null, offline: false };
  if (!keepResult) setResult("", "");
  renderCard({ loading: true });
  try {
    if (LOAD_TEXT.test(scanned)) {
      await showLoad(scanned);
      return;
    }
    const answer = await api(`/components?per_page=1&code=${encodeURIComponent(scanned)}`);
    if (!answer.items.length) {
      // A typed load code reads like a component code.
      if (await showLoad(scanned, { quiet: true })) return;
      current = null;
      renderCard({ missing: scanned });
      return;
    }
    current.component = answer.items[0];
    renderCard({});
    describe(current.component);
  } catch (error) {
    if (error instanceof NetworkError) {
      current.offline = true;
      renderCard({});
    } else {
      current = null;
      renderCard({ error: error.message });
    }
  }
}

// ---------------------------------------------------------------- loads

async function showLoad(scanned, { quiet = false } = {}) {
  const found = await api(`/loads?per_page=1&code=${encodeURIComponent(scanned)}`);
  if (!found.items.length) {
    if (quiet) return false;
    current = null;
    renderCard({ missing: scanned });
    return false;
  }
  current.load = await api(`/loads/${found.items[0].id}`);
  renderLoadCard();
  return true;
}

function renderLoadCard() {
  const load = current.load;
  card.replaceChildren();
  card.classList.remove("hidden");
  const allowed = load.next_actions.filter((name) => page.role_actions.includes(name));
  card.append(...[
    el("div", { class: "code", "data-testid": "load-code" }, load.sscc_text || formatCode(load.code)),
    el("div", { class: "mark" }, t("Load"), " ", formatCode(load.code), " · ",
       load.vehicle || "", " ", el("span", { class: "muted" }, t("{count} pieces", { count: load.piece_count }))),
    el("div", { class: "state" }, t("Load state"), ": ",
       el("span", { class: `badge ld-${load.state}`, "data-testid": "load-state" }, loadStateName(load.state))),
    allowed.length ? el("div", { class: "actions" }, allowed.map((name) =>
      el("button", { type: "button", class: name.startsWith("reject") ? "danger" : "primary",
                     "data-load-action": name, onclick: () => actOnLoad(name) },
         t("{action} all {count} pieces", { action: actionName(name), count: load.piece_count }))))
      : el("p", { class: "muted" }, t("Nothing for your role to do with this load now.")),
    el("ol", { class: "small load-items", "data-testid": "load-items" }, load.items.map((item) =>
      el("li", {}, `${formatCode(item.code)} · ${item.mark} · `,
         el("span", { class: `badge st-${item.state}` }, stateName(item.state)),
         item.on_hold ? el("span", { class: "badge warn" }, t("On hold")) : null,
         item.damaged ? el("span", { class: "badge bad" }, t("Damaged")) : null,
         item.ncr_open ? el("span", { class: "badge bad" }, t("NCR open")) : null)))]
    .filter(Boolean));
}

// A load is recorded online, in one request: every piece or none.
async function actOnLoad(action) {
  const target = current;
  if (!target || !target.load) return;
  for (const button of card.querySelectorAll("button[data-load-action]")) button.disabled = true;
  try {
    const answer = await api(`/loads/${target.load.id}/scans`, { method: "POST", body: {
      action, client_event_id: outbox.newEventId(), client_time: new Date().toISOString(),
      device: deviceId } });
    setResult(t("Recorded: {action} for {count} pieces",
                { action: actionName(action), count: answer.events.length }), "ok");
    if (current === target) {
      current.load = answer.load;
      renderLoadCard();
    }
  } catch (error) {
    let reason;
    if (error instanceof NetworkError) {
      reason = t("No network: a load is recorded online. Try again when the network is back.");
    } else if (error.problem && error.problem.refusals) {
      reason = error.problem.refusals.map((refusal) => {
        const item = target.load.items.find((i) => i.component_id === refusal.component_id);
        return `${item ? formatCode(item.code) : refusal.component_id}: ${reasonOf(refusal.problem)}`;
      }).join("; ");
    } else {
      reason = reasonOf(error.problem);
    }
    setResult(t("Refused: {reason}", { reason }), "bad");
    if (current === target) renderLoadCard();
  }
}

async function describe(component) {
  if (page.may_inspect) templatesOf(component.component_type_id).catch(() => {});
  const [type, storey] = await Promise.all([
    cachedName(typeNames, component.component_type_id, (id) => api(`/component-types/${id}`)),
    component.storey_id ? cachedName(storeyNames, component.storey_id, async (id) => {
      const storey = await api(`/storeys/${id}`);
      const building = await cachedName(buildingNames, storey.building_id,
                                        (buildingId) => api(`/buildings/${buildingId}`));
      return { name: [building, storey.name].filter(Boolean).join(" · ") };
    }) : null]);
  if (current && current.component && current.component.id === component.id) {
    $("card-type").textContent = type || "";
    $("card-storey").textContent = storey || "";
  }
}

async function cachedName(cache, id, load) {
  if (!cache.has(id)) {
    cache.set(id, load(id).then((row) => row.name).catch(() => { cache.delete(id); return ""; }));
  }
  return cache.get(id);
}

// ---------------------------------------------------------------- the card

function renderCard({ loading, missing, error }) {
  card.replaceChildren();
  card.classList.remove("hidden");
  if (loading) { card.append(el("p", { class: "muted" }, t("Looking up…"))); return; }
  if (missing) {
    card.append(el("p", { class: "result bad" }, t("No component with code {code}", { code: missing })));
    return;
  }
  if (error) { card.append(el("p", { class: "result bad" }, error)); return; }
  const component = current.component;
  if (!component) {
    card.append(
      el("div", { class: "code" }, formatCode(scannedCode(current.scanned))),
      el("p", { class: "result queued" }, t("Offline: the state is not known. Actions are checked when they are sent.")),
      actionButtons(page.role_actions));
    return;
  }
  const flags = [];
  if (component.on_hold) flags.push(el("span", { class: "badge warn" }, t("On hold")));
  if (component.damaged) flags.push(el("span", { class: "badge bad" }, t("Damaged")));
  if (component.ncr_open) flags.push(el("span", { class: "badge bad" }, t("NCR open")));
  const allowed = component.allowed_actions.filter((name) => page.role_actions.includes(name));
  card.append(...[
    el("div", { class: "code", "data-testid": "card-code" }, formatCode(component.code)),
    el("div", { class: "mark" }, component.mark, " ", el("span", { id: "card-type", class: "muted" })),
    el("div", { class: "muted", id: "card-storey" }),
    el("div", { class: "state" }, t("State"), ": ",
       el("span", { class: `badge st-${component.state}`, "data-testid": "card-state" },
          stateName(component.state))),
    flags.length ? el("div", { class: "flags" }, flags) : null,
    allowed.length ? actionButtons(allowed)
      : el("p", { class: "muted" }, t("Nothing for your role to do here now.")),
    page.may_inspect ? el("button", { type: "button", class: "primary",
                                      "data-testid": "checklist-open",
                                      onclick: () => openChecklist(component) },
                          t("Fill a checklist")) : null,
    el("a", { href: `/components/${component.id}`, class: "small" }, t("History"))]
    .filter(Boolean));
}

function actionButtons(names) {
  const code = current.component ? current.component.code : current.scanned;
  return el("div", { class: "actions" }, names.map((name) =>
    el("button", { type: "button", disabled: queuedHere.has(`${code}|${name}`), class: name.includes("fail") || name.includes("damage") ||
                   name.startsWith("reject") || name === "scrap" || name === "hold" ? "danger" : "primary",
                   "data-action": name, onclick: () => act(name) }, actionName(name))));
}

function formatCode(code) {
  return code.length === 9 ? `${code.slice(0, 3)}-${code.slice(3, 6)}-${code.slice(6)}` : code;
}

// ---------------------------------------------------------------- acting

async function act(action) {
  // The card may change while the record number is asked for (the camera keeps
  // reading): the action is for the component on the card when it was tapped.
  const target = current;
  if (!target) return;
  const code = target.component ? target.component.code : scannedCode(target.scanned);
  let data;
  if (page.needs_record.includes(action)) {
    const record = await askRecord(action);
    if (!record) return;
    data = { record };
  }
  for (const button of card.querySelectorAll("button[data-action]")) button.disabled = true;
  const clientEventId = outbox.newEventId();
  queuedHere.add(`${code}|${action}`);
  try {
    await outbox.add({ client_event_id: clientEventId, code, action, data,
                       client_time: new Date().toISOString(), device: deviceId, user: page.user,
                       label: target.component ? `${formatCode(code)} ${target.component.mark}`
                                               : formatCode(code) });
  } catch (error) {
    // Without IndexedDB (private mode, full storage) nothing can wait: say so.
    queuedHere.delete(`${code}|${action}`);
    setResult(t("This phone cannot keep actions ({reason}); nothing was recorded.",
                { reason: error.message || error.name }), "bad");
    if (current) renderCard({});
    return;
  }
  await sendQueue({ tapped: clientEventId });
}

// What a label says, shown as a code: /c/<code> and GS1 links are long.
function scannedCode(scanned) {
  const match = /\/c\/([^/?#]+)/.exec(scanned);
  return match ? decodeURIComponent(match[1]).toUpperCase() : scanned;
}

function askRecord(action) {
  const dialog = $("record-dialog");
  $("record-title").textContent = actionName(action);
  $("record-input").value = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? $("record-input").value.trim() : "");
    }, { once: true });
  });
}

// ---------------------------------------------------------------- checklists

function templatesOf(typeId) {
  if (!checklists.has(typeId)) {
    checklists.set(typeId, api(`/component-types/${typeId}/checklists`).catch((error) => {
      checklists.delete(typeId);
      throw error;
    }));
  }
  return checklists.get(typeId);
}

const STAGE_ORDER = page.stage_order || [];  // the checklist stages, in the lifecycle's order
// The stage a piece in this state is most likely inspected for.
const STAGE_FOR_STATE = page.stage_for_state || {};  // the inspection a state is likely due
const checklistDialog = $("checklist-dialog");
let checklistFor = null;   // {component, template} the open checklist is for

async function openChecklist(component) {
  let templates;
  try {
    templates = await templatesOf(component.component_type_id);
  } catch (error) {
    setResult(error instanceof NetworkError
      ? t("No network: the checklists of this type could not be loaded.") : error.message, "bad");
    return;
  }
  if (!templates.length) {
    setResult(t("This type has no checklists."), "bad");
    return;
  }
  templates = [...templates].sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
  const select = $("checklist-stage");
  select.replaceChildren(...templates.map((template) =>
    el("option", { value: template.stage }, stageName(template.stage))));
  const preferred = STAGE_FOR_STATE[component.state];
  if (templates.some((template) => template.stage === preferred)) select.value = preferred;
  const render = () => {
    checklistFor = { component, template: templates.find((tpl) => tpl.stage === select.value) };
    renderChecklistItems(checklistFor.template);
    checklistError("");
  };
  select.onchange = render;
  render();
  $("checklist-items").onchange = () => checklistError("");
  $("checklist-title").textContent = t("Checklist: {mark}", { mark: component.mark });
  checklistDialog.showModal();
}

function renderChecklistItems(template) {
  $("checklist-items").replaceChildren(...template.items.map((item) => {
    const name = `item-${item.key}`;
    const box = el("div", { class: "checklist-item", dataset: { key: item.key, kind: item.kind },
                            "data-testid": `checklist-item-${item.key}` },
                   el("span", { class: "item-text" }, itemText(item)));
    if (item.kind === "pass_fail") {
      box.append(el("div", { class: "choices" },
        el("label", {}, el("input", { type: "radio", name, value: "pass" }), t("Pass")),
        el("label", {}, el("input", { type: "radio", name, value: "fail" }), t("Fail"))));
    } else if (item.kind === "measured") {
      const unit = item.unit || "";
      const tolerance = decimal.format(item.tolerance ?? 0);
      const hint = item.nominal !== null && item.nominal !== undefined
        ? t("Measured value; design {nominal} {unit}, allowed ± {tolerance}",
            { nominal: decimal.format(item.nominal), unit, tolerance })
        : t("Deviation from the design ({unit}), allowed ± {tolerance}", { unit, tolerance });
      const verdict = el("span", { class: "verdict small" });
      const input = el("input", { type: "number", step: "any", inputmode: "decimal", name,
                                  "aria-label": itemText(item) });
      input.addEventListener("input", () => {
        const value = parseFloat(input.value);
        const deviation = value - (item.nominal ?? 0);
        const within = Math.abs(deviation) <= (item.tolerance ?? 0) + 1e-9;
        verdict.textContent = Number.isNaN(value) ? ""
          : within ? t("Within tolerance") : t("Out of tolerance");
        verdict.className = `verdict small ${within ? "ok" : "bad"}`;
      });
      box.append(el("span", { class: "small muted" }, hint), el("div", {}, input, " ", verdict));
    } else if (item.kind === "text") {
      box.append(el("textarea", { name, rows: 2, maxlength: 500, "aria-label": itemText(item) }));
    } else {
      box.append(el("span", { class: "small muted" }, t("A photo is required.")),
                 el("input", { type: "file", name, accept: "image/*", capture: "environment",
                               multiple: true, "aria-label": itemText(item) }));
    }
    return box;
  }));
}

// The answers as the API takes them, the photos to upload first, and what is missing.
function checklistAnswers() {
  const results = [];
  const photos = {};
  const missing = [];
  for (const box of $("checklist-items").querySelectorAll(".checklist-item")) {
    const { key, kind } = box.dataset;
    const label = box.querySelector(".item-text").textContent;
    if (kind === "pass_fail") {
      const chosen = box.querySelector("input:checked");
      if (!chosen) missing.push(label);
      else results.push({ key, passed: chosen.value === "pass" });
    } else if (kind === "measured") {
      const value = parseFloat(box.querySelector("input").value);
      if (Number.isNaN(value)) missing.push(label);
      else results.push({ key, value });
    } else if (kind === "text") {
      const text = box.querySelector("textarea").value.trim();
      if (!text) missing.push(label);
      else results.push({ key, text });
    } else {
      const files = [...box.querySelector("input[type=file]").files];
      if (!files.length) missing.push(label);
      else {
        results.push({ key });
        photos[key] = files;
      }
    }
  }
  return { results, photos, missing };
}

function checklistError(text) {
  const line = $("checklist-error");
  line.textContent = text;
  line.classList.toggle("hidden", !text);
}

$("checklist-form").addEventListener("submit", async (event) => {
  if (!event.submitter || event.submitter.value !== "ok") return;  // Cancel closes it
  event.preventDefault();
  const { results, photos, missing } = checklistAnswers();
  if (missing.length) {
    checklistError(t("Not answered: {items}", { items: missing.join("; ") }));
    return;
  }
  const { component, template } = checklistFor;
  const clientEventId = outbox.newEventId();
  try {
    await outbox.add({ kind: "inspection", client_event_id: clientEventId, component_id: component.id,
                       code: component.code, stage: template.stage, results, photos,
                       client_time: new Date().toISOString(), user: page.user,
                       label: `${formatCode(component.code)} ${component.mark}` });
  } catch (error) {
    checklistError(t("This phone cannot keep actions ({reason}); nothing was recorded.",
                     { reason: error.message || error.name }));
    return;
  }
  checklistDialog.close();
  await sendQueue({ tapped: clientEventId, tappedChecklist: true });
});

async function sendQueue({ tapped = null, tappedChecklist = false } = {}) {
  let summary;
  try {
    summary = await outbox.flush(page.user);
  } catch (error) {
    setResult(error.message, "bad");
    await renderOutbox();
    return;
  }
  const done = [...summary.sent, ...summary.refused];
  for (const item of done) queuedHere.delete(`${item.code}|${item.action}`);
  // The card shows what the server now says of its component.
  const onCard = current && current.component &&
    summary.sent.find((item) => item.result.component &&
                                item.result.component.id === current.component.id);
  if (onCard) {
    current.component = { ...current.component, ...onCard.result.component };
    renderCard({});
    describe(current.component);
  }
  const mine = tapped && done.find((item) => item.client_event_id === tapped);
  if (mine && mine.kind === "inspection" && mine.status === "refused") {
    setResult(t("Checklist refused: {reason}", { reason: reasonOf(mine.problem) }), "bad");
  } else if (mine && mine.kind === "inspection") {
    setResult(mine.result.passed
      ? t("Checklist recorded: {stage} passed", { stage: stageName(mine.stage) })
      : t("Checklist recorded: {stage} failed; an NCR is opened where the piece allows one",
          { stage: stageName(mine.stage) }), mine.result.passed ? "ok" : "bad");
  } else if (mine && mine.status === "refused") {
    setResult(t("Refused: {reason}", { reason: reasonOf(mine.problem) }), "bad");
    if (current && current.component && current.component.code === mine.code) {
      show(current.component.code, { keepResult: true });
    }
  } else if (mine) {
    const duplicate = mine.result.outcome === "duplicate";
    setResult(duplicate ? t("Already recorded: {action}", { action: actionName(mine.action) })
                        : t("Recorded: {action}", { action: actionName(mine.action) }), "ok");
  } else if (tapped && summary.signedOut) {
    setResult(t("Your session has ended. Sign in again; the actions stay queued."), "bad");
  } else if (tapped && tappedChecklist) {
    setResult(t("No network: the checklist is queued and will be sent."), "queued");
  } else if (tapped) {
    setResult(t("No network: the action is queued and will be sent."), "queued");
    if (current) renderCard({});
  } else if (summary.sent.length) {
    setResult(t("Queued actions sent: {count}", { count: summary.sent.length }), "ok");
  }
  await renderOutbox();
}

// Why the server refused an action, in the page's language.
function reasonOf(problem) {
  if (!problem) return "";
  const type = String(problem.type || "").split("/").pop();
  const state = problem.current_state ? stateName(problem.current_state) : "";
  const known = {
    "invalid-transition": state ? t("Not possible while the component is {state}.", { state })
                                : t("Not possible in the component's state."),
    "action-blocked": t("Blocked: the component is on hold, damaged or has an open NCR."),
    "record-required": t("A record number is needed."),
    "forbidden-action": t("Your role may not do this."),
    "not-found": t("No such component, or not one you may see."),
    "unknown-code": t("The code is mistyped."),
    "label-invalid": t("The label is forged or altered: do not use it, report it."),
    "label-revoked": t("The label was replaced by a newer one: use the new label."),
    "load-refused": t("Some pieces refuse this action; nothing was recorded."),
    "invalid-sscc": t("The SSCC is mistyped."),
    "strength-not-reached": strengthReason(problem),
    "inspection-required": inspectionReason(problem),
    "validation-error": problem.errors ? `${problem.title}: ${flatErrors(problem.errors)}` : "",
  };
  return known[type] || [problem.title, problem.detail].filter(Boolean).join(": ");
}

// A strength gate's refusal: what is required, the best result, and of which pour.
function strengthReason(problem) {
  const values = { strength: gateName(problem.gate || ""),
                   required: decimal.format(problem.required_mpa ?? 0),
                   measured: decimal.format(problem.measured_mpa ?? 0),
                   pour: problem.pour_id };
  if (problem.pour_id === null || problem.pour_id === undefined) {
    return t("{strength} of {required} MPa is not reached: the piece is in no pour, so it has no strength result.", values);
  }
  if (problem.measured_mpa === null || problem.measured_mpa === undefined) {
    return t("{strength} of {required} MPa is not reached: pour {pour} has no strength result yet.", values);
  }
  return t("{strength} of {required} MPa is not reached: the best result of pour {pour} is {measured} MPa.", values);
}

function inspectionReason(problem) {
  const stage = stageName(problem.stage);
  return problem.inspection_id
    ? t("A passed {stage} is needed: inspection #{id} failed.", { stage, id: problem.inspection_id })
    : t("A passed {stage} is needed: none is recorded.", { stage });
}

function flatErrors(errors) {
  if (typeof errors === "string") return errors;
  if (Array.isArray(errors)) return errors.map(flatErrors).join(" ");
  return Object.entries(errors).map(([key, value]) => `${key}: ${flatErrors(value)}`).join("; ");
}

function setResult(text, kind) {
  resultLine.textContent = text;
  resultLine.className = `result ${kind}`;
  resultLine.classList.toggle("hidden", !text);
}

// ---------------------------------------------------------------- the outbox

async function renderOutbox() {
  const items = await outbox.all();
  const mine = items.filter((item) => item.user === page.user);
  const waiting = mine.filter((item) => item.status === "waiting");
  const refused = mine.filter((item) => item.status === "refused");
  const others = [...new Set(items.filter((item) => item.user !== page.user && item.status === "waiting")
                                  .map((item) => item.user))];
  $("others").textContent = others.length
    ? t("Also waiting on this phone, for {users}: they are sent when that user signs in.",
        { users: others.join(", ") }) : "";
  $("waiting-count").textContent = waiting.length;
  $("refused-count").textContent = refused.length;
  $("waiting-list").replaceChildren(...waiting.map((item) =>
    el("li", {}, `${item.label} · ${whatOf(item)} · ${formatTime(item.client_time)}`)));
  $("refused-list").replaceChildren(...refused.map((item) =>
    el("li", { "data-testid": "refused-item" },
       el("strong", {}, `${item.label} · ${whatOf(item)}`), " — ",
       reasonOf(item.problem), " ",
       el("button", { type: "button", class: "small", onclick: async () => {
         await outbox.dismiss(item.client_event_id); renderOutbox(); } }, t("Remove")))));
  $("refused-section").classList.toggle("hidden", !refused.length);
}

function whatOf(item) {
  return item.kind === "inspection" ? stageName(item.stage) : actionName(item.action);
}

function renderOnline() {
  $("online-dot").classList.toggle("off", !navigator.onLine);
  $("online-text").textContent = navigator.onLine ? t("Online") : t("Offline");
}

window.addEventListener("online", () => { renderOnline(); sendQueue(); });
window.addEventListener("offline", renderOnline);
setInterval(async () => {
  const items = await outbox.all();
  if (items.some((item) => item.status === "waiting" && item.user === page.user)) sendQueue();
}, 15000);

// ---------------------------------------------------------------- inputs

manualForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = manualInput.value;
  manualInput.value = "";
  onRead(text, "manual");
});

// A keyboard-wedge scanner types the label's text and Enter anywhere on the
// page; when the focus is in the code field, the form above takes it.
let wedge = { text: "", last: 0 };
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement || $("record-dialog").open ||
      $("checklist-dialog").open) return;
  const now = performance.now();
  if (now - wedge.last > 1000) wedge.text = "";
  wedge.last = now;
  if (event.key === "Enter") {
    if (wedge.text.length >= 4) onRead(wedge.text, "wedge");
    wedge.text = "";
    event.preventDefault();
  } else if (event.key.length === 1) {
    wedge.text += event.key;
  }
});

// ---------------------------------------------------------------- camera

let stream = null;
let scanning = false;
let reader = null;

async function loadReader() {
  if (!reader) {
    reader = window.ZXingWASM;
    reader.prepareZXingModule({
      overrides: {
        locateFile: (path, prefix) => path.endsWith(".wasm") ? page.wasm_url : prefix + path,
      },
      fireImmediately: true,
    });
  }
  return reader;
}

let starting = false;

async function startCamera() {
  if (starting || scanning) return;
  starting = true;
  try {
    await openCamera();
  } finally {
    starting = false;
  }
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    cameraMessage.textContent = t("The camera needs HTTPS (or localhost). Use a scanner or type the code.");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false });
  } catch (error) {
    cameraMessage.textContent = cameraProblem(error);
    cameraToggle.textContent = t("Start camera");
    $("camera-frame").classList.add("hidden");
    return;
  }
  $("camera-frame").classList.remove("hidden");
  cameraVideo.srcObject = stream;
  await cameraVideo.play();
  cameraMessage.textContent = "";
  cameraToggle.textContent = t("Stop camera");
  scanning = true;
  await loadReader();
  decodeLoop();
}

function cameraProblem(error) {
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
    return t("No camera found. Use a scanner or type the code.");
  }
  if (error.name === "NotAllowedError") {
    return t("The camera is not allowed for this page. Allow it in the browser, or use a scanner or type the code.");
  }
  return t("No camera: {reason}", { reason: error.message });
}

function stopCamera() {
  scanning = false;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  cameraVideo.srcObject = null;
  cameraToggle.textContent = t("Start camera");
  cameraMessage.textContent = t("Camera off");
  $("camera-frame").classList.add("hidden");
}

const canvas = document.createElement("canvas");
const context = canvas.getContext("2d", { willReadFrequently: true });

async function decodeLoop() {
  while (scanning) {
    const started = performance.now();
    if (cameraVideo.readyState >= 2 && cameraVideo.videoWidth) {
      canvas.width = cameraVideo.videoWidth;
      canvas.height = cameraVideo.videoHeight;
      context.drawImage(cameraVideo, 0, 0);
      try {
        const image = context.getImageData(0, 0, canvas.width, canvas.height);
        const results = await reader.readBarcodes(image, {
          formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 });
        const found = results.find((result) => result.isValid && result.text);
        if (found) await onRead(found.text, "camera");
      } catch (error) {
        cameraMessage.textContent = error.message;
      }
    }
    const spent = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, FRAME_INTERVAL_MS - spent)));
  }
}

cameraToggle.addEventListener("click", () => (scanning ? stopCamera() : startCamera()));
document.addEventListener("visibilitychange", () => {
  if (document.hidden && scanning) stopCamera();
});

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js")
    .then(() => navigator.serviceWorker.ready)
    .then((registration) => registration.active.postMessage("keep-scan-page"))
    .catch(() => {});
}
renderOnline();
renderOutbox();
sendQueue();
startCamera();
