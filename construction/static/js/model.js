// The model page: the project's newest imported IFC model in 3D (three.js), each
// element coloured by its component's state as on the dashboard, hold and NCR
// outlines, storey filter and isolation, search by code or mark, and a card with
// the component's history link on click or tap. The geometry is the server's
// GLB (one node per element, named by GlobalId), converted once per model file.
// All elements are drawn as one mesh with a colour per vertex (and one more for the
// greyed-out ones): a draw call per element made a thousand-element model turn at
// 3 frames/s in software WebGL.
import * as THREE from "../vendor/three.module.js";
import { OrbitControls } from "../vendor/OrbitControls.js";
import { api, ApiError, NetworkError, page, t, stateName, el } from "./api.js";

const started = performance.now();
const $ = (id) => document.getElementById(id);
const canvas = $("viewer");
const statusLine = $("status");
const storeySelect = $("storey");
const isolateBox = $("isolate");
const searchBox = $("search");
const card = $("card");

const UNTRACKED = 0xb8bec7;
const SELECTED = 0x0b6bcb;
const GLB_MAGIC = 0x46546c67;
const COMPONENT_TYPES = { 5126: Float32Array, 5123: Uint16Array, 5125: Uint32Array };

const elements = new Map();    // GlobalId -> element (see readGlb)
const colours = new Map();     // state -> THREE.Color
const timings = {};
let selected = null;
let order = [];                // elements in the order of their vertices
let solidRanges = [];          // [first triangle, element] of the solid mesh, ascending

function softwareGl() {
  // Multisampling in a software renderer (no GPU) cost two thirds of the frame rate.
  const probe = document.createElement("canvas").getContext("webgl2");
  const info = probe && probe.getExtension("WEBGL_debug_renderer_info");
  const name = info ? String(probe.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
  probe?.getExtension("WEBGL_lose_context")?.loseContext();
  return /swiftshader|llvmpipe|software/i.test(name);
}

const renderer = new THREE.WebGLRenderer({ canvas, antialias: !softwareGl() });
renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xeef1f5);
scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.4);
sun.position.set(0.6, 1, 0.4);
scene.add(sun);
const camera = new THREE.PerspectiveCamera(45, 1, 0.1, 10000);
const controls = new OrbitControls(camera, canvas);
controls.addEventListener("change", render);
const solid = new THREE.Mesh(new THREE.BufferGeometry(), new THREE.MeshLambertMaterial({
  vertexColors: true, flatShading: true }));
const ghost = new THREE.Mesh(new THREE.BufferGeometry(), new THREE.MeshLambertMaterial({
  color: UNTRACKED, flatShading: true, transparent: true, opacity: 0.12, depthWrite: false }));
scene.add(solid, ghost);
const outline = {
  hold: new THREE.LineBasicMaterial({ color: cssColour("--warn", "#b35c00") }),
  ncr: new THREE.LineBasicMaterial({ color: cssColour("--bad", "#b3261e") }),
};

// ---------------------------------------------------------------- helpers

function cssColour(variable, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(variable).trim() || fallback;
}

function stateColour(state) {
  // The dashboard's CSS classes are the one source of the state colours.
  const probe = el("span", { class: `hidden-probe st-${state}` });
  document.body.append(probe);
  const colour = getComputedStyle(probe).backgroundColor;
  probe.remove();
  return colour;
}

function colourFor(state) {
  if (!colours.has(state)) colours.set(state, new THREE.Color(stateColour(state)));
  return colours.get(state);
}

function formatCode(code) {
  return code && code.length === 9 ? `${code.slice(0, 3)}-${code.slice(3, 6)}-${code.slice(6)}`
    : code || "";
}

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("flash", isError);
}

function errorText(error) {
  if (error instanceof NetworkError) return t("No network: the model could not be loaded.");
  if (error instanceof ApiError && error.status === 401) {
    return t("Your session has ended. Sign in again.");
  }
  return t("Could not load: {reason}", { reason: error.message });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// ---------------------------------------------------------------- loading

async function newestModel() {
  const models = (await api(`/projects/${page.project_id}/models`)).items;
  return models.find((model) => model.status === "done" && !model.dry_run) || null;
}

async function geometryOf(modelId) {
  for (;;) {
    let response;
    try {
      response = await fetch(`/api/v1/models/${modelId}/geometry`, {
        credentials: "same-origin", headers: { Accept: "model/gltf-binary" } });
    } catch (error) {
      throw new NetworkError(error.message);
    }
    if (response.status === 202) {  // converted on the server once per model file
      showStatus(t("Preparing the model's geometry on the server…"));
      await sleep(1000 * (Number(response.headers.get("Retry-After")) || 5));
      continue;
    }
    if (!response.ok) {
      throw new ApiError(response.status, await response.json().catch(() => ({})));
    }
    return response.arrayBuffer();
  }
}

async function componentsOf(modelId) {
  // One answer, as columns: the i-th entry of each list is one component.
  const columns = await api(`/models/${modelId}/states`);
  return columns.ids.map((id, i) => ({
    id, ifc_global_id: columns.global_ids[i], code: columns.codes[i], mark: columns.marks[i],
    state: columns.states[i], on_hold: columns.on_hold[i], damaged: columns.damaged[i],
    ncr_open: columns.ncr_open[i] }));
}

function readGlb(buffer) {
  // Our own GLB: one buffer; each node one mesh of positions and triangle indices,
  // gathered here into one vertex buffer.
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== GLB_MAGIC) throw new Error("not a glTF binary");
  const jsonLength = view.getUint32(12, true);
  const documentJson = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 20, jsonLength)));
  const binary = 20 + jsonLength + 8;
  const array = (index) => {
    const accessor = documentJson.accessors[index];
    const bufferView = documentJson.bufferViews[accessor.bufferView];
    const Type = COMPONENT_TYPES[accessor.componentType];
    return new Type(buffer, binary + bufferView.byteOffset,
                    accessor.count * (accessor.type === "VEC3" ? 3 : 1));
  };
  const parts = documentJson.nodes.map((node) => {
    const primitive = documentJson.meshes[node.mesh].primitives[0];
    return { node, positions: array(primitive.attributes.POSITION), indices: array(primitive.indices) };
  });
  const vertexCount = parts.reduce((sum, part) => sum + part.positions.length / 3, 0);
  const positions = new Float32Array(vertexCount * 3);
  let vertex = 0;
  order = parts.map(({ node, positions: own, indices }) => {
    positions.set(own, vertex * 3);
    const box = new THREE.Box3().setFromArray(own);
    const element = { globalId: node.name, extras: node.extras || {}, component: null,
                      firstVertex: vertex, vertices: own.length / 3,
                      indices: Uint32Array.from(indices, (index) => index + vertex),
                      box, visible: true, ghosted: false, outline: null };
    vertex += element.vertices;
    elements.set(element.globalId, element);
    return element;
  });
  const position = new THREE.BufferAttribute(positions, 3);
  solid.geometry.setAttribute("position", position);
  solid.geometry.setAttribute("color", new THREE.BufferAttribute(new Float32Array(vertexCount * 3), 3));
  ghost.geometry.setAttribute("position", position);
  return documentJson.extras || {};
}

function rebuild() {
  // The solid mesh draws the elements shown; the ghost mesh those greyed out.
  const shown = order.filter((element) => element.visible && !element.ghosted);
  const greyed = order.filter((element) => element.visible && element.ghosted);
  const join = (list) => {
    const total = list.reduce((sum, element) => sum + element.indices.length, 0);
    const indices = new Uint32Array(total);
    let at = 0;
    for (const element of list) {
      indices.set(element.indices, at);
      at += element.indices.length;
    }
    return indices;
  };
  solidRanges = [];
  let triangle = 0;
  for (const element of shown) {
    solidRanges.push([triangle, element]);
    triangle += element.indices.length / 3;
  }
  for (const [mesh, list] of [[solid, shown], [ghost, greyed]]) {
    mesh.geometry.setIndex(new THREE.BufferAttribute(join(list), 1));
    mesh.geometry.computeBoundingSphere();
    mesh.visible = list.length > 0;
  }
  for (const element of order) {
    if (element.outline) element.outline.visible = element.visible && !element.ghosted;
  }
}

function elementAt(triangle) {
  let low = 0;
  let high = solidRanges.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (solidRanges[middle][0] <= triangle) low = middle;
    else high = middle - 1;
  }
  return solidRanges[low] && solidRanges[low][1];
}

// ---------------------------------------------------------------- drawing

function render() {
  renderer.render(scene, camera);
}

function resize() {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * renderer.getPixelRatio())
      || canvas.height !== Math.round(height * renderer.getPixelRatio())) {
    renderer.setSize(width, height, false);
    camera.aspect = width / Math.max(height, 1);
    camera.updateProjectionMatrix();
  }
  render();
}

function fit(list) {
  const box = new THREE.Box3();
  for (const element of list) box.union(element.box);
  if (box.isEmpty()) return;
  const sphere = box.getBoundingSphere(new THREE.Sphere());
  const distance = Math.max(sphere.radius, 0.5) / Math.sin(THREE.MathUtils.degToRad(camera.fov / 2));
  const direction = new THREE.Vector3(1, 0.7, 1.2).normalize();
  camera.position.copy(sphere.center).addScaledVector(direction, distance * 1.05);
  camera.near = Math.max(distance / 1000, 0.01);
  camera.far = distance * 10;
  camera.updateProjectionMatrix();
  controls.target.copy(sphere.center);
  controls.update();
  render();
}

function markOf(component) {
  if (!component) return null;
  if (component.ncr_open) return "ncr";
  if (component.on_hold) return "hold";
  return null;
}

function paint(element) {
  const { component } = element;
  const colour = element === selected ? new THREE.Color(SELECTED)
    : component ? colourFor(component.state) : new THREE.Color(UNTRACKED);
  const attribute = solid.geometry.getAttribute("color");
  for (let index = element.firstVertex; index < element.firstVertex + element.vertices; index += 1) {
    attribute.setXYZ(index, colour.r, colour.g, colour.b);
  }
  attribute.needsUpdate = true;
  const mark = markOf(component);
  if (mark && !element.outline) {
    const own = new THREE.BufferGeometry();
    own.setAttribute("position", solid.geometry.getAttribute("position"));
    own.setIndex(new THREE.BufferAttribute(element.indices, 1));
    element.outline = new THREE.LineSegments(new THREE.EdgesGeometry(own, 30), outline[mark]);
    scene.add(element.outline);
  }
}

function matches(element, query) {
  if (!query) return true;
  const component = element.component;
  if (!component) return false;
  const code = query.replace(/[-\s]/g, "");
  return (code && component.code.toLowerCase().includes(code))
    || (component.mark || "").toLowerCase().includes(query);
}

function applyFilters() {
  const storey = storeySelect.value;
  const isolate = isolateBox.checked && storey !== "";
  const query = searchBox.value.trim().toLowerCase();
  const shown = [];
  for (const element of order) {
    const onStorey = !storey || element.extras.storey === storey;
    const wanted = onStorey && matches(element, query);
    element.visible = wanted || !isolate || onStorey;
    element.ghosted = !wanted;
    if (wanted) shown.push(element);
  }
  rebuild();
  if (query) {
    showStatus(t("{count} found", { count: shown.filter((e) => e.component).length }));
    if (shown.length === 1) openCard(shown[0]);
  } else {
    showStatus("");
  }
  if (query || storey) fit(shown);
  else render();
  return shown;
}

function renderLegend() {
  const counts = {};
  let untrackedCount = 0;
  for (const element of elements.values()) {
    if (element.component) counts[element.component.state] = (counts[element.component.state] || 0) + 1;
    else untrackedCount += 1;
  }
  const swatch = (classes) => el("span", { class: `swatch ${classes}`, "aria-hidden": "true" });
  $("legend").replaceChildren(
    ...Object.keys(page.states).filter((state) => counts[state]).map((state) => el(
      "span", { class: "legend-item" }, swatch(`cell st-${state}`), stateName(state),
      el("span", { class: "muted" }, String(counts[state])))),
    el("span", { class: "legend-item" }, swatch("cell untracked"), t("Not tracked"),
       el("span", { class: "muted" }, String(untrackedCount))),
    el("span", { class: "legend-item" }, swatch("cell mark-hold"), t("On hold")),
    el("span", { class: "legend-item" }, swatch("cell mark-ncr"), t("NCR open")));
}

// ---------------------------------------------------------------- the card

function openCard(element) {
  const previous = selected;
  selected = element;
  if (previous) paint(previous);
  paint(element);
  render();
  const { component, extras } = element;
  const rows = [];
  const row = (label, value) => { if (value) rows.push(el("dt", {}, label), el("dd", {}, value)); };
  if (component) {
    row(t("Code"), formatCode(component.code));
    row(t("Storey"), extras.storey);
    row(t("IFC class"), extras.ifc_class);
    row(t("GlobalId"), extras.global_id);
    card.replaceChildren(
      el("h2", {}, component.mark || extras.name || extras.global_id),
      el("span", { class: `badge st-${component.state}`, "data-testid": "card-state" },
         stateName(component.state)),
      el("div", { class: "flags" },
         component.on_hold ? el("span", { class: "badge warn" }, t("On hold")) : null,
         component.ncr_open ? el("span", { class: "badge bad" }, t("NCR open")) : null,
         component.damaged ? el("span", { class: "badge bad" }, t("Damaged")) : null),
      el("dl", {}, rows),
      el("a", { class: "button", href: `/components/${component.id}`, "data-testid": "card-history" },
         t("History")));
  } else {
    row(t("Storey"), extras.storey);
    row(t("IFC class"), extras.ifc_class);
    row(t("GlobalId"), extras.global_id);
    card.replaceChildren(el("h2", {}, extras.name || extras.ifc_class),
                         el("p", { class: "muted" }, t("Not a tracked component.")),
                         el("dl", {}, rows));
  }
  card.classList.remove("hidden");
}

function pick(event) {
  const bounds = canvas.getBoundingClientRect();
  const pointer = new THREE.Vector2(((event.clientX - bounds.left) / bounds.width) * 2 - 1,
                                    -((event.clientY - bounds.top) / bounds.height) * 2 + 1);
  const raycaster = new THREE.Raycaster();
  raycaster.setFromCamera(pointer, camera);
  const hit = solid.visible && raycaster.intersectObject(solid, false)[0];
  if (hit) openCard(elementAt(hit.faceIndex));
}

let pressed = null;
canvas.addEventListener("pointerdown", (event) => { pressed = [event.clientX, event.clientY]; });
canvas.addEventListener("pointerup", (event) => {
  // A tap or click picks; a drag turns the model.
  if (pressed && Math.hypot(event.clientX - pressed[0], event.clientY - pressed[1]) < 6) pick(event);
  pressed = null;
});

// ---------------------------------------------------------------- start

async function start() {
  resize();
  new ResizeObserver(resize).observe(canvas);
  let model;
  try {
    model = await newestModel();
    if (!model) {
      showStatus(t("No building model has been imported into this project yet."));
      return;
    }
    showStatus(t("Loading the model…"));
    const [buffer, components] = await Promise.all([
      geometryOf(model.id).then((data) => { timings.geometry_ms = performance.now() - started; return data; }),
      componentsOf(model.id)]);
    const extras = readGlb(buffer);
    for (const component of components) {
      const element = elements.get(component.ifc_global_id);
      if (element) element.component = component;
    }
    for (const element of order) paint(element);
    rebuild();
    for (const name of extras.storeys || []) storeySelect.append(el("option", { value: name }, name));
    renderLegend();
    showStatus(elements.size ? "" : t("This model has no geometry to show."));
    fit(order);
  } catch (error) {
    showStatus(errorText(error), true);
    return;
  }
  timings.ready_ms = performance.now() - started;
  canvas.dataset.ready = "true";
}

storeySelect.addEventListener("change", applyFilters);
isolateBox.addEventListener("change", applyFilters);
let searchTimer;
searchBox.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applyFilters, 200);
});
$("model-tools").addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
$("fit").addEventListener("click", () => fit(order.filter(
  (element) => element.visible && !element.ghosted)));

// For the browser tests and the load measurement: what is drawn, and where.
window.prefabModel = {
  timings,
  elements: () => elements.size,
  colourOf: (globalId) => {
    const attribute = solid.geometry.getAttribute("color");
    const first = elements.get(globalId).firstVertex;
    const colour = new THREE.Color(attribute.getX(first), attribute.getY(first), attribute.getZ(first));
    return `#${colour.getHexString()}`;
  },
  mark: (globalId) => {
    const line = elements.get(globalId).outline;
    return line ? (line.material === outline.ncr ? "ncr" : "hold") : null;
  },
  visible: (globalId) => elements.get(globalId).visible,
  // Turn the model a full circle in `frames` frames; resolve the milliseconds it took.
  turn: (frames) => new Promise((resolve) => {
    const begin = performance.now();
    const offset = camera.position.clone().sub(controls.target);
    let frame = 0;
    const step = () => {
      offset.applyAxisAngle(new THREE.Vector3(0, 1, 0), (2 * Math.PI) / frames);
      camera.position.copy(controls.target).add(offset);
      camera.lookAt(controls.target);
      render();
      frame += 1;
      if (frame < frames) requestAnimationFrame(step);
      else resolve(performance.now() - begin);
    };
    requestAnimationFrame(step);
  }),
  screenPoint: (globalId) => {
    const centre = elements.get(globalId).box.getCenter(new THREE.Vector3()).project(camera);
    const bounds = canvas.getBoundingClientRect();
    return { x: bounds.left + (centre.x + 1) / 2 * bounds.width,
             y: bounds.top + (1 - centre.y) / 2 * bounds.height };
  },
};

start();
