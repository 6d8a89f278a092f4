import test from 'node:test';
import assert from 'node:assert/strict';
import {
  todayIn, addDays, addMonths, presetRange, rangeProblem, resolutionFor, simplifyFor, heatQuery, niceCeil, classBreaks, classOf,
  rampFor, colourOf, legendRows, heatPoints, pageLabel, localTime, RAMP, ZERO_COLOUR
} from '../static/js/heat_style.js';

test('today is the local day of China Standard Time, not UTC', () => {
  // 2026-12-05T17:30Z is 01:30 on the 6th in Beijing
  assert.equal(todayIn('Asia/Shanghai', new Date('2026-12-05T17:30:00Z')), '2026-12-06');
  assert.equal(todayIn('UTC', new Date('2026-12-05T17:30:00Z')), '2026-12-05');
});

test('days and months add like a calendar', () => {
  assert.equal(addDays('2026-03-01', -1), '2026-02-28');
  assert.equal(addDays('2024-03-01', -1), '2024-02-29');
  assert.equal(addDays('2026-12-31', 1), '2027-01-01');
  assert.equal(addMonths('2026-05-31', -3), '2026-02-28');
  assert.equal(addMonths('2026-01-15', -3), '2025-10-15');
  assert.throws(() => addDays('2026-02-30', 1), RangeError);
});

test('presets end today inclusive', () => {
  assert.deepEqual(presetRange('7d', '2026-12-06'), { from: '2026-11-30', to: '2026-12-06' });
  assert.deepEqual(presetRange('30d', '2026-12-06'), { from: '2026-11-07', to: '2026-12-06' });
  assert.deepEqual(presetRange('3m', '2026-12-06'), { from: '2026-09-07', to: '2026-12-06' });
  assert.equal(presetRange('custom', '2026-12-06'), null);
});

test('a custom range names the faulty field', () => {
  assert.equal(rangeProblem('2026-01-01', '2026-01-31'), null);
  assert.equal(rangeProblem('2026-01-01', '2026-01-01'), null);
  assert.equal(rangeProblem('2026-02-30', '2026-03-01'), 'from');
  assert.equal(rangeProblem('2026-01-01', ''), 'to');
  assert.equal(rangeProblem('2026-02-01', '2026-01-31'), 'to');
});

test('H3 resolution follows the zoom as the API does', () => {
  assert.deepEqual([3, 9.5, 10, 11.5, 12, 13.9, 14, 19].map(resolutionFor), [6, 6, 7, 7, 8, 8, 9, 9]);
});

test('the query leaves out filters that select everything and refuses ones that select nothing', () => {
  const vocab = { channels: ['95598电话', '微信'], kinds: ['咨询', '投诉', '报修'] };
  const f = { by: 'transformer', from: '2026-09-07', to: '2026-12-06', channels: ['微信', '95598电话'], kinds: ['投诉'] };
  assert.equal(heatQuery(f, vocab, { bbox: '113,23,113.1,23.1', zoom: null, format: 'geojson' }),
    'by=transformer&from=2026-09-07&to=2026-12-06&kinds=%E6%8A%95%E8%AF%89&bbox=113%2C23%2C113.1%2C23.1&format=geojson');
  assert.equal(heatQuery({ ...f, channels: ['微信'], kinds: ['报修', '咨询'] }, vocab),
    'by=transformer&from=2026-09-07&to=2026-12-06&channels=%E5%BE%AE%E4%BF%A1&kinds=%E5%92%A8%E8%AF%A2%2C%E6%8A%A5%E4%BF%AE');
  assert.equal(heatQuery({ ...f, kinds: [] }, vocab), null);
  assert.equal(heatQuery({ ...f, channels: ['微博'] }, vocab), null);     // not in the vocabulary: nothing selected
});

test('nice numbers round up to two significant digits', () => {
  assert.equal(niceCeil(1.2), 1.2);
  assert.equal(niceCeil(1.234), 1.3);
  assert.equal(niceCeil(0.01234), 0.013);
  assert.equal(niceCeil(1234), 1300);
  assert.equal(niceCeil(37.5), 38);
  assert.equal(niceCeil(0), 0);
  assert.equal(niceCeil(1234, 3), 1240);
});

test('class breaks are rounded quantiles of the positive rates; zeros and nulls do not shift them', () => {
  const rates = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.deepEqual(classBreaks(rates), [2, 4, 6, 8, 10]);
  assert.deepEqual(classBreaks([0, 0, null, ...rates, 0]), [2, 4, 6, 8, 10]);
  assert.deepEqual(classBreaks([5, 5, 5, 5]), [5]);                       // one distinct value: one class
  assert.deepEqual(classBreaks([0, null]), []);
  // a year of every kind at 1M: rates bunched around 1,400 per 1,000 keep five classes (a third digit)
  assert.deepEqual(classBreaks([1301, 1322, 1350, 1371, 1390, 1402, 1420, 1444, 1470, 1499, 3316]), [1350, 1390, 1420, 1470, 3320]);
  const b = classBreaks([0.5, 1.23, 3.3, 3.31, 17.9, 120]);
  for (let i = 1; i < b.length; i += 1) assert.ok(b[i] > b[i - 1], 'strictly increasing');
  assert.ok(b[b.length - 1] >= 120);
});

test('every rate falls in the class whose bounds the legend shows', () => {
  const rates = [0, 0.4, 1.2, 2.5, 2.5, 7.77, 13, 40.1, 99, null];
  const breaks = classBreaks(rates);
  const rows = legendRows(breaks);
  assert.equal(rows[0].label, '0');
  assert.equal(rows[0].colour, ZERO_COLOUR);
  assert.equal(rows.length, breaks.length + 1);
  for (const r of rates) {
    const c = classOf(r, breaks);
    if (r === null) { assert.equal(c, null); assert.equal(colourOf(r, breaks), null); continue; }
    if (r === 0) { assert.equal(c, -1); continue; }
    const lo = c === 0 ? 0 : breaks[c - 1];
    assert.ok(r > lo && r <= breaks[c], `${r} in (${lo}, ${breaks[c]}]`);
    assert.equal(colourOf(r, breaks), rows[c + 1].colour);
  }
});

test('fewer classes spread over the whole ramp (light to dark)', () => {
  assert.deepEqual(rampFor(5), RAMP);
  assert.deepEqual(rampFor(1), [RAMP[4]]);
  assert.deepEqual(rampFor(3), [RAMP[0], RAMP[2], RAMP[4]]);
  assert.deepEqual(rampFor(0), []);
});

test('heat points: cells with contacts, intensity relative to the busiest cell', () => {
  const pts = heatPoints([{ lat: 23, lon: 113, count: 4 }, { lat: 23.1, lon: 113.1, count: 0 }, { lat: 23.2, lon: 113.2, count: 8 }]);
  assert.deepEqual(pts, [[23, 113, 0.5], [23.2, 113.2, 1]]);
  assert.deepEqual(heatPoints([{ lat: 23, lon: 113, count: 0 }]), []);
});

test('page labels', () => {
  assert.equal(pageLabel(0, 20, 57), '1–20 / 57');
  assert.equal(pageLabel(40, 17, 57), '41–57 / 57');
  assert.equal(pageLabel(0, 0, 0), '0 / 0');
});

test('times are shown in the utility\'s zone whatever offset the API wrote', () => {
  assert.equal(localTime('2026-10-31T13:46:51+00:00'), '2026-10-31 21:46');
  assert.equal(localTime('2026-10-31T21:46:51+08:00'), '2026-10-31 21:46');
  assert.equal(localTime('2026-10-31T16:05:00Z'), '2026-11-01 00:05');
  assert.equal(localTime('nonsense'), 'nonsense');
});

test('outlines are simplified to a pixel at city zooms, exact from the district zoom', () => {
  assert.equal(simplifyFor(12), 0.000343);
  assert.equal(simplifyFor(12.5), 0.000343);
  assert.equal(simplifyFor(14), 0.0000858);
  assert.equal(simplifyFor(15), null);
  assert.equal(simplifyFor(18), null);
});
