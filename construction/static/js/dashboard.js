// The dashboard for project managers and regulators. One project (or building) is
// one request, GET /projects/{id}/summary: figures and charts, the storey-by-storey
// grid (a square per component up to a few thousand, else counts per storey and
// state, whose components open on demand), the NCR, alert, hold and stalled lists,
// today's trucks, the next storeys' readiness, the production quality records
// (28-day strength by GB/T 50107, gate overrides, inspection failures by item), and
// exports with the same filters. All projects at once read the report endpoints.
import { alertKindName, api, ApiError, LOCALE as locale, NetworkError, page, t, stateName, loadStateName, el, formatTime, gateName, itemText, ncrCategoryName, stageName } from "./api.js";

// Lifecycle order, from the server (the page config's keys arrive sorted by name).
const STATES = page.state_order || Object.keys(page.states || {});
const INSTALLED = ["installed", "connected", "accepted"];
const PAGE_SIZE = 500;         // the most /components gives in one page
const STALLED_DAYS = 14;
const LIST_LIMIT = 50;

const number = new Intl.NumberFormat(locale);
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const shortDay = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric" });
const longDay = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });


const $ = (id) => document.getElementById(id);
const projectSelect = $("project");
const buildingSelect = $("building");
const statusLine = $("status");

let projects = [];
let wantedBuilding = null;     // from the address, until the first summary lists the buildings
let loadCount = 0;             // answers to an older choice are dropped
const charts = {};

// ---------------------------------------------------------------- helpers

function formatCode(code) {
  return code && code.length === 9 ? `${code.slice(0, 3)}-${code.slice(3, 6)}-${code.slice(6)}`
    : code || "";
}

function installedOf(byState) {
  return INSTALLED.reduce((sum, name) => sum + (byState[name] || 0), 0);
}

function ratio(part, whole) {
  return whole ? percent.format(part / whole) : "–";
}

function parseDay(text) {
  const [year, month, day] = text.split("-").map(Number);
  return new Date(year, month - 1, day);
}

function stateColours() {
  // The grid's CSS classes are the one source of the state colours.
  const probe = el("span", { class: "hidden-probe" });
  document.body.append(probe);
  const colours = {};
  for (const name of STATES) {
    probe.className = `hidden-probe st-${name}`;
    colours[name] = getComputedStyle(probe).backgroundColor;
  }
  probe.remove();
  return colours;
}

function query(filters) {
  const parts = [];
  for (const [name, value] of Object.entries(filters)) {
    if (value !== "" && value !== null && value !== undefined) {
      parts.push(`${name}=${encodeURIComponent(value)}`);
    }
  }
  return parts.join("&");
}

function componentLink(component, extra) {
  return el("a", { href: `/components/${component.id}`, class: "item-link" },
            el("strong", {}, component.mark || `#${component.id}`), " ",
            el("span", { class: "code small" }, formatCode(component.code)),
            extra || null);
}

function stateBadge(state) {
  return el("span", { class: `badge st-${state}` }, stateName(state));
}

function emptyItem(text) {
  return el("li", { class: "muted empty" }, text);
}

function errorText(error) {
  if (error instanceof NetworkError) return t("No network: the figures could not be loaded.");
  if (error instanceof ApiError && error.status === 401) {
    return t("Your session has ended. Sign in again.");
  }
  return t("Could not load: {reason}", { reason: error.message });
}

// ---------------------------------------------------------------- choices

async function start() {
  if (window.Chart) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#3b4756";
    Chart.defaults.locale = locale;
  }
  const wanted = new URLSearchParams(location.search);
  try {
    projects = await api("/projects");
  } catch (error) {
    showStatus(errorText(error), true);
    return;
  }
  projectSelect.replaceChildren();
  if (projects.length > 1) projectSelect.append(el("option", { value: "" }, t("All projects")));
  for (const project of projects) {
    projectSelect.append(el("option", { value: project.id }, `${project.code} · ${project.name}`));
  }
  if (!projects.length) {
    showStatus(t("No projects to show."), false);
    return;
  }
  const chosen = projects.find((project) => String(project.id) === wanted.get("project_id"));
  projectSelect.value = chosen ? chosen.id : (projects.length > 1 ? "" : projects[0].id);
  wantedBuilding = chosen ? wanted.get("building_id") : null;
  projectSelect.addEventListener("change", () => {
    wantedBuilding = null;
    fillBuildings([]);
    refresh();
  });
  buildingSelect.addEventListener("change", refresh);
  fillBuildings([]);
  refresh();
}

function fillBuildings(buildings) {
  // The buildings come with the project's summary: no request of their own.
  const chosen = buildingSelect.value || wantedBuilding || "";
  buildingSelect.replaceChildren(el("option", { value: "" }, t("All buildings")));
  for (const building of buildings) {
    buildingSelect.append(el("option", { value: building.id }, building.name));
  }
  buildingSelect.value = buildings.some((b) => String(b.id) === chosen) ? chosen : "";
  buildingSelect.disabled = !projectSelect.value;
}

function showStatus(text, bad) {
  statusLine.textContent = text;
  statusLine.className = bad ? "flash" : "muted";
}

// ---------------------------------------------------------------- loading

async function refresh() {
  const mine = ++loadCount;
  const current = () => mine === loadCount;
  const filters = { project_id: projectSelect.value,
                    building_id: buildingSelect.value || wantedBuilding || "" };
  const search = query(filters);
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
  setExports(filters);
  showStatus(t("Loading…"), false);
  document.body.classList.add("loading");
  try {
    if (filters.project_id) await showProject(filters, current);
    else await showAllProjects(filters, current);
    if (current()) {
      showStatus(t("Figures as of {time}", { time: formatTime(new Date().toISOString()) }), false);
    }
  } catch (error) {
    if (current()) showStatus(errorText(error), true);
  } finally {
    if (current()) document.body.classList.remove("loading");
  }
}

async function showProject(filters, current) {
  const summary = await api(`/projects/${filters.project_id}/summary${
    filters.building_id ? `?${query({ building_id: filters.building_id })}` : ""}`);
  if (!current()) return;
  wantedBuilding = null;
  fillBuildings(summary.project.buildings);
  $("model-link").href = `/projects/${filters.project_id}/model`;
  $("model-link").classList.toggle("hidden", !summary.has_model);
  const buildingRows = summary.buildings.map((building) => {
    const byState = {};
    for (const storey of building.storeys) {
      for (const [state, count] of Object.entries(storey.by_state)) {
        byState[state] = (byState[state] || 0) + count;
      }
    }
    return { id: building.id, name: building.name, total: building.total, by_state: byState };
  });
  renderStateChart(summary);
  renderTimeChart(summary.daily);
  renderBreakdowns({ by_building: buildingRows, by_type: summary.by_type }, filters);
  renderStalled(summary.stalled);
  renderNcrSummary(summary.quality);
  renderQualityRecords(summary.quality);
  $("time-note").classList.toggle("hidden", !filters.building_id);
  renderAlerts(summary.alerts);
  renderFigures(summary, summary.quality, summary.alerts, summary.stalled,
                summary.flags.on_hold_or_damaged);
  renderGrid(summary, summary.by_state, filters);
  renderLists(summary, filters);
  renderDeliveries(summary);
}

async function showAllProjects(filters, current) {
  // Every project in scope: the regional reports (no grid, no per-project lists).
  const [progress, daily, quality, alerts, stalled] = await Promise.all([
    api("/progress"),
    api("/progress/daily"),
    api("/quality"),
    api(`/alerts?${query({ status: "open", per_page: LIST_LIMIT })}`),
    api(`/progress/stalled?${query({ days: STALLED_DAYS, limit: LIST_LIMIT })}`),
  ]);
  if (!current()) return;
  $("model-link").classList.add("hidden");
  renderStateChart(progress);
  renderTimeChart(daily);
  renderBreakdowns(progress, filters);
  renderStalled(stalled);
  renderNcrSummary(quality);
  renderQualityRecords(quality);
  $("time-note").classList.add("hidden");
  renderAlerts(alerts);
  renderFigures(progress, quality, alerts, stalled, null);
  renderGrid(null, progress.by_state, filters);
  renderLists(null, filters);
  renderDeliveries(null);
}

function setExports(filters) {
  const search = query(filters);
  $("export-components").href = `/api/v1/exports/components.csv${search ? `?${search}` : ""}`;
  $("export-events").href = `/api/v1/exports/events.csv${search ? `?${search}` : ""}`;
  // The EPCIS query knows projects, not buildings.
  $("export-epcis").href = `/api/v1/epcis/events?${query({ project_id: filters.project_id,
                                                      perPage: PAGE_SIZE })}`;
}

// ---------------------------------------------------------------- figures

function figure(value, label, detail, tone, testid) {
  return el("div", { class: `figure ${tone || ""}`, "data-testid": testid },
            el("span", { class: "figure-value" }, value),
            el("span", { class: "figure-label" }, label),
            detail ? el("span", { class: "figure-detail small" }, detail) : null);
}

function renderFigures(progress, quality, alerts, stalled, flagged) {
  const total = progress.total;
  const installed = installedOf(progress.by_state);
  const accepted = progress.by_state.accepted || 0;
  const openNcrs = quality.ncrs.filter((row) => row.status === "open")
    .reduce((sum, row) => sum + row.count, 0);
  const checked = quality.qc_by_manufacturer.reduce(
    (sum, row) => ({ pass: sum.pass + row.qc_pass, fail: sum.fail + row.qc_fail }),
    { pass: 0, fail: 0 });
  $("figures").replaceChildren(
    figure(number.format(total), t("Components"), null, "", "figure-total"),
    figure(number.format(installed), t("Installed"),
           t("{percent}, with connected and accepted", { percent: ratio(installed, total) }),
           "ok", "figure-installed"),
    figure(number.format(accepted), t("Accepted"), ratio(accepted, total), "", "figure-accepted"),
    figure(number.format(openNcrs), t("Open NCRs"), null, openNcrs ? "bad" : "", "figure-ncrs"),
    figure(number.format(alerts.total), t("Open alerts"), null, alerts.total ? "bad" : "",
           "figure-alerts"),
    figure(flagged === null || flagged === undefined ? "–" : number.format(flagged),
           t("On hold or damaged"), null,
           flagged ? "warn" : "", "figure-flagged"),
    figure(number.format(stalled.total), t("Stalled"),
           t("No event for {days} days", { days: STALLED_DAYS }), stalled.total ? "warn" : "",
           "figure-stalled"),
    figure(ratio(checked.pass, checked.pass + checked.fail), t("QC pass rate"),
           t("{count} checked", { count: number.format(checked.pass + checked.fail) }), "",
           "figure-qc"),
    figure(number.format(quality.rejected_deliveries), t("Rejected deliveries"), null,
           quality.rejected_deliveries ? "warn" : "", "figure-rejected"));
}

// ---------------------------------------------------------------- charts

let colours = null;

function renderStateChart(progress) {
  colours = colours || stateColours();
  const counts = STATES.map((name) => progress.by_state[name] || 0);
  const data = {
    labels: STATES.map(stateName),
    datasets: [{ label: t("Components"), data: counts,
                 backgroundColor: STATES.map((name) => colours[name]),
                 borderColor: "rgba(28,36,48,.35)", borderWidth: 1 }],
  };
  if (charts.states) {
    charts.states.data = data;
    charts.states.update();
    return;
  }
  charts.states = new Chart($("chart-states"), {
    type: "bar", data,
    options: {
      indexAxis: "y", maintainAspectRatio: false, animation: { duration: 300 },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item) => {
          const total = item.dataset.data.reduce((sum, n) => sum + n, 0);
          return `${number.format(item.raw)} (${ratio(item.raw, total)})`;
        } } },
      },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } },
                y: { ticks: { autoSkip: false } } },
    },
  });
}

function renderTimeChart(daily) {
  const curve = [...daily.installed_vs_planned];
  if (curve.length) {
    // Nothing was installed before the first recorded day: start the line at zero there.
    const before = parseDay(curve[0].day);
    before.setDate(before.getDate() - 1);
    const day = [before.getFullYear(), String(before.getMonth() + 1).padStart(2, "0"),
                 String(before.getDate()).padStart(2, "0")].join("-");
    curve.unshift({ day, installed: 0, planned: curve[0].planned });
  }
  const perDay = new Map(daily.days.map((day) => [day.day, day.transitions.install || 0]));
  const data = {
    labels: curve.map((point) => shortDay.format(parseDay(point.day))),
    datasets: [
      { type: "line", label: t("Installed in total"), data: curve.map((p) => p.installed),
        borderColor: "#1b7f3b", backgroundColor: "rgba(27,127,59,.15)", fill: true,
        pointRadius: 4, tension: 0.2, order: 1 },
      { type: "line", label: t("Planned"), data: curve.map((p) => p.planned),
        borderColor: "#5d6b7c", borderDash: [6, 4], pointRadius: 3, fill: false, order: 2 },
      { type: "bar", label: t("Installed that day"), data: curve.map((p) => perDay.get(p.day) || 0),
        backgroundColor: "rgba(11,107,203,.55)", order: 3 },
    ],
  };
  const days = curve.map((point) => point.day);
  $("time-empty").classList.toggle("hidden", curve.some((point) => point.installed));
  if (charts.time) {
    charts.time.data = data;
    charts.time.options.plugins.tooltip.callbacks.title =
      (items) => longDay.format(parseDay(days[items[0].dataIndex]));
    charts.time.update();
    return;
  }
  charts.time = new Chart($("chart-time"), {
    type: "line", data,
    options: {
      maintainAspectRatio: false, animation: { duration: 300 },
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 14 } },
        tooltip: { callbacks: {
          title: (items) => longDay.format(parseDay(days[items[0].dataIndex])),
          label: (item) => `${item.dataset.label}: ${number.format(item.raw)}`,
        } },
      },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

// ---------------------------------------------------------------- breakdowns

function progressRow(row, onChoose) {
  const installed = installedOf(row.by_state);
  const bar = el("div", { class: "stack", role: "img",
                          "aria-label": t("{installed} of {total} installed", {
                            installed: number.format(installed), total: number.format(row.total) }) },
    STATES.filter((name) => row.by_state[name]).map((name) => el("span", {
      class: `st-${name}`, style: `flex-grow:${row.by_state[name]}`,
      title: `${stateName(name)}: ${number.format(row.by_state[name])}` })));
  const name = onChoose
    ? el("button", { type: "button", class: "link-button", onclick: onChoose }, row.name)
    : el("span", {}, row.name || "–");
  return el("div", { class: "progress-row", "data-testid": "progress-row" },
            el("div", { class: "progress-name" }, name),
            bar,
            el("div", { class: "progress-figure small" },
               el("strong", {}, ratio(installed, row.total)), " ",
               el("span", { class: "muted" },
                  t("{installed} of {total} installed", {
                    installed: number.format(installed), total: number.format(row.total) }))));
}

function renderBreakdowns(progress, filters) {
  const groups = [];
  if (!filters.project_id) {
    groups.push([t("By project"), progress.by_project.map((row) => progressRow(row, async () => {
      projectSelect.value = row.id;
      wantedBuilding = null;
      fillBuildings([]);
      refresh();
    }))]);
  } else if (!filters.building_id && progress.by_building.length) {
    groups.push([t("By building"), progress.by_building.map((row) => progressRow(row, () => {
      buildingSelect.value = row.id;
      refresh();
    }))]);
  }
  groups.push([t("By component type"), progress.by_type.map((row) => progressRow(row))]);
  $("breakdowns").replaceChildren(...groups.map(([title, rows]) => el("div", { class: "breakdown" },
    el("h3", {}, title),
    rows.length ? rows : el("p", { class: "muted" }, t("Nothing to show.")))));
}

// ---------------------------------------------------------------- the storey grid

function cellTitle(component) {
  const parts = [component.mark, stateName(component.state)];
  if (component.on_hold) parts.push(t("On hold"));
  if (component.damaged) parts.push(t("Damaged"));
  if (component.ncr_open) parts.push(t("NCR open"));
  return parts.join(" · ");
}

function cell(component) {
  const flags = [component.on_hold && "flag-hold", component.damaged && "flag-damaged",
                 component.ncr_open && "flag-ncr"].filter(Boolean).join(" ");
  return el("a", { href: `/components/${component.id}`, class: `cell st-${component.state} ${flags}`,
                   title: cellTitle(component), "aria-label": cellTitle(component),
                   "data-testid": "grid-cell", dataset: { id: component.id,
                                                          state: component.state } });
}

function bySequence(a, b) {
  const left = a.install_sequence ?? Number.MAX_SAFE_INTEGER;
  const right = b.install_sequence ?? Number.MAX_SAFE_INTEGER;
  return left - right || String(a.mark).localeCompare(String(b.mark)) || a.id - b.id;
}

function storeyRow(name, components, testid) {
  const installed = components.filter((c) => INSTALLED.includes(c.state)).length;
  return el("div", { class: "storey-row", "data-testid": testid },
            el("div", { class: "storey-name" }, name),
            el("div", { class: "cells" }, components.sort(bySequence).map(cell)),
            el("div", { class: "storey-count small muted" },
               `${number.format(installed)}/${number.format(components.length)}`));
}

function flagBadges(counts) {
  return [["on_hold", "warn", t("On hold")], ["damaged", "bad", t("Damaged")],
          ["ncr_open", "bad", t("NCR open")]]
    .filter(([flag]) => counts[flag])
    .map(([flag, tone, label]) => el("span", { class: `badge ${tone} small`,
                                               "data-testid": "storey-flag", dataset: { flag } },
                                     `${label} ${number.format(counts[flag])}`));
}

function countRow(storey, filters, testid) {
  // A storey of a large project: a bar of its states with their counts; a state (or
  // the storey's name) opens its components, fetched when asked for.
  const installed = installedOf(storey.by_state);
  const pieces = el("div", { class: "storey-pieces" });
  const open = (state) => openPieces(pieces, storey, state, filters);
  const segments = STATES.filter((name) => storey.by_state[name]).map((name) => el("button", {
    type: "button", class: `segment st-${name}`, style: `flex-grow:${storey.by_state[name]}`,
    title: `${stateName(name)}: ${number.format(storey.by_state[name])}`,
    "aria-label": `${stateName(name)}: ${number.format(storey.by_state[name])}`,
    "data-testid": "storey-state", dataset: { state: name, count: storey.by_state[name] },
    onclick: () => open(name) }, number.format(storey.by_state[name])));
  return el("div", { class: "storey-row counted", "data-testid": testid,
                     dataset: { storeyId: storey.id ?? "", total: storey.total } },
            el("div", { class: "storey-name" }, storey.id === undefined ? storey.name
              : el("button", { type: "button", class: "link-button", onclick: () => open(null) },
                   storey.name)),
            el("div", { class: "storey-bar" },
               el("div", { class: "stack counts" }, segments),
               el("div", { class: "storey-flags" }, flagBadges(storey))),
            el("div", { class: "storey-count small muted" },
               `${number.format(installed)}/${number.format(storey.total)}`),
            pieces);
}

async function openPieces(box, storey, state, filters, pageNumber = 1) {
  // One page of a storey's components (of one state), as squares; more on request.
  const search = query({ project_id: filters.project_id, storey_id: storey.id, state,
                         per_page: PAGE_SIZE, page: pageNumber });
  if (pageNumber === 1) box.replaceChildren(el("p", { class: "muted small" }, t("Loading…")));
  try {
    const answer = await api(`/components?${search}`);
    const cells = el("div", { class: "cells" }, answer.items.sort(bySequence).map(cell));
    const more = answer.page < answer.pages
      ? el("button", { type: "button", class: "link-button small", onclick: (event) => {
        event.target.remove();
        openPieces(box, storey, state, filters, pageNumber + 1);
      } }, t("and {count} more", { count: answer.total - answer.page * answer.per_page }))
      : null;
    if (pageNumber === 1) {
      box.replaceChildren(el("p", { class: "small muted" },
        state ? `${storey.name} · ${stateName(state)}` : storey.name, " ",
        el("button", { type: "button", class: "link-button small",
                       onclick: () => box.replaceChildren() }, t("Close"))), cells);
    } else {
      box.append(cells);
    }
    if (more) box.append(more);
  } catch (error) {
    box.replaceChildren(el("p", { class: "flash small" }, errorText(error)));
  }
}

function renderGrid(summary, byState, filters) {
  const grid = $("grid");
  renderLegend(byState);
  if (!summary) {
    grid.replaceChildren(el("p", { class: "muted" }, t("Choose a project to see its storeys.")));
    return;
  }
  const byStorey = new Map();
  for (const component of summary.cells || []) {
    const key = component.storey_id ?? "none";
    if (!byStorey.has(key)) byStorey.set(key, []);
    byStorey.get(key).push(component);
  }
  const row = (storey) => (summary.cells
    ? storeyRow(storey.name, byStorey.get(storey.id) || [], "storey-row")
    : countRow(storey, filters, "storey-row"));
  const blocks = summary.buildings.map((building) => {
    // Top floor at the top.
    const storeys = [...building.storeys].sort(
      (a, b) => b.elevation_m - a.elevation_m || b.id - a.id);
    return el("div", { class: "building", "data-testid": "grid-building",
                       dataset: { buildingId: building.id } },
              el("h3", {}, building.name, " ",
                 el("span", { class: "muted small" }, t("{count} components", {
                   count: number.format(building.total) }))),
              storeys.length ? storeys.map(row) : el("p", { class: "muted" }, t("No storeys.")));
  });
  if (summary.unplaced && summary.unplaced.total) {
    blocks.push(el("div", { class: "building" }, el("h3", {}, t("Not placed on a storey")),
                   summary.cells ? storeyRow("–", byStorey.get("none") || [], "storey-row-none")
                     : countRow({ ...summary.unplaced, name: "–" }, filters, "storey-row-none")));
  }
  grid.replaceChildren(...blocks);
}

function renderLegend(byState) {
  const swatch = (cls) => el("span", { class: `swatch ${cls}` });
  $("legend").replaceChildren(
    ...STATES.map((name) => el("span", { class: `legend-item ${byState[name] ? "" : "none"}`,
                                         dataset: { state: name } },
                               swatch(`cell st-${name}`), stateName(name),
                               el("span", { class: "muted" }, number.format(byState[name] || 0)))),
    el("span", { class: "legend-item" }, swatch("cell st-planned flag-hold"), t("On hold")),
    el("span", { class: "legend-item" }, swatch("cell st-planned flag-damaged"), t("Damaged")),
    el("span", { class: "legend-item" }, swatch("cell st-planned flag-ncr"), t("NCR open")));
}

// ---------------------------------------------------------------- lists

function renderNcrSummary(quality) {
  const chips = quality.ncrs.map((row) => el("span", {
    class: `badge ${row.status === "open" ? "bad" : ""}`, "data-testid": "ncr-category" },
    ncrCategoryName(row.category), " · ",
    row.status === "open" ? t("open") : t("closed"), " ", number.format(row.count)));
  $("ncr-summary").replaceChildren(...chips);
}

const mpa = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function orDash(value, format) {
  return value === null || value === undefined ? "–" : format(value);
}

function emptyRow(columns, text) {
  return el("tr", {}, el("td", { colspan: columns, class: "muted" }, text));
}

function renderQualityRecords(quality) {
  const strength = quality.strength || [];
  $("strength-rows").replaceChildren(...(strength.length ? strength.map((row) => {
    const method = !row.method ? "–" : row.method.startsWith("statistical")
      ? t("Statistical (GB/T 50107-2010, 5.1.3)") : t("Non-statistical (GB/T 50107-2010, 5.2.2)");
    const verdict = row.accepted === true ? el("span", { class: "badge ok" }, t("Meets the standard"))
      : row.accepted === false ? el("span", { class: "badge bad" }, t("Does not meet the standard"))
        : "–";
    const limits = row.mean_limit_mpa === undefined ? null
      : t("Needs a mean of at least {mean} MPa and a minimum of at least {min} MPa", {
        mean: mpa.format(row.mean_limit_mpa), min: mpa.format(row.min_limit_mpa) });
    return el("tr", { "data-testid": "strength-row" },
      el("td", {}, row.manufacturer || "–"), el("td", {}, row.concrete_grade),
      el("td", {}, number.format(row.count)),
      el("td", {}, orDash(row.mean_mpa, (v) => `${mpa.format(v)} MPa`)),
      el("td", {}, orDash(row.standard_deviation_mpa, (v) => `${mpa.format(v)} MPa`)),
      el("td", {}, orDash(row.min_mpa, (v) => `${mpa.format(v)} MPa`)),
      el("td", { class: "small" }, method),
      el("td", { title: limits }, verdict, limits ? el("div", { class: "small muted" }, limits) : null));
  }) : [emptyRow(8, t("No 28-day strength results yet."))]));

  const overrides = quality.gate_overrides || [];
  $("override-list").replaceChildren(...(overrides.length ? overrides.map((row) => el("li", {
    "data-testid": "override-row" },
    el("strong", {}, gateName(row.gate)), " ",
    el("span", { class: "badge warn" }, number.format(row.count)),
    el("span", { class: "item-detail small muted" },
       [row.manufacturer, row.concrete_grade].filter(Boolean).join(" · "))))
    : [emptyItem(t("None."))]));

  const failing = (quality.inspection_items || []).filter((row) => row.failed > 0)
    .sort((a, b) => b.failure_rate - a.failure_rate || b.failed - a.failed).slice(0, LIST_LIMIT);
  $("inspection-rows").replaceChildren(...(failing.length ? failing.map((row) => el("tr", {
    "data-testid": "inspection-failure-row" },
    el("td", {}, row.manufacturer || "–"), el("td", {}, stageName(row.stage)),
    // An item its checklist no longer has keeps its key.
    el("td", {}, itemText(row) || row.item),
    el("td", {}, t("{failed} of {inspected}", { failed: number.format(row.failed),
                                               inspected: number.format(row.inspected) })),
    el("td", {}, percent.format(row.failure_rate))))
    : [emptyRow(5, t("No failed inspection items."))]));
}

function renderLists(summary, filters) {
  const ncrList = $("ncr-list");
  const flagList = $("flag-list");
  if (!summary) {
    const text = t("Choose a project to list them.");
    ncrList.replaceChildren(emptyItem(text));
    flagList.replaceChildren(emptyItem(text));
    $("flag-browse").replaceChildren();
    return;
  }
  const flagged = summary.flagged;
  flagList.replaceChildren(...(flagged.length ? flagged.map((c) => el("li", {
    "data-testid": "flag-item" },
    componentLink(c), " ", stateBadge(c.state), " ",
    c.on_hold ? el("span", { class: "badge warn" }, t("On hold")) : null, " ",
    c.damaged ? el("span", { class: "badge bad" }, t("Damaged")) : null))
    : [emptyItem(t("None."))]));
  if (summary.flags.on_hold_or_damaged > flagged.length) {
    flagList.append(emptyItem(t("and {count} more", {
      count: number.format(summary.flags.on_hold_or_damaged - flagged.length) })));
  }
  // Every flagged piece, a page at a time: the component list's flag filters.
  const browse = [["on_hold", t("On hold")], ["damaged", t("Damaged")],
                  ["ncr_open", t("NCR open")]].filter(([flag]) => summary.flags[flag])
    .map(([flag, label]) => el("button", {
      type: "button", class: "link-button small", "data-testid": "flag-browse",
      dataset: { flag }, onclick: () => browseFlag(flagList, flag, label, filters, 1) },
      `${label} (${number.format(summary.flags[flag])})`));
  $("flag-browse").replaceChildren(...browse);

  const items = summary.open_ncrs.map((component) => el("li", { "data-testid": "ncr-item" },
    componentLink(component), " ", stateBadge(component.state),
    el("span", { class: "item-detail small muted" },
       // The reason is the failed item's category unless the NCR gave one in words.
       [component.ncr, ncrCategoryName(component.reason), formatTime(component.failed_at)]
         .filter(Boolean).join(" · "))));
  ncrList.replaceChildren(...(items.length ? items : [emptyItem(t("No open NCRs."))]));
  if (summary.flags.ncr_open > items.length) {
    ncrList.append(emptyItem(t("and {count} more", {
      count: number.format(summary.flags.ncr_open - items.length) })));
  }
}

async function browseFlag(list, flag, label, filters, pageNumber) {
  const search = query({ project_id: filters.project_id, building_id: filters.building_id,
                         [flag]: "true", per_page: LIST_LIMIT, page: pageNumber });
  try {
    const answer = await api(`/components?${search}`);
    const rows = answer.items.map((c) => el("li", { "data-testid": "flag-item" },
      componentLink(c), " ", stateBadge(c.state), " ", el("span", { class: "badge warn" }, label)));
    if (pageNumber === 1) list.replaceChildren(...(rows.length ? rows : [emptyItem(t("None."))]));
    else list.append(...rows);
    if (answer.page < answer.pages) {
      list.append(el("li", {}, el("button", { type: "button", class: "link-button small",
        onclick: (event) => {
          event.target.closest("li").remove();
          browseFlag(list, flag, label, filters, pageNumber + 1);
        } }, t("and {count} more", { count: answer.total - answer.page * answer.per_page }))));
    }
  } catch (error) {
    list.append(emptyItem(errorText(error)));
  }
}

function renderAlerts(alerts) {
  const list = $("alert-list");
  if (!alerts.items.length) {
    list.replaceChildren(emptyItem(t("No open alerts.")));
    return;
  }
  list.replaceChildren(...alerts.items.map((alert) => el("li", { "data-testid": "alert-item" },
    alert.component_id && alert.mark ? componentLink({ id: alert.component_id, mark: alert.mark,
                                                       code: alert.code })
      : alert.component_id ? el("a", { href: `/components/${alert.component_id}` },
                                t("Component #{id}", { id: alert.component_id }))
        : null,
    el("span", { class: "item-detail alert-kind-text" }, alertKindName(alert.kind)),
    el("span", { class: "item-detail small muted" },
       t("Occurrences: {count} · last seen {time}", {
         count: number.format(alert.occurrences), time: formatTime(alert.last_seen_at) })))));
  if (alerts.total > alerts.items.length) {
    list.append(emptyItem(t("and {count} more", { count: alerts.total - alerts.items.length })));
  }
}

function renderStalled(stalled) {
  const list = $("stalled-list");
  if (!stalled.items.length) {
    list.replaceChildren(emptyItem(t("None.")));
    return;
  }
  list.replaceChildren(...stalled.items.map((item) => el("li", {},
    componentLink(item), " ", stateBadge(item.state),
    el("span", { class: "item-detail small muted" },
       t("{days} days in this state", { days: number.format(item.days_in_state) })))));
  if (stalled.total > stalled.items.length) {
    list.append(emptyItem(t("and {count} more", { count: stalled.total - stalled.items.length })));
  }
}

// ---------------------------------------------------------------- trucks and readiness

const PLACES = ["not_cast", "in_factory", "in_yard", "loaded", "in_transit", "on_site",
                "installed", "returned"];
const PLACE_NAMES = {
  not_cast: t("Not cast"), in_factory: t("In the factory"), in_yard: t("In the yard"),
  loaded: t("Loaded"), in_transit: t("In transit"), on_site: t("On site"),
  installed: t("Installed"), returned: t("Returned"),
};

function renderDeliveries(summary) {
  const trucks = $("truck-list");
  const readiness = $("readiness-list");
  if (!summary) {
    trucks.replaceChildren(emptyItem(t("Choose a project to see its trucks.")));
    readiness.replaceChildren(emptyItem(t("Choose a project to see its storeys.")));
    return;
  }
  const loads = summary.trucks_today.loads;
  trucks.replaceChildren(...(loads.length ? loads.map((load) => el("li", { "data-testid": "truck" },
    el("strong", {}, load.vehicle || formatCode(load.code)), " ",
    el("span", { class: `badge ld-${load.state}` }, loadStateName(load.state)),
    el("span", { class: "item-detail small muted" },
       t("{count} pieces", { count: number.format(load.piece_count) }),
       load.arrived_at ? " · " + t("arrived {time}", { time: formatTime(load.arrived_at) })
         : load.eta ? " · " + t("ETA {time}", { time: formatTime(load.eta) }) : "")))
    : [emptyItem(t("No trucks expected today."))]));
  const ready = summary.upcoming_storeys;
  readiness.replaceChildren(...(ready.length ? ready.map((storey) => el("li", { "data-testid": "readiness" },
    el("strong", {}, `${storey.building} · ${storey.storey}`), " ",
    el("span", { class: `badge ${storey.can_start ? "ok" : "warn"}` },
       storey.can_start ? t("Can start") : t("Not ready")),
    el("span", { class: "item-detail small muted" }, PLACES.filter((place) => storey.places[place])
      .map((place) => `${PLACE_NAMES[place]}: ${number.format(storey.places[place])}`)
      .join(" · "))))
    : [emptyItem(t("Every storey is installed."))]));
}

start();
