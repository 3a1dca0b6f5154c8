// After signing out, the phone keeps no copy of the previous user's scan page.
if ("caches" in window) {
  caches.keys().then((names) => Promise.all(
    names.filter((name) => name.startsWith("prefabtrace-scan-")).map((name) => caches.delete(name))));
}
