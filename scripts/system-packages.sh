#!/usr/bin/env bash
# Install the system libraries PrefabTrace uses, where this user can.
# libzbar0: the pyzbar QR decoder. Without it decoding goes on with the other
# engines and /health says so, so a failure here is reported, not fatal.
# fonts-wqy-zenhei: the CJK TrueType font embedded in label PDFs (without it
# PDFs name a font the printer must supply; /health says so).
# npm: installs the pages' browser libraries (zxing-wasm, Chart.js) at set-up.
# chromium: the browser the page tests drive (they are skipped without it).
# nginx-light: the proxy of `make cluster`, and what checks deploy/nginx in the tests
# (any nginx will do).
# Packages named as arguments are wanted too (`make cluster`: redis-server).
set -u
needed=()
command -v npm >/dev/null || needed+=(npm)
command -v nginx >/dev/null || test -x /usr/sbin/nginx || needed+=(nginx-light)
for package in libzbar0 fonts-wqy-zenhei chromium "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || needed+=("$package")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q "${needed[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${needed[@]}" >/dev/null 2>&1; } \
    || echo "warning: could not install ${needed[*]}; pyzbar decoding, label fonts, page libraries or browser tests will be unavailable" >&2
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo apt-get install -y -q "${needed[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${needed[*]}" >&2
else
  echo "note: install ${needed[*]} (apt-get) for the pyzbar decoder, label fonts, page libraries and browser tests" >&2
fi
exit 0
