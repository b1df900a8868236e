// Glue of the reference Source DRIMbox's viewer: Cornerstone3D (installed at set-up, /viewer/lib/) showing the
// study through the page's same-origin DICOMweb path (/viewer/dicomweb/<KOS UID>/..., RAD-107 behind it).
// The first image comes from the metadata the page carries and one frame request; the series' metadata and
// the other frames follow in the background (PS3.18 §10.4.1.1.4 metadata, §10.4.1.1.5 frames).
import { core, dicomImageLoader } from '/viewer/lib/cornerstone.js';

const data = JSON.parse(document.getElementById('viewer-data').textContent);
const element = document.getElementById('viewport');
const statusLine = document.getElementById('status');
const slider = document.getElementById('slider');
const started = performance.now();
// Frames as the Source stores them when our decoders read them (PS3.18 Table 8.7.3-2), else native pixels.
const FRAME_ACCEPT = [
  'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80',
  'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.81; q=0.9',
  'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90; q=0.9',
  'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.91; q=0.9',
  'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70; q=0.9',
  'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50; q=0.9',
  'multipart/related; type="image/dicom-rle"; transfer-syntax=1.2.840.10008.1.2.5; q=0.9',
  'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1; q=0.5',
].join(', ');
const PREFETCH = 4; // frame requests in flight while the professional looks at the first image
const TAG = { instanceNumber: '00200013', position: '00200032', sop: '00080018', description: '0008103E',
  seriesNumber: '00200011', modality: '00080060' };

let viewport = null;
let series = null; // {uid, ids, loaded}
let generation = 0; // a series change stops the previous series' prefetch

function value(item, tag) {
  const v = item && item[tag] && item[tag].Value;
  return Array.isArray(v) ? v : undefined;
}

function imageId(seriesUid, sop) {
  return `wadors:${location.origin}${data.base}/studies/${data.study}/series/${seriesUid}/instances/${sop}/frames/1`;
}

function show(state, message) {
  element.dataset.state = state;
  statusLine.textContent = message;
}

function shown() {
  if (!series) return;
  const index = viewport.getCurrentImageIdIndex();
  element.dataset.index = String(index);
  element.dataset.count = String(series.ids.length);
  slider.max = String(series.ids.length);
  slider.value = String(index + 1);
  statusLine.textContent = `Image ${index + 1} / ${series.ids.length} — ${series.loaded} chargée(s)`;
}

async function setup() {
  core.init();
  if (!core.getRenderingCapabilities || !hasWebGL()) core.setUseCPURendering(true);
  dicomImageLoader.init({
    maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)),
    wasmBasePath: '/viewer/lib/',
    beforeSend: () => ({ Accept: FRAME_ACCEPT }),
  });
  const engine = new core.RenderingEngine('drimcheck-viewer');
  engine.enableElement({ viewportId: 'main', type: core.Enums.ViewportType.STACK, element });
  viewport = engine.getViewport('main');
  element.addEventListener(core.Enums.Events.STACK_NEW_IMAGE, shown);
  element.addEventListener(core.Enums.Events.IMAGE_RENDERED, () => {
    if (!element.dataset.firstImageMs) {
      element.dataset.firstImageMs = String(Math.round(performance.now() - started));
    }
  });
}

function hasWebGL() {
  try {
    return !!document.createElement('canvas').getContext('webgl2');
  } catch (e) {
    return false;
  }
}

async function openSeries(entry, firstItem) {
  const mine = ++generation;
  document.querySelectorAll('button.series').forEach((b) => b.setAttribute('aria-pressed',
    String(b.dataset.seriesUid === entry.uid)));
  element.dataset.loaded = '0';
  delete element.dataset.seriesLoadedMs;
  show('loading', 'Chargement…');
  // first image: its metadata is known (the page carries the first one), one frame request shows it
  const firstSop = entry.instances[0];
  const first = imageId(entry.uid, firstSop);
  if (firstItem) dicomImageLoader.wadors.metaDataManager.add(first, firstItem);
  series = { uid: entry.uid, ids: [first], loaded: 0 };
  if (firstItem) {
    await viewport.setStack([first], 0);
    viewport.render();
    show('image', 'Image 1 affichée');
  }
  const items = await metadata(entry.uid);
  if (mine !== generation) return;
  const sorted = items.slice().sort(order);
  const ids = sorted.map((item) => {
    const id = imageId(entry.uid, value(item, TAG.sop)[0]);
    dicomImageLoader.wadors.metaDataManager.add(id, item);
    return id;
  });
  describe(entry.uid, sorted[0]);
  const current = firstItem ? Math.max(0, ids.indexOf(first)) : 0;
  series = { uid: entry.uid, ids, loaded: 0 };
  await viewport.setStack(ids, current);
  viewport.render();
  show('image', '');
  shown();
  prefetch(ids, current, mine);
}

async function metadata(seriesUid) {
  const url = `${data.base}/studies/${data.study}/series/${seriesUid}/metadata`;
  const resp = await fetch(url, { headers: { Accept: 'application/dicom+json' }, credentials: 'same-origin' });
  if (!resp.ok) throw new Error(`métadonnées refusées : ${resp.status}`);
  return resp.json();
}

function order(a, b) {
  const na = (value(a, TAG.instanceNumber) || [0])[0];
  const nb = (value(b, TAG.instanceNumber) || [0])[0];
  if (na !== nb) return na - nb;
  const za = (value(a, TAG.position) || [0, 0, 0])[2];
  const zb = (value(b, TAG.position) || [0, 0, 0])[2];
  return za - zb;
}

function describe(seriesUid, item) {
  const button = document.querySelector(`button.series[data-series-uid="${seriesUid}"] .desc`);
  if (!button || !item) return;
  const parts = [(value(item, TAG.modality) || [''])[0], (value(item, TAG.seriesNumber) || [''])[0],
    (value(item, TAG.description) || [''])[0]];
  button.textContent = parts.filter((p) => p !== '').join(' ');
}

// the frames of the series, nearest to the shown image first, a few requests at a time
async function prefetch(ids, from, mine) {
  const queue = ids.map((id, i) => [Math.abs(i - from), id]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
  const worker = async () => {
    while (queue.length && mine === generation) {
      const id = queue.shift();
      try {
        await core.imageLoader.loadAndCacheImage(id, { priority: 0 });
      } catch (e) {
        element.dataset.errors = String(Number(element.dataset.errors || 0) + 1);
      }
      if (mine !== generation) return;
      series.loaded += 1;
      element.dataset.loaded = String(series.loaded);
      if (series.loaded === ids.length) element.dataset.seriesLoadedMs = String(Math.round(performance.now() - started));
      shown();
    }
  };
  await Promise.all(Array.from({ length: PREFETCH }, worker));
}

function go(delta) {
  if (!series) return;
  const next = Math.min(series.ids.length - 1, Math.max(0, viewport.getCurrentImageIdIndex() + delta));
  viewport.setImageIdIndex(next);
}

function zoom(factor) {
  viewport.setZoom(viewport.getZoom() * factor);
  viewport.render();
}

function bind() {
  element.addEventListener('wheel', (event) => {
    event.preventDefault();
    if (event.ctrlKey) zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1);
    else go(event.deltaY > 0 ? 1 : -1);
  }, { passive: false });
  let drag = null;
  element.addEventListener('pointerdown', (event) => {
    const voi = viewport.getProperties().voiRange;
    if (!voi) return;
    drag = { x: event.clientX, y: event.clientY, width: voi.upper - voi.lower, center: (voi.upper + voi.lower) / 2 };
    element.setPointerCapture(event.pointerId);
  });
  element.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const width = Math.max(1, drag.width + (event.clientX - drag.x) * 2);
    const center = drag.center + (event.clientY - drag.y) * 2;
    viewport.setProperties({ voiRange: { lower: center - width / 2, upper: center + width / 2 } });
    viewport.render();
  });
  element.addEventListener('pointerup', () => { drag = null; });
  document.getElementById('previous').addEventListener('click', () => go(-1));
  document.getElementById('next').addEventListener('click', () => go(1));
  document.getElementById('zoom-in').addEventListener('click', () => zoom(1.25));
  document.getElementById('zoom-out').addEventListener('click', () => zoom(0.8));
  document.getElementById('reset').addEventListener('click', () => { viewport.resetCamera(); viewport.resetProperties(); viewport.render(); });
  slider.addEventListener('input', () => viewport.setImageIdIndex(Number(slider.value) - 1));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'PageDown') go(1);
    if (event.key === 'ArrowUp' || event.key === 'PageUp') go(-1);
  });
  document.querySelectorAll('button.series').forEach((button) => button.addEventListener('click', () => {
    const entry = data.series.find((s) => s.uid === button.dataset.seriesUid);
    openSeries(entry, null).catch(failed);
  }));
}

function failed(error) {
  show('error', `Erreur : ${error && error.message ? error.message : error}`);
}

setup().then(() => {
  bind();
  return openSeries(data.series[0], data.first);
}).catch(failed);
