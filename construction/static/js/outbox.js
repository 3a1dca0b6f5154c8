// Actions and filled checklists waiting to be sent, kept in IndexedDB so they
// survive a lost network, a closed tab or a flat battery. Each carries its
// client_event_id: sending it twice records it once (a checklist sends it as
// its Idempotency-Key; its photos are the same photos when uploaded again).
import { api, ApiError, NetworkError } from "./api.js";

const DB_NAME = "prefabtrace";
const STORE = "outbox";
const BATCH = 200;

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: "client_event_id" });
      store.createIndex("status", "status");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

const database = openDatabase();

async function transact(mode, work) {
  const db = await database;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : result);
    tx.onerror = () => reject(tx.error);
  });
}

export function newEventId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function add(item) {
  const entry = { ...item, status: "waiting", queued_at: new Date().toISOString() };
  await transact("readwrite", (store) => store.put(entry));
  return entry;
}

export async function all() {
  const items = await transact("readonly", (store) => store.getAll());
  return items.sort((a, b) => a.queued_at.localeCompare(b.queued_at));
}

export async function dismiss(clientEventId) {
  await transact("readwrite", (store) => store.delete(clientEventId));
}

let sending = Promise.resolve();

// Send the signed-in user's waiting actions in order (another user's stay on
// the phone until they sign in: an action is recorded under who tapped it).
// Returns {sent, refused, offline, signedOut}; throws ApiError for a batch the
// server refused as a whole.
// A send asked for while one is under way runs after it, so an action tapped
// meanwhile goes out at once and its caller gets the summary that includes it.
export function flush(user) {
  sending = sending.catch(() => {}).then(() => send(user));
  return sending;
}

async function send(user) {
  const summary = { sent: [], refused: [], offline: false, signedOut: false };
  const mine = (await all()).filter((item) => item.status === "waiting" && item.user === user);
  const waiting = mine.filter((item) => item.kind !== "inspection");
  for (let start = 0; start < waiting.length; start += BATCH) {
    const chunk = waiting.slice(start, start + BATCH);
    let answer;
    try {
      answer = await api("/scans/batch", { method: "POST", body: { items: chunk.map(scanOf) } });
    } catch (error) {
      if (error instanceof NetworkError) { summary.offline = true; break; }
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        summary.signedOut = true; break;
      }
      if (error instanceof ApiError && error.status >= 500) { summary.offline = true; break; }
      throw error;
    }
    await transact("readwrite", (store) => {
      answer.results.forEach((result, index) => {
        const item = chunk[index];
        if (result.outcome === "rejected") {
          const problem = result.problem || {};
          store.put({ ...item, status: "refused", problem: keptProblem(problem) });
          summary.refused.push({ ...item, status: "refused", problem });
        } else {
          store.delete(item.client_event_id);
          summary.sent.push({ ...item, status: "sent", result });
        }
      });
    });
  }
  if (!summary.offline && !summary.signedOut) {
    for (const item of mine.filter((entry) => entry.kind === "inspection")) {
      if (!await sendInspection(item, summary)) break;
    }
  }
  return summary;
}

// What a refusal says, kept with the item: its words and the figures behind
// them (the state; a gate's required and measured strength, pour, stage).
function keptProblem(problem) {
  const kept = {};
  for (const name of ["title", "detail", "type", "current_state", "gate", "required_mpa",
                      "measured_mpa", "pour_id", "stage", "inspection_id", "errors"]) {
    if (problem[name] !== undefined) kept[name] = problem[name];
  }
  return kept;
}

// A filled checklist: its photos go up first (each once: the ids are kept),
// then the checklist. Returns false when the rest must wait (no network).
async function sendInspection(item, summary) {
  try {
    const photoIds = { ...(item.photo_ids || {}) };
    for (const [key, files] of Object.entries(item.photos || {})) {
      if (photoIds[key] || !files.length) continue;
      const form = new FormData();
      for (const file of files) form.append("image", file, file.name || "photo.jpg");
      form.append("component_id", String(item.component_id));
      form.append("claimed_at", item.client_time);
      const answer = await api("/photos", { method: "POST", body: form });
      photoIds[key] = answer.items.map((photo) => photo.id);
      await transact("readwrite", (store) => store.put({ ...item, photo_ids: photoIds }));
    }
    const results = item.results.map((answer) =>
      (photoIds[answer.key] ? { ...answer, photo_ids: photoIds[answer.key] } : answer));
    const inspection = await api(`/components/${item.component_id}/inspections`, {
      method: "POST", headers: { "Idempotency-Key": item.client_event_id },
      body: { stage: item.stage, inspected_at: item.client_time, results } });
    await transact("readwrite", (store) => store.delete(item.client_event_id));
    summary.sent.push({ ...item, status: "sent", result: inspection });
    return true;
  } catch (error) {
    if (error instanceof NetworkError || (error instanceof ApiError && error.status >= 500)) {
      summary.offline = true;
      return false;
    }
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      summary.signedOut = true;
      return false;
    }
    const problem = error instanceof ApiError ? error.problem : { title: error.message };
    // The photos stay out of a refused entry: only its words are kept.
    await transact("readwrite", (store) => store.put({
      ...item, photos: {}, status: "refused", problem: keptProblem(problem) }));
    summary.refused.push({ ...item, status: "refused", problem });
    return true;
  }
}

function scanOf(item) {
  const scan = { code: item.code, action: item.action, client_event_id: item.client_event_id,
                 client_time: item.client_time, device: item.device };
  if (item.data) scan.data = item.data;
  return scan;
}
