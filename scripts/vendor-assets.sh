#!/usr/bin/env bash
# Install the pages' browser libraries from the npm registry (versions locked in
# package-lock.json) and copy the files the pages load into
# construction/static/vendor, so nothing is fetched from a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=construction/static/vendor
if ! command -v npm >/dev/null; then
  echo "error: npm (Node.js) is needed to install the pages' libraries (apt-get install npm)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
mkdir -p "$vendor"
cp node_modules/zxing-wasm/dist/iife/reader/index.js "$vendor/zxing-reader.js"
cp node_modules/zxing-wasm/dist/reader/zxing_reader.wasm "$vendor/zxing_reader.wasm"
cp node_modules/chart.js/dist/chart.umd.min.js "$vendor/chart.umd.min.js"
cp node_modules/three/build/three.module.js node_modules/three/build/three.core.js "$vendor/"
# The pages load ES modules without an import map (the CSP allows no inline script):
# the controls import three by its file name.
sed "s#from 'three';#from './three.module.js';#" \
  node_modules/three/examples/jsm/controls/OrbitControls.js > "$vendor/OrbitControls.js"
# The API docs page (/api/v1/docs): Swagger UI 5, which reads OpenAPI 3.1.
mkdir -p "$vendor/swagger-ui"
cp node_modules/swagger-ui-dist/{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js,LICENSE,NOTICE} \
  "$vendor/swagger-ui/"
cp node_modules/zxing-wasm/LICENSE "$vendor/zxing-wasm.LICENSE"
cp node_modules/three/LICENSE "$vendor/three.LICENSE"
cp node_modules/chart.js/LICENSE.md "$vendor/chart.js.LICENSE.md"
