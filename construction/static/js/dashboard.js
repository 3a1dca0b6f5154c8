// The dashboard for project managers and regulators: figures and charts from the
// report endpoints, the storey-by-storey grid of every component coloured by its
// state, the NCR, alert, hold and stalled lists, the production quality records
// (28-day strength by GB/T 50107, gate overrides, inspection failures by item),
// and exports with the same filters.
import { alertKindName, api, ApiError, LOCALE as locale, NetworkError, page, t, stateName, loadStateName, el, formatTime, gateName, stageName } from "./api.js";

// Lifecycle order, from the server (the page config's keys arrive sorted by name).
const STATES = page.state_order || Object.keys(page.states || {});
const INSTALLED = ["installed", "connected", "accepted"];
const GRID_LIMIT = 5000;       // more components than this are not drawn one by one
const PAGE_SIZE = 500;         // the most /components gives in one page
const STALLED_DAYS = 14;
const NCR_DETAILS = 20;        // NCRs whose record number and reason are looked up
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
let buildings = [];
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
  await loadBuildings(wanted.get("building_id"));
  projectSelect.addEventListener("change", async () => { await loadBuildings(null); refresh(); });
  buildingSelect.addEventListener("change", refresh);
  refresh();
}

async function loadBuildings(wantedBuilding) {
  buildingSelect.replaceChildren(el("option", { value: "" }, t("All buildings")));
  buildings = [];
  const projectId = projectSelect.value;
  buildingSelect.disabled = !projectId;
  if (!projectId) return;
  try {
    buildings = await api(`/projects/${projectId}/buildings`);
  } catch (error) {
    showStatus(errorText(error), true);
  }
  for (const building of buildings) {
    buildingSelect.append(el("option", { value: building.id }, building.name));
  }
  if (buildings.some((building) => String(building.id) === wantedBuilding)) {
    buildingSelect.value = wantedBuilding;
  }
}

function showStatus(text, bad) {
  statusLine.textContent = text;
  statusLine.className = bad ? "flash" : "muted";
}

// ---------------------------------------------------------------- loading

async function refresh() {
  const mine = ++loadCount;
  const current = () => mine === loadCount;
  const filters = { project_id: projectSelect.value, building_id: buildingSelect.value };
  const search = query(filters);
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
  setExports(filters);
  showStatus(t("Loading…"), false);
  document.body.classList.add("loading");

  const scopeBuildings = filters.building_id
    ? buildings.filter((building) => String(building.id) === filters.building_id) : buildings;
  const reports = Promise.all([
    api(`/progress?${search}`),
    api(`/progress/daily?${query({ project_id: filters.project_id })}`),
    api(`/quality?${search}`),
    api(`/alerts?${query({ project_id: filters.project_id, status: "open",
                           per_page: LIST_LIMIT })}`),
    api(`/progress/stalled?${query({ ...filters, days: STALLED_DAYS, limit: LIST_LIMIT })}`),
  ]);
  const grid = filters.project_id ? loadGrid(filters, scopeBuildings) : Promise.resolve(null);
  try {
    const [progress, daily, quality, alerts, stalled] = await reports;
    if (!current()) return;
    // Only a project with an imported model has progress by IFC class: it has a 3D view.
    $("model-link").href = `/projects/${filters.project_id}/model`;
    $("model-link").classList.toggle("hidden", !filters.project_id
                                     || !(progress.by_ifc_class || []).length);
    renderStateChart(progress);
    renderTimeChart(daily);
    renderBreakdowns(progress, filters);
    renderStalled(stalled);
    renderNcrSummary(quality);
    renderQualityRecords(quality);
    $("time-note").classList.toggle("hidden", !filters.building_id);
    const layout = await grid;
    if (!current()) return;
    renderAlerts(alerts, layout);
    renderFigures(progress, quality, alerts, stalled, layout);
    renderGrid(layout, progress);
    renderLists(layout, current);
    renderDeliveries(filters, layout, current);
    showStatus(t("Figures as of {time}", { time: formatTime(new Date().toISOString()) }), false);
  } catch (error) {
    if (current()) showStatus(errorText(error), true);
  } finally {
    if (current()) document.body.classList.remove("loading");
  }
}

async function loadGrid(filters, scopeBuildings) {
  const base = query({ project_id: filters.project_id, building_id: filters.building_id,
                       per_page: PAGE_SIZE });
  const storeys = Promise.all(scopeBuildings.map(
    (building) => api(`/buildings/${building.id}/storeys`)));
  const first = await api(`/components?${base}&page=1`);
  if (first.total > GRID_LIMIT) return { tooMany: first.total };
  const rest = [];
  for (let number = 2; number <= first.pages; number++) {
    rest.push(api(`/components?${base}&page=${number}`));
  }
  const components = [...first.items, ...(await Promise.all(rest)).flatMap((p) => p.items)];
  return { components, buildings: scopeBuildings, storeys: await storeys };
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

function renderFigures(progress, quality, alerts, stalled, layout) {
  const total = progress.total;
  const installed = installedOf(progress.by_state);
  const accepted = progress.by_state.accepted || 0;
  const openNcrs = quality.ncrs.filter((row) => row.status === "open")
    .reduce((sum, row) => sum + row.count, 0);
  const checked = quality.qc_by_manufacturer.reduce(
    (sum, row) => ({ pass: sum.pass + row.qc_pass, fail: sum.fail + row.qc_fail }),
    { pass: 0, fail: 0 });
  const flagged = layout && layout.components
    ? layout.components.filter((c) => c.on_hold || c.damaged).length : null;
  $("figures").replaceChildren(
    figure(number.format(total), t("Components"), null, "", "figure-total"),
    figure(number.format(installed), t("Installed"),
           t("{percent}, with connected and accepted", { percent: ratio(installed, total) }),
           "ok", "figure-installed"),
    figure(number.format(accepted), t("Accepted"), ratio(accepted, total), "", "figure-accepted"),
    figure(number.format(openNcrs), t("Open NCRs"), null, openNcrs ? "bad" : "", "figure-ncrs"),
    figure(number.format(alerts.total), t("Open alerts"), null, alerts.total ? "bad" : "",
           "figure-alerts"),
    figure(flagged === null ? "–" : number.format(flagged), t("On hold or damaged"), null,
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
      await loadBuildings(null);
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

function renderGrid(layout, progress) {
  const grid = $("grid");
  renderLegend(progress.by_state);
  if (!layout) {
    grid.replaceChildren(el("p", { class: "muted" }, t("Choose a project to see its storeys.")));
    return;
  }
  if (layout.tooMany) {
    grid.replaceChildren(el("p", { class: "muted" }, t(
      "{count} components are too many to draw one by one: choose a building.",
      { count: number.format(layout.tooMany) })));
    return;
  }
  const byStorey = new Map();
  for (const component of layout.components) {
    const key = component.storey_id ?? "none";
    if (!byStorey.has(key)) byStorey.set(key, []);
    byStorey.get(key).push(component);
  }
  const blocks = layout.buildings.map((building, index) => {
    const storeys = [...layout.storeys[index]].sort(
      (a, b) => b.elevation_m - a.elevation_m || b.id - a.id);
    const rows = storeys.map((storey) => storeyRow(storey.name, byStorey.get(storey.id) || [],
                                                   "storey-row"));
    const count = storeys.reduce((sum, s) => sum + (byStorey.get(s.id) || []).length, 0);
    return el("div", { class: "building", "data-testid": "grid-building",
                       dataset: { buildingId: building.id } },
              el("h3", {}, building.name, " ",
                 el("span", { class: "muted small" }, t("{count} components", {
                   count: number.format(count) }))),
              rows.length ? rows : el("p", { class: "muted" }, t("No storeys.")));
  });
  if (byStorey.has("none")) {
    blocks.push(el("div", { class: "building" }, el("h3", {}, t("Not placed on a storey")),
                   storeyRow("–", byStorey.get("none"), "storey-row-none")));
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
  // t() stays out of template literals: the message extractor cannot see into them.
  const uncategorised = t("Uncategorised");
  const chips = quality.ncrs.map((row) => el("span", {
    class: `badge ${row.status === "open" ? "bad" : ""}` },
    row.category === "uncategorised" ? uncategorised : row.category, " · ",
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
    el("td", {}, row.item),
    el("td", {}, t("{failed} of {inspected}", { failed: number.format(row.failed),
                                               inspected: number.format(row.inspected) })),
    el("td", {}, percent.format(row.failure_rate))))
    : [emptyRow(5, t("No failed inspection items."))]));
}

async function renderLists(layout, current) {
  const ncrList = $("ncr-list");
  const flagList = $("flag-list");
  if (!layout || !layout.components) {
    const text = layout ? t("Choose a building to list them.")
      : t("Choose a project to list them.");
    ncrList.replaceChildren(emptyItem(text));
    flagList.replaceChildren(emptyItem(text));
    return;
  }
  const flagged = layout.components.filter((c) => c.on_hold || c.damaged);
  flagList.replaceChildren(...(flagged.length ? flagged.slice(0, LIST_LIMIT).map((c) => el("li", {},
    componentLink(c), " ", stateBadge(c.state), " ",
    c.on_hold ? el("span", { class: "badge warn" }, t("On hold")) : null, " ",
    c.damaged ? el("span", { class: "badge bad" }, t("Damaged")) : null))
    : [emptyItem(t("None."))]));
  if (flagged.length > LIST_LIMIT) {
    flagList.append(emptyItem(t("and {count} more", { count: flagged.length - LIST_LIMIT })));
  }

  const ncrs = layout.components.filter((c) => c.ncr_open);
  const items = ncrs.slice(0, NCR_DETAILS).map((component) => {
    const detail = el("span", { class: "item-detail small muted" });
    return { component, detail, item: el("li", { "data-testid": "ncr-item" },
      componentLink(component), " ", stateBadge(component.state), detail) };
  });
  ncrList.replaceChildren(...(items.length ? items.map((entry) => entry.item)
    : [emptyItem(t("No open NCRs."))]));
  if (ncrs.length > NCR_DETAILS) {
    ncrList.append(emptyItem(t("and {count} more", { count: ncrs.length - NCR_DETAILS })));
  }
  // The NCR number and reason are in the failed check's event.
  await Promise.all(items.map(async ({ component, detail }) => {
    try {
      const full = await api(`/components/${component.id}`);
      if (!current()) return;
      const failed = full.events.filter((event) => event.action === "qc_fail").pop();
      if (!failed) return;
      const data = failed.data || {};
      detail.textContent = [data.ncr, data.reason || data.category,
                            formatTime(failed.client_time || failed.server_time)]
        .filter(Boolean).join(" · ");
    } catch {
      // The list stays useful without the details.
    }
  }));
}

function renderAlerts(alerts, layout) {
  const list = $("alert-list");
  const known = new Map((layout && layout.components || []).map((c) => [c.id, c]));
  if (!alerts.items.length) {
    list.replaceChildren(emptyItem(t("No open alerts.")));
    return;
  }
  list.replaceChildren(...alerts.items.map((alert) => el("li", { "data-testid": "alert-item" },
    known.has(alert.component_id) ? componentLink(known.get(alert.component_id))
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

const UPCOMING_STOREYS = 3;    // storeys whose readiness is shown, lowest not installed first
const PLACES = ["not_cast", "in_factory", "in_yard", "loaded", "in_transit", "on_site",
                "installed", "returned"];
const PLACE_NAMES = {
  not_cast: t("Not cast"), in_factory: t("In the factory"), in_yard: t("In the yard"),
  loaded: t("Loaded"), in_transit: t("In transit"), on_site: t("On site"),
  installed: t("Installed"), returned: t("Returned"),
};

function localDay() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

async function renderDeliveries(filters, layout, current) {
  const trucks = $("truck-list");
  const readiness = $("readiness-list");
  if (!filters.project_id) {
    trucks.replaceChildren(emptyItem(t("Choose a project to see its trucks.")));
    readiness.replaceChildren(emptyItem(t("Choose a project to see its storeys.")));
    return;
  }
  const today = localDay();
  const upcoming = [];
  if (layout && !layout.tooMany) {
    layout.buildings.forEach((building, index) => {
      const storeys = [...layout.storeys[index]].sort((a, b) => a.elevation_m - b.elevation_m);
      for (const storey of storeys) {
        const pieces = layout.components.filter((c) => c.storey_id === storey.id);
        if (pieces.some((c) => !INSTALLED.includes(c.state) && c.state !== "scrapped")) {
          upcoming.push({ building, storey });
        }
      }
    });
  }
  try {
    const [deliveries, ...ready] = await Promise.all([
      api(`/projects/${filters.project_id}/deliveries?since=${today}&until=${today}`),
      ...upcoming.slice(0, UPCOMING_STOREYS).map(({ storey }) => api(`/storeys/${storey.id}/readiness`))]);
    if (!current()) return;
    const day = deliveries.days.find((entry) => entry.date === today);
    const loads = day ? [...day.in_transit, ...day.planned, ...day.arrived] : [];
    trucks.replaceChildren(...(loads.length ? loads.map((load) => el("li", { "data-testid": "truck" },
      el("strong", {}, load.vehicle || formatCode(load.code)), " ",
      el("span", { class: `badge ld-${load.state}` }, loadStateName(load.state)),
      el("span", { class: "item-detail small muted" },
         t("{count} pieces", { count: number.format(load.piece_count) }),
         load.arrived_at ? " · " + t("arrived {time}", { time: formatTime(load.arrived_at) })
           : load.eta ? " · " + t("ETA {time}", { time: formatTime(load.eta) }) : "")))
      : [emptyItem(t("No trucks expected today."))]));
    readiness.replaceChildren(...(ready.length ? ready.map((storey) => el("li", { "data-testid": "readiness" },
      el("strong", {}, `${storey.building} · ${storey.storey}`), " ",
      el("span", { class: `badge ${storey.can_start ? "ok" : "warn"}` },
         storey.can_start ? t("Can start") : t("Not ready")),
      el("span", { class: "item-detail small muted" }, PLACES.filter((place) => storey.places[place])
        .map((place) => `${PLACE_NAMES[place]}: ${number.format(storey.places[place])}`)
        .join(" · "))))
      : [emptyItem(t("Every storey is installed."))]));
  } catch (error) {
    if (current()) trucks.replaceChildren(emptyItem(errorText(error)));
  }
}

start();
