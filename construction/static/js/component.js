// One component: identity, position, state and flags, the full event history,
// production records (pour, strength, inspections, overrides, the certificate),
// open alerts, evidence (labels printed, photos) and the ledger proof.
import { alertKindName, api, ApiError, LOCALE as locale, NetworkError, page, t, stateName, actionName, el, formatTime, gateName, ncrCategoryName, stageName } from "./api.js";

const $ = (id) => document.getElementById(id);
const number = new Intl.NumberFormat(locale);
const COLON = page.locale === "zh_CN" ? "：" : ": ";

// The names of what events carry in `data`: a scan's own, and what load scans, failed
// inspections, confirmed photo findings and EPCIS captures add.
const DATA_NAMES = {
  reason: t("Reason"), record: t("Record no."), ncr: t("NCR no."), category: t("Category"),
  note: t("Note"), pour_id: t("Pour"), load: t("Load"), load_id: t("Load ID"),
  inspection_id: t("Inspection ID"), items: t("Failed items"), finding_id: t("Finding ID"),
  photo_id: t("Photo ID"), kind: t("Finding"), epcis_event_id: t("EPCIS event ID"),
  read_point: t("Read point"), biz_location: t("Business location"),
};
const PHOTO_STATUS = { pending: t("Checking"), done: t("Checked"), failed: t("Check failed") };
const FINDING_KINDS = { crack: t("Crack"), duplicate: t("Re-used photo"),
                        evidence: t("Time or place does not match") };
// Values that are names, in words: an NCR's category, a finding's kind, a load's code.
const DATA_VALUES = {
  category: ncrCategoryName, kind: (kind) => FINDING_KINDS[kind] || kind,
  load: formatCode,
};
const FINDING_STATUS = { open: t("open"), confirmed: t("confirmed"), dismissed: t("dismissed") };

function formatCode(code) {
  return code && code.length === 9 ? `${code.slice(0, 3)}-${code.slice(3, 6)}-${code.slice(6)}`
    : code || "";
}

function stateBadge(state) {
  return el("span", { class: `badge st-${state}` }, stateName(state));
}

function optional(load) {
  // Position and type are extra: the history shows without them.
  return load().catch(() => null);
}

function showError(error) {
  const status = $("status");
  status.className = "flash";
  if (error instanceof NetworkError) {
    status.textContent = t("No network: the component could not be loaded.");
  } else if (error instanceof ApiError && error.status === 404) {
    status.textContent = t("No such component, or not one you may see.");
  } else {
    status.textContent = t("Could not load: {reason}", { reason: error.message });
  }
}

async function start() {
  let component;
  try {
    component = await api(`/components/${page.component_id}`);
  } catch (error) {
    showError(error);
    return;
  }
  const [type, storey, project] = await Promise.all([
    optional(() => api(`/component-types/${component.component_type_id}`)),
    component.storey_id ? optional(() => api(`/storeys/${component.storey_id}`)) : null,
    optional(() => api(`/projects/${component.project_id}`)),
  ]);
  const building = storey ? await optional(() => api(`/buildings/${storey.building_id}`)) : null;
  renderHead(component, type);
  renderFacts(component, type, storey, building, project);
  renderHistory(component.events);
  renderAlerts(component.open_alerts);
  renderEvidence(component.evidence || {});
  $("proof").href = `/api/v1/components/${component.id}/proof`;
  renderProduction(component.production || {});
  $("certificate").href = `/api/v1/components/${component.id}/certificate.pdf`;
  const back = $("back");
  if (back && building) {
    back.href = `/dashboard?project_id=${component.project_id}&building_id=${building.id}`;
  }
  $("status").classList.add("hidden");
  $("head").classList.remove("hidden");
  $("body").classList.remove("hidden");
}

function renderHead(component, type) {
  document.title = `${component.mark} · ${formatCode(component.code)} · PrefabTrace`;
  $("code").textContent = formatCode(component.code);
  $("mark").textContent = component.mark;
  $("type-name").textContent = type ? type.name : "";
  $("state").replaceChildren(stateBadge(component.state));
  const flags = [];
  if (component.on_hold) flags.push(el("span", { class: "badge warn" }, t("On hold")));
  if (component.damaged) flags.push(el("span", { class: "badge bad" }, t("Damaged")));
  if (component.ncr_open) flags.push(el("span", { class: "badge bad" }, t("NCR open")));
  if (component.open_alerts.length) {
    flags.push(el("span", { class: "badge bad" }, t("Open alerts: {count}", {
      count: number.format(component.open_alerts.length) })));
  }
  $("flags").replaceChildren(...flags);
}

function renderFacts(component, type, storey, building, project) {
  const facts = [];
  const add = (name, value) => {
    if (value !== null && value !== undefined && value !== "") facts.push([name, value]);
  };
  add(t("Project"), project ? `${project.code} · ${project.name}` : null);
  add(t("Building"), building ? building.name : null);
  add(t("Storey"), storey ? storey.name : t("Not placed on a storey"));
  add(t("Install sequence"), component.install_sequence ?? null);
  if (type) {
    add(t("Type"), type.name);
    const sizes = [type.length_mm, type.width_mm, type.height_mm];
    add(t("Size (L × W × H)"), sizes.every((n) => n)
      ? `${sizes.map((n) => number.format(n)).join(" × ")} mm` : null);
    add(t("Weight"), type.weight_kg ? `${number.format(type.weight_kg)} kg` : null);
    add(t("Concrete grade"), type.concrete_grade);
    add(t("Drawing"), type.drawing);
  }
  add(t("GTIN / serial"), component.gtin ? `${component.gtin} / ${component.serial || ""}` : null);
  add(t("IFC GlobalId"), component.ifc_global_id);
  add(t("Last change"), formatTime(component.updated_at));
  $("facts").replaceChildren(...facts.flatMap(([name, value]) => [
    el("dt", {}, name), el("dd", {}, String(value))]));
}

function describeData(event) {
  const parts = [];
  if (event.corrects_event_id) {
    parts.push(t("Corrects event #{id}", { id: event.corrects_event_id }));
  }
  for (const [key, value] of Object.entries(event.data || {})) {
    if (value === null || value === "") continue;
    if (key === "gates" && typeof value === "object") {
      parts.push(...Object.entries(value).map(([gate, evidence]) => describeGate(gate, evidence)));
      continue;
    }
    if (key === "pour" && typeof value === "object") {
      parts.push(t("New pour: mould {mould}, {grade}, cast {time}", {
        mould: value.mould, grade: value.concrete_grade, time: formatTime(value.cast_at) }));
      continue;
    }
    const text = typeof value === "string" && DATA_VALUES[key] ? DATA_VALUES[key](value)
      : Array.isArray(value) ? value.join(", ")
        : typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(`${DATA_NAMES[key] || key}${COLON}${text}`);
  }
  const where = event.location;
  if (where && typeof where.latitude === "number" && typeof where.longitude === "number") {
    parts.push(t("Location: {latitude}, {longitude}", {
      latitude: where.latitude.toFixed(5), longitude: where.longitude.toFixed(5) }));
  }
  return parts;
}

// The evidence a scan found for each gate of its action (see the lifecycle's gates).
function describeGate(gate, evidence) {
  const name = gateName(gate);
  if (!evidence || typeof evidence !== "object") return name;
  if (evidence.override_id) {
    return t("{gate}: overridden — {reason}", { gate: name, reason: evidence.override_reason });
  }
  if ("required_mpa" in evidence) {
    const pour = evidence.pour_id === null ? t("no pour") : t("pour #{id}", { id: evidence.pour_id });
    return t("{gate}: best {measured} of {required} MPa required ({pour})", {
      gate: name, required: mpa.format(evidence.required_mpa), pour,
      measured: evidence.measured_mpa === null ? "–" : mpa.format(evidence.measured_mpa) });
  }
  return evidence.passed ? t("{gate}: inspection #{id} passed", { gate: name, id: evidence.inspection_id })
    : t("{gate}: no passed inspection", { gate: name });
}

function renderHistory(events) {
  const labels = [...document.querySelectorAll("table.history thead th")]
    .map((th) => th.textContent.trim());
  // One wrapper per cell: on a phone the cell is a grid of its label and this value.
  const cell = (index, attributes, ...children) => {
    const content = children.flat().filter((child) => child !== "" && child !== null);
    return el("td", { "data-label": labels[index], ...attributes },
              content.length ? el("div", {}, ...content) : null);
  };
  $("event-count").textContent = t("{count} events", { count: number.format(events.length) });
  const rows = events.map((event) => el("tr", {
    id: `event-${event.id}`, class: event.action === "correct" ? "correction" : null,
    "data-testid": "history-row", dataset: { eventId: event.id, action: event.action } },
    cell(0, { class: "time" }, formatTime(event.client_time || event.server_time)),
    cell(1, { class: "action" }, el("strong", {}, actionName(event.action))),
    cell(2, { class: "transition" },
         event.from_state === event.to_state ? stateBadge(event.to_state)
           : [stateBadge(event.from_state), el("span", { class: "arrow" }, "→"),
              stateBadge(event.to_state)]),
    cell(3, {}, event.user || ""),
    cell(4, { class: "small" }, event.device || ""),
    cell(5, { class: "small" }, describeData(event).map((line) => el("div", {}, line))),
    cell(6, { class: "time small muted" }, formatTime(event.server_time))));
  $("history").replaceChildren(...(rows.length ? rows
    : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, t("No events yet.")))]));
}

function renderAlerts(kinds) {
  $("alerts").replaceChildren(...(kinds.length
    ? kinds.map((kind) => el("li", { class: "alert-kind" },
                             el("span", { class: "badge bad" }, alertKindName(kind))))
    : [el("li", { class: "muted empty" }, t("No open alerts."))]));
}

function renderEvidence(evidence) {
  const labels = evidence.labels || [];
  $("labels").replaceChildren(...(labels.length ? labels.map((label) => el("li", {},
    el("strong", {}, t("Version {version}", { version: label.version })), " ",
    label.revoked_at ? el("span", { class: "badge bad" }, t("Revoked")) :
      el("span", { class: "badge ok" }, t("Current")),
    el("span", { class: "item-detail small muted" }, [
      t("Issued {time}", { time: formatTime(label.issued_at) }),
      label.print_count ? t("prints: {count}, last {time}", {
        count: number.format(label.print_count), time: formatTime(label.last_printed_at) })
        : t("not printed"),
      label.revoked_at ? t("revoked {time}: {reason}", {
        time: formatTime(label.revoked_at), reason: label.revoked_reason || "–" }) : null,
    ].filter(Boolean).join(" · "))))
    : [el("li", { class: "muted empty" }, t("No label issued yet."))]));

  const photos = evidence.photos || [];
  $("photos").replaceChildren(...(photos.length ? photos.map((photo) => el("li", {
    "data-testid": "evidence-photo" },
    el("a", { href: `/photos/${photo.id}` }, t("Photo #{id}", { id: photo.id })), " ",
    el("span", { class: "badge" }, PHOTO_STATUS[photo.status] || photo.status),
    el("span", { class: "item-detail small muted" }, [
      photo.taken_at ? t("Taken {time}", { time: formatTime(photo.taken_at) }) : null,
      t("Uploaded {time}", { time: formatTime(photo.uploaded_at) }),
      ...photo.findings.map((finding) => `${FINDING_KINDS[finding.kind] || finding.kind} (${
        FINDING_STATUS[finding.status] || finding.status})`),
    ].filter(Boolean).join(" · "))))
    : [el("li", { class: "muted empty" }, t("No photos yet."))]));
}

const CURING = { ambient: t("Ambient"), steam: t("Steam") };
const mpa = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function emptyItem(text) {
  return el("li", { class: "muted empty" }, text);
}

function renderProduction(production) {
  const pour = production.pour;
  const facts = pour ? [
    [t("Pour"), `#${pour.id}`], [t("Cast"), formatTime(pour.cast_at)], [t("Mould"), pour.mould],
    [t("Concrete grade"), pour.concrete_grade], [t("Mix"), pour.mix || "–"],
    [t("Curing"), CURING[pour.curing_method] || pour.curing_method],
  ] : [[t("Pour"), t("No pour recorded.")]];
  $("pour").replaceChildren(...facts.flatMap(([name, value]) => [
    el("dt", {}, name), el("dd", {}, String(value))]));

  const stripping = production.stripping_strength_mpa;
  const delivery = production.delivery_strength_mpa;
  $("gates").textContent = [
    stripping !== null && stripping !== undefined
      ? t("Stripping strength: {value} MPa", { value: mpa.format(stripping) }) : null,
    delivery !== null && delivery !== undefined
      ? t("Delivery strength: {value} MPa", { value: mpa.format(delivery) }) : null,
  ].filter(Boolean).join(" · ") || t("This type states no strength gates.");
  const results = pour ? pour.strength_results : [];
  const reached = (value, gate) => gate !== null && gate !== undefined && value >= gate;
  $("strength").replaceChildren(...(results.length ? results.map((result) => el("li", {
    "data-testid": "strength-result" },
    el("strong", {}, `${mpa.format(result.strength_mpa)} MPa`), " ",
    t("specimen {specimen}, {age} days", { specimen: result.specimen, age: result.age_days }), " ",
    reached(result.strength_mpa, delivery) ? el("span", { class: "badge ok" }, t("delivery reached"))
      : reached(result.strength_mpa, stripping)
        ? el("span", { class: "badge" }, t("stripping reached")) : null,
    el("span", { class: "item-detail small muted" },
       t("Tested {time}", { time: formatTime(result.tested_at) }))))
    : [emptyItem(t("No strength results yet."))]));

  const inspections = production.inspections || [];
  $("inspections").replaceChildren(...(inspections.length ? inspections.map((inspection) => {
    const failed = inspection.results.filter((item) => !item.passed).map((item) => item.key);
    return el("li", { "data-testid": "inspection" },
      el("strong", {}, stageName(inspection.stage)), " ",
      el("span", { class: `badge ${inspection.passed ? "ok" : "bad"}` },
         inspection.passed ? t("passed") : t("failed")),
      el("span", { class: "item-detail small muted" }, [
        t("by {inspector}, {time}", { inspector: inspection.inspector,
                                     time: formatTime(inspection.inspected_at) }),
        failed.length ? t("failed items: {items}", { items: failed.join(", ") }) : null,
      ].filter(Boolean).join(" · ")));
  }) : [emptyItem(t("No inspections yet."))]));

  const overrides = production.gate_overrides || [];
  $("overrides").replaceChildren(...(overrides.length ? overrides.map((override) => el("li", {
    "data-testid": "override" },
    el("strong", {}, gateName(override.gate)), " ",
    el("span", { class: "item-detail small muted" },
       t("{reason} — {by}, {time}", { reason: override.reason, by: override.by,
                                      time: formatTime(override.created_at) }))))
    : [emptyItem(t("None."))]));
}

start();
