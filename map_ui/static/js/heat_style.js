/* Pure helpers of the heat layer (no DOM, no Leaflet; unit-tested in map_ui/tests/heat.test.mjs):
 * the time-range presets, the query of GET /api/v1/heat and /hotspots, the choropleth's class breaks
 * and colour ramp, the legend rows, and the heat points of the cells. */

/** Sequential ramp for rates per 1,000 customers, light to dark (ColorBrewer YlOrRd, 5 classes). */
export const RAMP = ['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'];
/** An area with customers and no contact: drawn (a zero is information), in a neutral light fill. */
export const ZERO_COLOUR = '#ffffff';
/** Hotspot outlines: Gi* hot red, cold blue. */
export const HOT_COLOUR = '#d7191c';
export const COLD_COLOUR = '#2c7bb6';
/** Leaflet.heat's gradient (blue → red), stops in 0..1. */
export const HEAT_GRADIENT = { 0.3: '#2c7bb6', 0.5: '#abd9e9', 0.7: '#ffffbf', 0.85: '#fdae61', 1.0: '#d7191c' };

export const PRESETS = ['7d', '30d', '3m', 'custom'];
export const DEFAULT_PRESET = '3m';

// ---------------------------------------------------------------- dates
/** 'YYYY-MM-DD' of `now` (a Date) in `timeZone` (the API counts local days; default China Standard Time). */
export function todayIn(timeZone = 'Asia/Shanghai', now = new Date()) {
  // en-CA formats as YYYY-MM-DD
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

function parseDay(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3] ? d : null;
}

function dayString(d) { return d.toISOString().slice(0, 10); }

/** `day` ('YYYY-MM-DD') plus `n` days (n may be negative). */
export function addDays(day, n) {
  const d = parseDay(day);
  if (!d) throw new RangeError('not a day: ' + day);
  d.setUTCDate(d.getUTCDate() + n);
  return dayString(d);
}

/** `day` plus `n` calendar months, clamped to the month's last day (05-31 − 3 months = 02-28). */
export function addMonths(day, n) {
  const d = parseDay(day);
  if (!d) throw new RangeError('not a day: ' + day);
  const y = d.getUTCFullYear(), m = d.getUTCMonth() + n;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return dayString(new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), last))));
}

/** {from, to} of a preset ending `today` inclusive: the last 7 days, 30 days, or 3 calendar months
 * (2026-12-06 → 2026-09-07 … 2026-12-06). `custom` keeps nothing: null. */
export function presetRange(preset, today) {
  if (preset === '7d') return { from: addDays(today, -6), to: today };
  if (preset === '30d') return { from: addDays(today, -29), to: today };
  if (preset === '3m') return { from: addDays(addMonths(today, -3), 1), to: today };
  return null;
}

/** Null when from/to are valid local days in order, else the name of the faulty field. */
export function rangeProblem(from, to) {
  if (!parseDay(from)) return 'from';
  if (!parseDay(to)) return 'to';
  return from <= to ? null : 'to';
}

// ---------------------------------------------------------------- queries
/** The H3 resolution the API uses at a map zoom (interactions/heat.py zoom_to_res). */
export function resolutionFor(zoom) {
  if (zoom < 10) return 6;
  if (zoom < 12) return 7;
  if (zoom < 14) return 8;
  return 9;
}

/** Tolerance (degrees) of the 台区 / feeder outlines at a map zoom: one screen pixel below the district zoom
 * (15), none from it (exact hulls: an outline is compared with what is under it). */
export function simplifyFor(zoom) {
  if (zoom >= 15) return null;
  return Number((360 / (256 * 2 ** Math.floor(zoom))).toPrecision(3));
}

/** The comma list of a filter, or null when it is every value of the vocabulary (the API's default). */
function listParam(selected, vocabulary) {
  const picked = vocabulary.filter((v) => selected.includes(v));
  return picked.length === vocabulary.length ? null : picked.join(',');
}

/**
 * The query string (without '?') of /heat or /hotspots for the filters `f` = {by, from, to, channels, kinds}
 * over the `vocab` = {channels, kinds}; `extra` adds bbox, zoom, format… (null values are left out).
 * Filters that select nothing have no query: returns null (the API would read an empty list as "all").
 */
export function heatQuery(f, vocab, extra) {
  const channels = listParam(f.channels, vocab.channels);
  const kinds = listParam(f.kinds, vocab.kinds);
  if (channels === '' || kinds === '') return null;
  const params = [['by', f.by], ['from', f.from], ['to', f.to], ['channels', channels], ['kinds', kinds]];
  for (const [k, v] of Object.entries(extra || {})) params.push([k, v]);
  return params.filter((p) => p[1] !== null && p[1] !== undefined)
    .map((p) => encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1])).join('&');
}

// ---------------------------------------------------------------- class breaks and colours
/** `x` rounded up to `digits` significant digits (two: 0.01234 → 0.013, 1234 → 1300). */
export function niceCeil(x, digits = 2) {
  if (!(x > 0) || !Number.isFinite(x)) return x;
  const step = 10 ** (Math.floor(Math.log10(x)) - digits + 1);
  // the small tolerance keeps a value that is already round (1.2 → 1.2, not 1.3 by float error)
  return Math.round(Math.ceil(x / step - 1e-9) * step * 1e6) / 1e6;
}

/**
 * Upper bounds of up to `n` classes of the positive rates (quantiles rounded up to two significant
 * digits, strictly increasing; the last one ≥ the largest rate). Zeros form a class of their own and
 * areas without customers (null rate) none. No positive rate: [].
 */
export function classBreaks(rates, n = RAMP.length) {
  const v = rates.filter((r) => typeof r === 'number' && Number.isFinite(r) && r > 0).sort((a, b) => a - b);
  if (!v.length) return [];
  const quantiles = [];
  for (let k = 1; k <= n; k += 1) quantiles.push(v[Math.min(v.length - 1, Math.ceil((k / n) * v.length) - 1)]);
  const distinct = new Set(quantiles).size;
  let out = [];
  for (let digits = 2; digits <= 4; digits += 1) {   // rates bunched together (1,310…1,490) need a third digit
    out = [];
    for (const q of quantiles) {
      const b = niceCeil(q, digits);
      if (!out.length || b > out[out.length - 1]) out.push(b);
    }
    if (out.length >= distinct) break;
  }
  return out;
}

/** Class of a rate: -1 for zero, 0..breaks.length-1 for a positive rate, null without customers. */
export function classOf(rate, breaks) {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return null;
  if (rate <= 0) return -1;
  for (let i = 0; i < breaks.length; i += 1) if (rate <= breaks[i]) return i;
  return breaks.length - 1;      // above the last bound: breaks were made from other rates
}

/** The ramp's colours for `k` classes: spread over the whole ramp (3 classes: light, middle, dark). */
export function rampFor(k) {
  if (k <= 0) return [];
  if (k === 1) return [RAMP[RAMP.length - 1]];
  return Array.from({ length: k }, (_, i) => RAMP[Math.round((i * (RAMP.length - 1)) / (k - 1))]);
}

/** Fill colour of a rate under `breaks`, or null (no customers: not drawn as a rate). */
export function colourOf(rate, breaks) {
  const c = classOf(rate, breaks);
  if (c === null) return null;
  return c < 0 ? ZERO_COLOUR : rampFor(breaks.length)[c];
}

function num(x) {
  return Number(x).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** Legend rows [{colour, label, cls}] of the choropleth: zero first, then each class (lower bound excluded). */
export function legendRows(breaks) {
  const colours = rampFor(breaks.length);
  const rows = [{ cls: -1, colour: ZERO_COLOUR, label: '0' }];
  breaks.forEach((b, i) => {
    rows.push({ cls: i, colour: colours[i], label: (i === 0 ? '> 0' : '> ' + num(breaks[i - 1])) + ' – ' + num(b) });
  });
  return rows;
}

// ---------------------------------------------------------------- heat points
/** Leaflet.heat points [lat, lon, intensity] of the cells with contacts, intensity = count / the largest count. */
export function heatPoints(areas) {
  let max = 0;
  for (const a of areas) if (a.count > max) max = a.count;
  if (!max) return [];
  return areas.filter((a) => a.count > 0).map((a) => [a.lat, a.lon, a.count / max]);
}

/** 'YYYY-MM-DD HH:MM' of an ISO date-time in `timeZone` (the API's times carry their offset). */
export function localTime(iso, timeZone = 'Asia/Shanghai') {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const parts = {};
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    minute: '2-digit', hourCycle: 'h23' }).formatToParts(d).forEach((p) => { parts[p.type] = p.value; });
  return parts.year + '-' + parts.month + '-' + parts.day + ' ' + parts.hour + ':' + parts.minute;
}

/** "1–20 / 57" for a page of a list. */
export function pageLabel(offset, shown, total) {
  if (!total) return '0 / 0';
  return (offset + 1) + '–' + (offset + shown) + ' / ' + total;
}
