// The review page of one photo: the overlay (label boxes, crack candidates) or
// the plain photo, each check's result in words, and the findings, which a
// deciding role confirms (holding the component or opening an NCR) or dismisses.
// While checks are still running, the page asks again until they end.
import { api, ApiError, LANGUAGE, NetworkError, page, problemWords as sharedProblemWords, t, stateName, el, formatTime } from "./api.js";

const POLL_MS = 2000;
const POLL_MAX_MS = 15000;
const CHECK_ORDER = page.checks || [];  // every check the server runs, in its order
const SERIOUS_EVIDENCE = ["time-mismatch", "far-from-site"];

const $ = (id) => document.getElementById(id);
const image = $("photo-image");
const imageLink = $("image-link");
const statusLine = $("status-line");
const findingsBox = $("findings");
const checksList = $("checks");
const facts = $("facts");
const dialog = $("decide-dialog");
const pageTitle = document.title;

let photo = null;
let showOverlay = true;
let polls = 0;
let pollTimer = null;
const components = new Map();      // id -> component, or null when it cannot be read
const messages = new Map();        // finding id -> {text, detail, kind} after a decision
const places = { project: "", storey: "" };

// ---------------------------------------------------------------- words

function number(value, digits = 1) {
  return new Intl.NumberFormat(LANGUAGE, { maximumFractionDigits: digits }).format(value);
}

function formatCode(code) {
  return code && code.length === 9 ? `${code.slice(0, 3)}-${code.slice(3, 6)}-${code.slice(6)}`
    : code || "";
}

function componentName(id) {
  const component = components.get(id);
  if (!component) return t("component #{id}", { id });
  return `${component.mark} (${formatCode(component.code)})`;
}

function problemWords(error) {
  return sharedProblemWords(error, {
    "forbidden-action": t("Your role may not put a component on hold or open an NCR. Ask a QC inspector or the project manager."),
    "forbidden": t("Your role may not do this."),
    "invalid-transition": t("This is not possible in the component's current state."),
    "action-blocked": t("The component's current state blocks this."),
    "conflict": t("Someone else has already decided this finding."),
    "not-found": t("This photo does not exist, or it is of a project you do not take part in."),
  }, t("The server refused this."));
}

function checkTitle(name) {
  const titles = {
    labels: t("Labels"), quality: t("Sharpness and exposure"), cracks: t("Cracks"),
    duplicates: t("Copies of earlier photos"), evidence: t("Time and place"),
    progress: t("Storey progress"),
  };
  return titles[name] || name;
}

function verdict(kind) {
  const words = {
    ok: t("Fine"), warn: t("Look at this"), bad: t("Problem"), info: t("For information"),
    pending: t("Waiting"), running: t("Running…"), failed: t("Failed"),
  };
  const badge = { ok: "ok", warn: "warn", bad: "bad", failed: "bad", running: "warn" }[kind] || "";
  return el("span", { class: `badge ${badge}`, "data-testid": "check-verdict" }, words[kind]);
}

// ---------------------------------------------------------------- the checks in words

function explainLabels(result) {
  const labels = result.labels || [];
  if (!labels.length) {
    return ["warn", [t("No label was found in the photo. Come closer to the label, or name the component when uploading.")]];
  }
  const lines = [t("Labels found: {count}.", { count: labels.length })];
  const reasons = {
    revoked: t("An old label that was replaced by a newer one: remove it from the component."),
    "bad-signature": t("A forged or altered label: its signature does not match."),
    unsigned: t("A label without a signature: it was not printed by this system."),
    "unknown-key": t("A label signed with a key this system never published."),
    "not-issued": t("A label version that was never issued."),
    malformed: t("A QR code that is not a label of this system."),
  };
  for (const label of labels) {
    const named = label.component_id ? componentName(label.component_id) : "";
    if (label.other_project) {
      lines.push(t("A label of a component of another project."));
    } else if (label.genuine === true) {
      lines.push(t("Genuine label of {component}.", { component: named }));
    } else if (label.genuine === false) {
      const reason = reasons[label.label_status] || t("A label that is not genuine.");
      const names = named ? t("It names {component}.", { component: named }) : "";
      lines.push(named ? [reason, names].join(" ") : reason);
    } else if (named) {
      lines.push(t("A printed code of {component}: a code, not a signed label.", { component: named }));
    } else {
      lines.push(t("A code that names no component of this project."));
    }
  }
  const kind = labels.some((label) => label.genuine === false || label.other_project) ? "bad"
    : labels.every((label) => label.genuine === true) ? "ok" : "warn";
  return [kind, lines];
}

function explainQuality(result) {
  const warnings = result.warnings || [];
  const words = {
    blurred: t("Blurred: details cannot be seen well. Hold the phone still and let it focus."),
    underexposed: t("Too dark: details are lost in the shadows."),
    overexposed: t("Too bright: parts of the photo are washed out."),
    "low-resolution": t("Low resolution: {width} × {height} pixels. The short side should have at least 1000 pixels.",
                        { width: result.width, height: result.height }),
  };
  const lines = warnings.length ? warnings.map((warning) => words[warning] || warning)
    : [t("Sharp and well exposed.")];
  lines.push(result.region_source === "labels" ? t("Judged around the labels.")
    : t("Judged in the middle of the photo."));
  lines.push(el("span", { class: "muted" },
    t("Sharpness {sharpness} (sharp from 0.30), brightness {brightness} of 255.",
      { sharpness: number(result.sharpness, 2), brightness: number(result.brightness, 0) })));
  return [warnings.length ? "warn" : "ok", lines];
}

function widthBandWords(band) {
  // The usual limits for surface cracks of precast members: 0.2 and 0.3 mm.
  if (band === "below-0.2") return t("hairline, under 0.2 mm wide");
  if (band === "0.2-0.3") return t("0.2 to 0.3 mm wide");
  if (band === "above-0.3") return t("over 0.3 mm wide");
  return t("width not measured in millimetres");
}

function candidateWords(segment) {
  const words = segment.length_mm
    ? t("About {length} mm long, {band}.", { length: number(segment.length_mm, 0),
                                            band: widthBandWords(segment.width_band) })
    : t("About {length} pixels long.", { length: number(segment.length_px, 0) });
  // Joined outside a template string: the message extractor does not look inside one.
  return segment.finding === false
    ? [words, t("Too short or too faint to be a finding.")].join(" ") : words;
}

function explainCracks(result) {
  const segments = result.segments || [];
  if (!segments.length) return ["ok", [t("No crack candidates found.")]];
  const longest = segments.reduce((a, b) => (b.length_px > a.length_px ? b : a));
  const lines = [t("Crack candidates: {count}. They are marked red on the photo.",
                   { count: segments.length })];
  if (longest.length_mm) {
    lines.push(t("The longest is about {length} mm long and up to {width} mm wide.", {
      length: number(longest.length_mm, 0),
      width: number(longest.width_p90_mm || longest.width_mm || 0, 1) }));
  } else {
    lines.push(t("The longest is about {length} pixels long. No label of known size is in the photo, so it is not measured in millimetres.",
                 { length: number(longest.length_px, 0) }));
  }
  lines.push(el("ol", { class: "crack-candidates" }, segments.slice(0, 20).map((segment) =>
    el("li", { "data-testid": "crack-candidate", "data-width-band": segment.width_band || "" },
      candidateWords(segment)))));
  lines.push(el("span", { class: "muted" },
    t("A candidate is not yet a crack: a person decides under Findings.")));
  return ["warn", lines];
}

function explainDuplicates(result) {
  const matches = result.matches || [];
  if (!matches.length) return ["ok", [t("Not a copy of any earlier photo.")]];
  return ["bad", matches.map((match) => el("span", {},
    match.project_id === photo.project_id
      ? t("A copy of an earlier photo of this project.")
      : t("A copy of an earlier photo of another project."), " ",
    el("a", { href: `/photos/${match.photo_id}` },
       t("Photo #{id}", { id: match.photo_id }))))];
}

function explainEvidence(result) {
  const warnings = result.warnings || [];
  const lines = [];
  if (!result.exif_present) {
    lines.push(t("No camera data (EXIF) in the file. Messaging apps remove it, so the time and place cannot be checked. Send the original photo when you can."));
  }
  if (warnings.includes("no-time")) lines.push(t("The camera data has no time."));
  if (result.taken_at) {
    lines.push(t("Taken {time} by the camera's clock.", { time: formatTime(result.taken_at) }));
  }
  if (result.claimed_at) {
    lines.push(t("Claimed time: {time}.", { time: formatTime(result.claimed_at) }));
  }
  if (result.hours_from_claim !== null && result.hours_from_claim !== undefined) {
    const hours = number(result.hours_from_claim, 1);
    lines.push(warnings.includes("time-mismatch")
      ? t("That is {hours} hours away from the claimed time: too far.", { hours })
      : t("That is {hours} hours from the claimed time.", { hours }));
  }
  if (warnings.includes("no-gps")) lines.push(t("No GPS position in the camera data."));
  if (result.distance_from_site_km !== null && result.distance_from_site_km !== undefined) {
    const kilometres = result.distance_from_site_km;
    const far = warnings.includes("far-from-site");
    if (kilometres < 1) {
      const metres = number(Math.round(kilometres * 1000), 0);
      lines.push(far ? t("Taken {metres} m from the site: too far.", { metres })
                     : t("Taken {metres} m from the site.", { metres }));
    } else {
      const distance = number(kilometres, kilometres < 10 ? 1 : 0);
      lines.push(far ? t("Taken {distance} km from the site: too far.", { distance })
                     : t("Taken {distance} km from the site.", { distance }));
    }
  } else if (photo.exif && photo.exif.has_gps) {
    lines.push(t("The project has no site position to compare with."));
  }
  if (!warnings.length) lines.push(t("The time and place fit."));
  const kind = warnings.some((warning) => SERIOUS_EVIDENCE.includes(warning)) ? "bad"
    : warnings.length ? "warn" : "ok";
  return [kind, lines];
}

function explainProgress(result) {
  if (!result.storey_id) {
    return ["info", [t("No storey was chosen, so the photo does not count for storey progress.")]];
  }
  const lines = [t("Shows {shown} of the {planned} components planned on this storey.",
                   { shown: (result.shown || []).length, planned: result.planned })];
  const elsewhere = (result.not_of_this_storey || []).length;
  if (elsewhere) {
    lines.push(t("Components shown that belong to another storey: {count}.", { count: elsewhere }));
  }
  return [elsewhere ? "warn" : "ok", lines];
}

const EXPLAIN = { labels: explainLabels, quality: explainQuality, cracks: explainCracks,
                  duplicates: explainDuplicates, evidence: explainEvidence,
                  progress: explainProgress };

function checkItem(name, check) {
  let kind;
  let lines;
  if (check.status === "done" && EXPLAIN[name]) {
    [kind, lines] = EXPLAIN[name](check.result || {});
  } else if (check.status === "failed") {
    kind = "failed";
    lines = [t("This check could not run."),
             el("span", { class: "muted" }, check.error || "")];
  } else if (check.status === "running") {
    kind = "running";
    lines = [t("This check is running.")];
  } else {
    kind = check.status === "done" ? "info" : "pending";
    lines = check.status === "done" ? [] : [t("This check has not started yet.")];
  }
  return el("li", { class: `check ${kind}`, "data-testid": "check", "data-check": name },
    el("div", { class: "check-head" }, el("h3", {}, checkTitle(name)), verdict(kind)),
    el("ul", { class: "check-lines" }, lines.map((line) => el("li", {}, line))));
}

// ---------------------------------------------------------------- findings

function findingWords(finding) {
  const detail = finding.detail || {};
  if (finding.kind === "crack") {
    const words = detail.longest_mm
      ? t("Crack candidates: {count}. The longest is about {length} mm long.",
          { count: detail.segments, length: number(detail.longest_mm, 0) })
      : t("Crack candidates: {count}. The longest is about {length} pixels long.",
          { count: detail.segments, length: number(detail.longest_px || 0, 0) });
    return detail.width_band
      ? [words, t("The widest is {band}.", { band: widthBandWords(detail.width_band) })].join(" ")
      : words;
  }
  if (finding.kind === "duplicate") {
    const ids = (detail.matches || []).map((match) => `#${match.photo_id}`).join(", ");
    return t("This photo looks like a copy of an earlier photo: {photos}.", { photos: ids });
  }
  if (finding.kind === "evidence") {
    const parts = [];
    for (const warning of detail.warnings || []) {
      if (warning === "time-mismatch") {
        parts.push(t("It was taken {hours} hours away from the claimed time.",
                     { hours: number(detail.hours_from_claim || 0, 1) }));
      } else if (warning === "far-from-site") {
        parts.push(t("It was taken {distance} km from the site.",
                     { distance: number(detail.distance_from_site_km || 0, 0) }));
      }
    }
    return [t("The time or place of the photo does not fit."), ...parts].join(" ");
  }
  return finding.kind;
}

function kindName(kind) {
  const names = { crack: t("Crack"), duplicate: t("Copied photo"), evidence: t("Time or place") };
  return names[kind] || kind;
}

function decisionWords(finding) {
  if (finding.status === "open") return t("Not decided yet.");
  let text;
  if (finding.status === "dismissed") {
    text = t("Dismissed: not a problem.");
  } else if (finding.outcome === "hold") {
    text = t("Confirmed: the component was put on hold.");
  } else if (finding.outcome === "ncr") {
    text = t("Confirmed: an NCR was opened on the component.");
  } else {
    text = t("Confirmed.");
  }
  return finding.decided_at ? `${text} (${formatTime(finding.decided_at)})` : text;
}

function componentSummary(id) {
  const component = components.get(id);
  const badges = [];
  if (component) {
    badges.push(el("span", { class: `badge st-${component.state}` }, stateName(component.state)));
    if (component.on_hold) badges.push(el("span", { class: "badge warn" }, t("On hold")));
    if (component.ncr_open) badges.push(el("span", { class: "badge bad" }, t("NCR open")));
    if (component.damaged) badges.push(el("span", { class: "badge bad" }, t("Damaged")));
  }
  return el("span", { class: "component-summary", "data-testid": "finding-component" },
    el("a", { href: `/components/${id}` }, componentName(id)), " ", badges);
}

const CHOICES = {
  hold: { button: () => t("Confirm → hold"), ok: () => t("Put on hold"), style: "danger",
          text: (name) => t("{component} is put on hold. This is recorded in its history under your name.", { component: name }) },
  ncr: { button: () => t("Confirm → NCR"), ok: () => t("Open an NCR"), style: "danger",
         text: (name) => t("A non-conformance report (NCR) is opened on {component}. This is recorded in its history under your name.", { component: name }) },
  none: { button: () => t("Confirm"), ok: () => t("Confirm"), style: "primary",
          text: () => t("The finding is confirmed. It names no component, so nothing is held.") },
  dismiss: { button: () => t("Dismiss"), ok: () => t("Dismiss"), style: "",
             text: () => t("The finding is dismissed as not a problem. It stays on record.") },
};

function findingCard(finding) {
  const choices = finding.component_id
    ? [...["hold", "ncr"].filter((outcome) => page.outcomes.includes(outcome)), "dismiss"]
    : ["none", "dismiss"];
  const message = messages.get(finding.id);
  const kindBadge = finding.status === "open" ? "bad" : "";
  return el("article", { class: `finding card ${finding.status}`, "data-testid": "finding",
                         "data-kind": finding.kind, "data-status": finding.status,
                         "data-finding-id": finding.id },
    el("div", { class: "finding-head" },
      el("span", { class: `badge ${kindBadge}` }, kindName(finding.kind)),
      finding.component_id ? componentSummary(finding.component_id)
        : el("span", { class: "muted small" }, t("No component named"))),
    el("p", {}, findingWords(finding)),
    el("p", { class: `decision ${finding.status}`, "data-testid": "decision" },
       decisionWords(finding)),
    finding.note ? el("p", { class: "muted small" }, t("Note: {note}", { note: finding.note }))
      : null,
    page.may_decide && finding.status === "open"
      ? el("div", { class: "decide" }, choices.map((choice) =>
          el("button", { type: "button", class: CHOICES[choice].style, "data-decision": choice,
                         onclick: () => decide(finding, choice) },
             CHOICES[choice].button())))
      : null,
    message ? el("p", { class: `result ${message.kind}`, "data-testid": "finding-message" },
                 message.text,
                 message.detail ? el("span", { class: "detail" }, message.detail) : null)
      : null);
}

function ask(finding, choice) {
  const spec = CHOICES[choice];
  $("decide-title").textContent = spec.button();
  $("decide-text").textContent = spec.text(componentName(finding.component_id));
  $("decide-ok").textContent = spec.ok();
  $("decide-ok").className = spec.style || "primary";
  $("decide-note").value = "";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? { note: $("decide-note").value.trim() } : null);
    }, { once: true });
  });
}

async function decide(finding, choice) {
  const answer = await ask(finding, choice);
  if (!answer) return;
  // Looked up now: the card may have been drawn again while the dialog was open.
  for (const button of findingsBox.querySelectorAll(
    `[data-finding-id="${finding.id}"] button[data-decision]`)) button.disabled = true;
  const path = choice === "dismiss" ? "dismiss" : "confirm";
  const body = choice === "dismiss" ? { note: answer.note } : { outcome: choice, note: answer.note };
  try {
    const decided = await api(`/findings/${finding.id}/${path}`,
                              { method: "POST", body });
    photo.findings = photo.findings.map((item) => (item.id === decided.id ? decided : item));
    messages.delete(finding.id);  // the decision line says what happened
    if (decided.component_id) {
      components.delete(decided.component_id);
      await loadComponents([decided.component_id]);
    }
  } catch (error) {
    const words = problemWords(error);
    messages.set(finding.id, { kind: "bad", text: words.text, detail: words.detail });
    if (error instanceof ApiError && error.status === 409) {
      await load();
      return;
    }
  }
  render();
}

// ---------------------------------------------------------------- loading and drawing

function stillChecking() {
  const checks = Object.values(photo.checks || {});
  if (!checks.length) return photo.status === "pending";
  return checks.some((check) => check.status === "pending" || check.status === "running");
}

async function loadComponents(ids) {
  await Promise.all([...new Set(ids)].filter((id) => id && !components.has(id)).map(async (id) => {
    try {
      components.set(id, await api(`/components/${id}`));
    } catch (error) {
      components.set(id, null);
    }
  }));
}

async function loadPlaces() {
  try {
    places.project = (await api(`/projects/${photo.project_id}`)).name;
    if (photo.storey_id) {
      const storey = await api(`/storeys/${photo.storey_id}`);
      const building = await api(`/buildings/${storey.building_id}`);
      places.storey = `${building.name} · ${storey.name}`;
    }
  } catch (error) {
    // Names are a help; the numbers stay.
  }
}

async function load() {
  clearTimeout(pollTimer);
  try {
    const first = photo === null;
    photo = await api(`/photos/${page.photo_id}`);
    const labels = ((photo.checks.labels || {}).result || {}).labels || [];
    await Promise.all([
      loadComponents([...photo.components.map((shown) => shown.component_id),
                      ...photo.findings.map((finding) => finding.component_id),
                      ...labels.map((label) => label.component_id), photo.component_id]),
      first ? loadPlaces() : null]);
  } catch (error) {
    setStatus(problemWords(error).text, "bad");
    if (error instanceof NetworkError) pollTimer = setTimeout(load, POLL_MAX_MS);
    return;
  }
  render();
  if (stillChecking()) {
    polls += 1;
    pollTimer = setTimeout(load, Math.min(POLL_MS * 1.15 ** polls, POLL_MAX_MS));
  }
}

function setStatus(text, kind, ...extra) {
  statusLine.replaceChildren(text, ...extra.filter(Boolean));
  statusLine.className = `result ${kind}`;
  statusLine.classList.toggle("hidden", !text);
}

function render() {
  const open = photo.findings.filter((finding) => finding.status === "open").length;
  $("photo-name").textContent = photo.original_name || "";
  if (photo.original_name) document.title = `${photo.original_name} · ${pageTitle}`;
  if (stillChecking()) {
    setStatus(t("The checks are running. This page updates by itself."), "queued");
  } else if (Object.values(photo.checks).some((check) => check.status === "failed")) {
    const rerun = ["admin", "project_manager"].includes(page.role)
      ? el("button", { type: "button", class: "small-button", onclick: reanalyse },
           t("Run the checks again")) : null;
    setStatus(t("A check failed; the others are shown below."), "bad", " ", rerun);
  } else if (open) {
    setStatus(t("Checked. Findings to decide: {count}.", { count: open }), "queued");
  } else {
    setStatus(t("Checked. Nothing is waiting for a decision."), "ok");
  }
  renderImage();
  renderFacts();
  findingsBox.replaceChildren(...(photo.findings.length ? photo.findings.map(findingCard)
    : [el("p", { class: "muted" }, stillChecking() ? t("Not known until the checks end.")
                                                 : t("No findings: the checks found nothing to decide."))]));
  const names = [...CHECK_ORDER.filter((name) => name in photo.checks),
                 ...Object.keys(photo.checks).filter((name) => !CHECK_ORDER.includes(name))];
  checksList.replaceChildren(...(names.length
    ? names.map((name) => checkItem(name, photo.checks[name]))
    : [el("li", { class: "muted" }, t("The checks have not started yet."))]));
}

function renderImage() {
  // The overlay changes as checks end: a new address each time, past the browser's cache.
  const version = Object.values(photo.checks).filter((check) => check.finished_at).length;
  const source = `${showOverlay ? photo.overlay_url : photo.image_url}?v=${version}`;
  if (image.getAttribute("src") !== source) image.src = source;
  imageLink.href = source;
  $("legend").classList.toggle("hidden", !showOverlay);
  $("show-overlay").setAttribute("aria-pressed", String(showOverlay));
  $("show-plain").setAttribute("aria-pressed", String(!showOverlay));
}

function renderFacts() {
  const exif = photo.exif || {};
  const rows = [
    [t("File"), photo.original_name],
    [t("Uploaded"), formatTime(photo.uploaded_at)],
    [t("Taken (camera clock)"), exif.taken_at ? formatTime(exif.taken_at) : t("Not recorded")],
    [t("Camera"), exif.camera || t("Not recorded")],
    [t("GPS position"), exif.has_gps ? t("Recorded; kept as evidence, not shown")
                                     : t("Not recorded")],
    [t("Size"), t("{width} × {height} pixels, {size} MB", {
      width: photo.width, height: photo.height,
      size: number(photo.size_bytes / 1048576, 1) })],
    [t("Project"), places.project || `#${photo.project_id}`],
    [t("Storey"), photo.storey_id ? places.storey || `#${photo.storey_id}` : t("None chosen")],
  ];
  if (photo.component_id) {
    rows.push([t("Component"), el("a", { href: `/components/${photo.component_id}` },
                                   componentName(photo.component_id))]);
  }
  if (photo.components.length) {
    rows.push([t("Components shown"), el("span", { class: "shown" }, photo.components.map(
      (shown) => el("a", { href: `/components/${shown.component_id}` },
                    componentName(shown.component_id))))]);
  }
  facts.replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name),
                                                            el("dd", {}, value)]));
}

async function reanalyse(event) {
  event.currentTarget.disabled = true;
  try {
    photo = await api(`/photos/${page.photo_id}/reanalyse`, { method: "POST" });
  } catch (error) {
    setStatus(problemWords(error).text, "bad");
    return;
  }
  polls = 0;
  await load();
}

for (const [id, overlay] of [["show-overlay", true], ["show-plain", false]]) {
  $(id).addEventListener("click", () => { showOverlay = overlay; renderImage(); });
}

load();
