// The pages' client for /api/v1: the session cookie signs in, writes carry the
// page's CSRF token, and errors arrive as application/problem+json.

export const page = JSON.parse(document.getElementById("page-config")?.textContent || "{}");
// The page's language for the server (Accept-Language) and for numbers and dates.
export const LANGUAGE = page.locale === "zh_CN" ? "zh-CN" : "en";
export const LOCALE = page.locale === "zh_CN" ? "zh-CN" : "en-GB";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export class NetworkError extends Error {}

export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  // Refusals come back in the page's language, whatever the browser prefers.
  const init = { method, headers: { Accept: "application/json", "Accept-Language": LANGUAGE,
                                    ...headers },
                 credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = page.csrf;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (error) {
    throw new NetworkError(error.message);
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, typeof data === "object" ? data : { title: data });
  }
  return data;
}

export function t(key, values = {}) {
  const text = (page.strings && page.strings[key]) || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? values[name] : `{${name}}`));
}

// A name the server gave words to (page.states, page.actions, …), or the name itself.
function inWords(labels, name) {
  return (labels && labels[name]) || name;
}

export const stateName = (state) => inWords(page.states, state);
export const actionName = (action) => inWords(page.actions, action);
export const loadStateName = (state) => inWords(page.load_states, state);
export const alertKindName = (kind) => inWords(page.alert_kinds, kind);
// A checklist's stage (pre_pour, …) and a lifecycle gate.
export const stageName = (stage) => inWords(page.stages, stage);
export const gateName = (gate) => inWords(page.gates, gate);
// An NCR's category (dimension, surface, …); one a checklist invented shows as written.
export const ncrCategoryName = (category) => inWords(page.ncr_categories, category);

// A checklist item's words in the page's language (a template's item, or a report's row).
export function itemText(item) {
  return page.locale === "zh_CN" ? item.text_zh : item.text_en;
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(LOCALE, { dateStyle: "short", timeStyle: "short" });
}

// A refused request in words: the page's own explanations by problem type,
// then the ones every page shares, then the server's title.
export function problemWords(error, known = {}, fallback = "") {
  if (error instanceof NetworkError) {
    return { text: t("No connection to the server. Try again when the network is back."), detail: "" };
  }
  if (!(error instanceof ApiError)) return { text: error.message, detail: "" };
  const problem = error.problem || {};
  const type = String(problem.type || "").split("/").pop();
  const shared = {
    "unauthorized": t("You are signed out. Sign in again."),
    "csrf-failed": t("The page has expired. Reload it and try again."),
  };
  return { text: known[type] || shared[type] || problem.title || fallback,
           detail: problem.detail || "" };
}
