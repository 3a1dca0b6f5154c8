// After signing out, the phone keeps no copy of the previous user's scan page.
if ("caches" in window) caches.delete("prefabtrace-scan-v1");
