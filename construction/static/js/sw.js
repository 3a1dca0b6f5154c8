// Keeps the scan page and what it loads on the phone, so it opens with no
// network (yards and basements often have none); the queued actions live in
// IndexedDB and go out when the network returns. API calls are never cached.
// The server fills in the release and the session lifetime when it serves this.
const RELEASE = "__RELEASE__";
const PAGE_MAX_AGE_MS = Number("__PAGE_MAX_AGE_MS__");
const CACHE = `prefabtrace-scan-${RELEASE}`;
const PAGE = "/scan";
const ASSETS = ["/static/css/app.css", "/static/js/api.js", "/static/js/outbox.js",
                "/static/js/scan.js", "/static/vendor/zxing-reader.js",
                "/static/vendor/zxing_reader.wasm"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(ASSETS))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("prefabtrace-scan-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

// The page asks for itself to be kept once the worker runs (its first load
// came before the worker did).
self.addEventListener("message", (event) => {
  if (event.data === "keep-scan-page") event.waitUntil(keepPage());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PAGE && request.mode === "navigate") {
    event.respondWith(pageNetworkFirst(request));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(assetNetworkFirst(request));
  }
});

async function keepPage(response) {
  const cache = await caches.open(CACHE);
  const fresh = response || await fetch(PAGE, { credentials: "same-origin" });
  // Only the signed-in page itself: never a redirect to the sign-in form.
  if (!fresh.ok || fresh.redirected) return;
  const headers = new Headers(fresh.headers);
  headers.set("X-Kept-At", String(Date.now()));
  await cache.put(PAGE, new Response(await fresh.blob(), { status: fresh.status, headers }));
}

async function pageNetworkFirst(request) {
  try {
    const response = await fetch(request);
    await keepPage(response.clone());
    return response;
  } catch (error) {
    const cache = await caches.open(CACHE);
    const kept = await cache.match(PAGE);
    // A page older than a sign-in lasts is not shown: its session is over.
    if (kept && Date.now() - Number(kept.headers.get("X-Kept-At") || 0) < PAGE_MAX_AGE_MS) {
      return kept;
    }
    throw error;
  }
}

// Files come from the server while it answers (a new release is used at once);
// the kept copies are for when it does not.
async function assetNetworkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && ASSETS.includes(new URL(request.url).pathname)) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await cache.match(request, { ignoreSearch: true });
    if (kept) return kept;
    throw error;
  }
}
