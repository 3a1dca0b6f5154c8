#!/usr/bin/env bash
# Install the system libraries PrefabTrace uses, where this user can.
# libzbar0: the pyzbar QR decoder. Without it decoding goes on with the other
# engines and /health says so, so a failure here is reported, not fatal.
set -u
needed=()
for package in libzbar0; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || needed+=("$package")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q "${needed[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${needed[@]}" >/dev/null 2>&1; } \
    || echo "warning: could not install ${needed[*]}; pyzbar decoding will be unavailable" >&2
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo apt-get install -y -q "${needed[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${needed[*]}" >&2
else
  echo "note: install ${needed[*]} (apt-get) for the pyzbar decoder" >&2
fi
exit 0
