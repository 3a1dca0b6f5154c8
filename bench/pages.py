"""Scan page benchmark: reading QR codes in the browser with zxing-wasm, as the page does.

    .venv/bin/python bench/pages.py [--corpus ../shared/corpus/qr] [--repeat 3]

Every image of the QR corpus manifest is drawn on a canvas in Debian's Chromium
(headless) and read with `readBarcodes(imageData, {formats: ["QRCode"],
tryHarder: true, maxNumberOfSymbols: 1})`, the call and options of
construction/static/js/scan.js, timed in the page with performance.now()
(loading and drawing the image are not timed). Baseline in the same run: the
same images, same options, through zxing-cpp's Python binding (native code),
single-threaded. The scan page decodes a camera frame every 150 ms, so a
median well under that keeps the camera live.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import zxingcpp  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]

PAGE = """<!doctype html><meta charset="utf-8">
<script src="/static/vendor/zxing-reader.js"></script>
<script>
ZXingWASM.prepareZXingModule({overrides: {locateFile: (path, prefix) =>
  path.endsWith(".wasm") ? "/static/vendor/zxing_reader.wasm" : prefix + path},
  fireImmediately: true});
const canvas = document.createElement("canvas");
const context = canvas.getContext("2d", {willReadFrequently: true});
async function readAll(paths, repeat) {
  const results = [];
  for (const path of paths) {
    const bitmap = await createImageBitmap(await (await fetch(path)).blob());
    canvas.width = bitmap.width; canvas.height = bitmap.height;
    context.drawImage(bitmap, 0, 0);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    let best = Infinity, texts = [];
    for (let round = 0; round < repeat; round++) {
      const started = performance.now();
      const found = await ZXingWASM.readBarcodes(image, {formats: ["QRCode"],
        tryHarder: true, maxNumberOfSymbols: 1});
      best = Math.min(best, performance.now() - started);
      texts = found.filter((r) => r.isValid).map((r) => r.text);
    }
    results.push({ms: best, texts});
  }
  return results;
}
</script>"""


def _serve(corpus: Path, page_dir: Path):
    import logging

    from werkzeug.middleware.shared_data import SharedDataMiddleware
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    app.wsgi_app = SharedDataMiddleware(app.wsgi_app, {"/corpus": str(corpus),
                                                       "/bench": str(page_dir)})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per image
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _row(name: str, times: list[float], read: int, total: int) -> tuple:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (name, total, read, f"{100 * read / total:.1f} %", f"{statistics.median(times):.2f}",
            f"{p95:.2f}", f"{statistics.fmean(times):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "qr")
    parser.add_argument("--repeat", type=int, default=3,
                        help="reads per image; the fastest counts (both engines)")
    args = parser.parse_args()
    manifest = args.corpus / "manifest.jsonl"
    if not manifest.exists():
        print(f"skipped: no corpus at {args.corpus}")
        return 0
    if not Path(CHROMIUM).exists():
        print(f"skipped: no Chromium at {CHROMIUM}")
        return 0
    from playwright.sync_api import sync_playwright

    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows = [row for row in rows if cv2.imread(str(args.corpus / row["image"])) is not None]

    native_times, native_read = [], 0
    for row in rows:
        image = cv2.cvtColor(cv2.imread(str(args.corpus / row["image"])), cv2.COLOR_BGR2RGB)
        best, texts = float("inf"), []
        for _ in range(args.repeat):
            started = time.perf_counter()
            found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode,
                                           try_rotate=True, try_downscale=True)
            best = min(best, (time.perf_counter() - started) * 1000)
            texts = [code.text for code in found if code.valid][:1]
        native_times.append(best)
        native_read += _read(texts, row["expected"])

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.html").write_text(PAGE)
        server = _serve(args.corpus, Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_port}/bench/index.html")
                results = page.evaluate("([paths, repeat]) => readAll(paths, repeat)",
                                        [[f"/corpus/{row['image']}" for row in rows],
                                         args.repeat])
                version = page.evaluate("ZXingWASM.ZXING_WASM_VERSION || ''")
                browser.close()
        finally:
            server.shutdown()
    wasm_read = sum(_read(result["texts"], row["expected"])
                    for result, row in zip(results, rows, strict=True))
    table = [("engine", "images", "read", "rate", "p50 ms", "p95 ms", "mean ms"),
             _row(f"zxing-wasm {version} in Chromium (the scan page)",
                  [result["ms"] for result in results], wasm_read, len(rows)),
             _row(f"baseline: zxing-cpp {metadata.version('zxing-cpp')} native",
                  native_times, native_read, len(rows))]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths,
                                                                      strict=True)))
    wasm_median = statistics.median(result["ms"] for result in results)
    print(f"\nwasm / native median time: {wasm_median / statistics.median(native_times):.1f}x;"
          f" frame interval of the scan page: 150 ms")
    return 0


def _read(texts: list[str], expected) -> bool:
    return expected in texts if expected is not None else bool(texts)


if __name__ == "__main__":
    sys.exit(main())
