/* GridAtlas dispatcher map.
 *
 * Plain ES2017, no build step. Leaflet and leaflet.markercluster come from the app
 * itself (/vendor/...); there is no basemap: the grid is drawn on a plain background.
 *
 * Customers are not loaded whole: on every moveend the map asks /api/v1/viewport for the
 * visible bbox and draws single customers up to the server's threshold, server-side grid
 * clusters (with counts) above it, so the map stays fast at 1M customers. A click on the
 * map asks /api/v1/nearest and opens the unified customer view of the nearest customer;
 * the search box asks /api/v1/search.
 *
 * Test hooks: window.gridatlas = {map, layers, ready, counts, features, highlight,
 * openCustomer, openFeature, showUpstream, showDownstream, clearHighlight,
 * highlightedSegmentIds, highlightedTransformerIds, errors, openView, view, viewport,
 * loadViewport, search, clickAt}.
 */
(function () {
  'use strict';

  var API = '/api/v1';
  var PAGE_SIZE = 1000;               // server maximum is 5000; smaller pages show progress
  var LAYER_ORDER = ['substations', 'segments', 'switches', 'transformers', 'meter_boxes'];   // customers: viewport
  var CLICK_RADIUS_PX = 24;           // a map click looks for customers within this many screen pixels

  // Feeder colours: a fixed palette without the reserved hues (red = tie switches /
  // outage, magenta = sensitive customers, yellow = supply path, grey = LV).
  var PALETTE = ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b',
                 '#bcbd22', '#0b6e4f', '#b25d00', '#3f4fb5', '#6a994e', '#7f3c8d'];
  var LV_COLOR = '#9aa0a6';

  var SWITCH_KINDS = {
    breaker: '断路器 Breaker',
    load_switch: '负荷开关 Load switch',
    disconnector: '刀闸 Disconnector',
    fuse: '熔断器 Fuse',
    tie: '联络开关 Tie switch'
  };
  var SEGMENT_KINDS = { overhead: '架空线 Overhead', cable: '电缆 Cable', lv_cable: '低压电缆 LV cable' };
  var SENSITIVITY_GLYPH = { '医院': '医', '生命支持': '命', '政府': '政', '重要客户': '重', '大客户': '大' };
  var SENSITIVITY_EN = { '医院': 'hospital', '生命支持': 'life support', '政府': 'government', '重要客户': 'key account', '大客户': 'large account' };
  var PATH_KINDS = {
    customer: '客户 customer', meter_box: '表箱 meter box', segment: '线路段 segment',
    transformer: '配变 transformer', 'switch': '开关 switch', node: '母线 bus', substation: '变电站 substation'
  };
  var LOCATION_QUALITY = { surveyed: '实测 surveyed', meter_box: '按表箱 at meter box', transformer: '按台区 at transformer', geocoded: '地址匹配 geocoded' };

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] === null || attrs[k] === undefined) return;
        if (k === 'class') node.className = attrs[k];
        else if (k === 'text') node.textContent = attrs[k];
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), attrs[k]);
        else node.setAttribute(k, attrs[k]);
      });
    }
    [].concat(children === undefined ? [] : children).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return node;
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function fmt(n) { return Number(n).toLocaleString('en-US'); }

  function feederColor(id) {
    if (!id) return '#555';
    var m = /(\d+)$/.exec(String(id));
    var k;
    if (m) {
      k = parseInt(m[1], 10) - 1;
    } else {                          // FNV-1a: stable for ids without a number
      k = 2166136261;
      for (var i = 0; i < id.length; i++) { k ^= id.charCodeAt(i); k = Math.imul(k, 16777619) >>> 0; }
    }
    return PALETTE[((k % PALETTE.length) + PALETTE.length) % PALETTE.length];
  }

  function latLngOf(feature) {
    var c = feature.geometry.coordinates;
    return L.latLng(c[1], c[0]);
  }

  function ApiError(message, url, status) {
    this.name = 'ApiError';
    this.message = message;
    this.url = url;
    this.status = status;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  /** Same-origin URL for an API link (the map and the API are one application). */
  function sameOrigin(href) {
    var u = new URL(href, location.href);
    return u.origin === location.origin ? u.href : location.origin + u.pathname + u.search;
  }

  /**
   * The API key: taken once from the URL fragment (/map/#key=ga_…, which `gridatlas demo`
   * prints), kept in sessionStorage for this tab, and removed from the address bar.
   */
  var KEY_STORE = 'gridatlas.apiKey';
  function apiKey() {
    var m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY_STORE);
  }

  async function api(pathOrUrl, options) {
    var url = /^https?:/.test(pathOrUrl) ? sameOrigin(pathOrUrl) : API + pathOrUrl;
    var headers = { Accept: 'application/geo+json, application/json, application/problem+json' };
    var key = apiKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    var init = Object.assign({}, options || {});
    init.headers = Object.assign(headers, init.headers || {});
    var resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new ApiError('网络错误 network error: ' + e.message, url, 0);
    }
    if (!resp.ok) {
      var msg = 'HTTP ' + resp.status + ' ' + resp.statusText;
      var type = resp.headers.get('content-type') || '';
      try {
        if (type.indexOf('json') >= 0) {
          var pb = await resp.json();
          msg = (pb.status || resp.status) + ' ' + (pb.title || resp.statusText) + (pb.detail ? ': ' + pb.detail : '');
        } else {
          var text = (await resp.text()).slice(0, 200);
          if (text) msg += ': ' + text;
        }
      } catch (e) { /* keep the status line */ }
      if (resp.status === 401) {
        msg += ' — 需要 API 密钥 (API key): open /map/#key=<key>; create one with `gridatlas keys create --role dispatcher`';
      }
      throw new ApiError(msg, url, resp.status);
    }
    return resp.json();
  }

  // ------------------------------------------------------------------ the map
  var map = L.map('map', {
    zoomControl: false, minZoom: 3, maxZoom: 20, zoomSnap: 0.5, wheelPxPerZoomLevel: 90,
    center: [30, 110], zoom: 4                    // until the data extent is known
  });
  map.attributionControl.setPrefix('Leaflet · GridAtlas');
  map.createPane('gaHighlight').style.zIndex = 450;    // above lines, below point symbols
  map.createPane('gaRings').style.zIndex = 640;        // rings above the symbols
  map.getPane('gaRings').style.pointerEvents = 'none';

  var state = {
    features: { substations: new Map(), segments: new Map(), switches: new Map(), transformers: new Map(), meter_boxes: new Map(), customers: new Map() },
    markers: { substations: new Map(), switches: new Map(), transformers: new Map(), meter_boxes: new Map(), customers: new Map() },
    lines: new Map(),
    counts: {},
    progress: {},
    sensitive: new Set(),
    feeders: new Map()            // feeder id -> {segments, transformers}
  };

  // ------------------------------------------------------------------ symbols
  var iconCache = new Map();
  function symIcon(key, cls, size, html, style) {
    var icon = iconCache.get(key);
    if (!icon) {
      icon = L.divIcon({
        className: 'ga-icon',
        html: '<div class="ga-sym ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '>' + (html || '') + '</div>',
        iconSize: [size, size], iconAnchor: [size / 2, size / 2], popupAnchor: [0, -size / 2], tooltipAnchor: [size / 2, 0]
      });
      iconCache.set(key, icon);
    }
    return icon;
  }
  function substationIcon() { return symIcon('sub', 'ga-sub', 28); }
  function transformerIcon(feeder) {
    return symIcon('tr:' + feeder, 'ga-tr', 14, '', 'background:' + feederColor(feeder));
  }
  function switchIcon(p) {
    var cls = 'ga-sw ga-' + esc(p.kind || 'switch') + (p.normal_open ? ' ga-nopen' : '');
    return symIcon('sw:' + p.kind + ':' + !!p.normal_open, cls, p.kind === 'tie' ? 18 : 14);
  }
  function customerIcon() { return symIcon('cu', 'ga-cu', 10); }
  function sensitiveIcon(kind) {
    var glyph = SENSITIVITY_GLYPH[kind] || String(kind).charAt(0);
    return symIcon('sens:' + kind, 'ga-sens', 22, '<span>' + esc(glyph) + '</span>');
  }
  function meterBoxIcon() { return symIcon('mb', 'ga-mb', 7); }
  function ringIcon(lost) { return symIcon(lost ? 'ring:lost' : 'ring', 'ga-ring' + (lost ? ' ga-lost' : ''), 28); }

  function clusterIcon(n, sensitive) {
    var size = n < 20 ? 22 : n < 100 ? 27 : n < 500 ? 33 : n < 5000 ? 40 : 48;
    var label = n < 10000 ? String(n) : Math.round(n / 1000) + 'k';
    var badge = sensitive ? '<span class="ga-cluster-sens" title="敏感客户 sensitive">' + sensitive + '</span>' : '';
    return L.divIcon({ html: '<div>' + label + '</div>' + badge, className: 'ga-cluster', iconSize: [size, size] });
  }

  function segmentStyle(p) {
    if (p.in_service === false) return { color: '#b5b5b5', weight: 2, opacity: 0.9, dashArray: '2 5' };
    if (p.kind === 'lv_cable') return { color: LV_COLOR, weight: 1.5, opacity: 0.9 };
    var st = { color: feederColor(p.feeder_id), weight: 3.5, opacity: 0.95, lineCap: 'butt' };
    if (p.kind === 'cable') st.dashArray = '8 4';
    return st;
  }

  // ------------------------------------------------------------------ layers
  var layers = {
    mv_lines: L.featureGroup(),
    lv_lines: L.featureGroup(),
    substations: L.featureGroup(),
    switches: L.featureGroup(),
    transformers: L.featureGroup(),
    meter_boxes: L.featureGroup(),
    customers: L.featureGroup(),      // single customers and server-side clusters of the viewport
    sensitive_customers: L.featureGroup(),
    highlight: L.featureGroup()
  };
  ['lv_lines', 'mv_lines', 'customers', 'transformers', 'switches', 'substations', 'sensitive_customers', 'highlight']
    .forEach(function (k) { layers[k].addTo(map); });   // meter boxes start hidden

  var OVERLAYS = [
    ['substations', '<span class="ga-lc">■</span>变电站 Substations'],
    ['mv_lines', '<span class="ga-lc" style="color:#1f77b4">━</span>10kV 馈线 Feeders'],
    ['lv_lines', '<span class="ga-lc" style="color:' + LV_COLOR + '">─</span>低压线路 LV lines'],
    ['switches', '<span class="ga-lc">●</span>开关 Switches'],
    ['transformers', '<span class="ga-lc">▪</span>配变 台区 Transformers'],
    ['meter_boxes', '<span class="ga-lc" style="color:#7d8b99">▪</span>表箱 Meter boxes'],
    ['customers', '<span class="ga-lc" style="color:#34495e">◉</span>用电客户 Customers'],
    ['sensitive_customers', '<span class="ga-lc" style="color:#c2185b">◆</span>敏感客户 Sensitive customers'],
    ['highlight', '<span class="ga-lc" style="color:#e0b800">━</span>高亮 Highlight']
  ];
  var layerControl = L.control.layers(null, null, { collapsed: false, position: 'topright' }).addTo(map);
  OVERLAYS.forEach(function (o) { layerControl.addOverlay(layers[o[0]], o[1]); });

  function relabelOverlays() {
    var n = {
      substations: state.counts.substations, switches: state.counts.switches,
      transformers: state.counts.transformers, meter_boxes: state.counts.meter_boxes,
      mv_lines: layers.mv_lines.getLayers().length, lv_lines: layers.lv_lines.getLayers().length,
      customers: state.counts.customers, sensitive_customers: layers.sensitive_customers.getLayers().length
    };
    OVERLAYS.forEach(function (o) {
      layerControl.removeLayer(layers[o[0]]);
      var label = o[1] + (n[o[0]] !== undefined ? ' <small>(' + fmt(n[o[0]]) + ')</small>' : '');
      layerControl.addOverlay(layers[o[0]], label);
    });
    fitLegend();
  }

  // ------------------------------------------------------------------ controls
  var Box = L.Control.extend({
    initialize: function (cls, build, options) { this._cls = cls; this._build = build; L.setOptions(this, options); },
    onAdd: function () {
      var div = el('div', { class: 'leaflet-control ga-box ' + this._cls });
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      this._build(div);
      return div;
    }
  });

  // header: title and account search
  var searchInput, searchResults;
  new Box('ga-header', function (div) {
    searchInput = el('input', { type: 'search', placeholder: '电话/户号/户名/地址 Phone, account, name, address',
                                'aria-label': '搜索客户 Search customers', autocomplete: 'off' });
    var form = el('form', { class: 'ga-search', role: 'search' }, [searchInput, el('button', { class: 'ga-btn', type: 'submit' }, '定位 Locate')]);
    searchResults = el('div', { class: 'ga-results', role: 'listbox', 'aria-label': '搜索结果 Search results' });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var q = searchInput.value.trim();
      if (q) search(q).catch(report);
    });
    div.appendChild(el('div', { class: 'ga-title' }, ['GridAtlas 电网一张图', el('small', { text: 'Dispatcher grid map' })]));
    div.appendChild(form);
    div.appendChild(searchResults);
  }, { position: 'topleft' }).addTo(map);
  L.control.zoom({ position: 'topleft', zoomInTitle: '放大 Zoom in', zoomOutTitle: '缩小 Zoom out' }).addTo(map);
  L.control.scale({ imperial: false, position: 'bottomleft', maxWidth: 160 }).addTo(map);

  // status box: progress and errors
  var statusLine, statusBar, statusErrors, statusDiv;
  new Box('ga-status', function (div) {
    statusDiv = div;
    div.setAttribute('role', 'status');
    div.setAttribute('aria-live', 'polite');
    statusLine = el('div', { class: 'ga-status-line', text: '加载中 Loading…' });
    statusBar = el('div');
    statusErrors = el('div', { class: 'ga-errors', role: 'alert', title: '点击清除 Click to dismiss' });
    statusErrors.addEventListener('click', function () { statusErrors.innerHTML = ''; });
    div.appendChild(statusLine);
    div.appendChild(el('div', { class: 'ga-progress' }, statusBar));
    div.appendChild(statusErrors);
  }, { position: 'bottomleft' }).addTo(map);

  var errors = [];
  function report(err) {
    var msg = err && err.message ? err.message : String(err);
    var where = err && err.url ? ' (' + err.url.replace(location.origin, '') + ')' : '';
    errors.push({ message: msg, url: err && err.url, status: err && err.status });
    statusErrors.appendChild(el('div', {}, [el('b', { text: '错误 Error: ' }), msg + where]));
    statusDiv.classList.add('ga-has-error');
    if (window.console) console.error('GridAtlas:', msg + where);
  }

  function updateProgress() {
    var n = 0, N = 0, busy = [];
    LAYER_ORDER.forEach(function (name) {
      var p = state.progress[name];
      if (!p) return;
      n += p.n; N += p.N;
      if (!p.done) busy.push(name + ' ' + fmt(p.n) + '/' + (p.N ? fmt(p.N) : '?'));
    });
    statusLine.textContent = '加载中 Loading ' + fmt(n) + ' / ' + fmt(N) + (busy.length ? ' · ' + busy.join(', ') : '');
    statusBar.style.width = (N ? Math.round(100 * n / N) : 0) + '%';
  }

  // side panel: the result of a trace
  var panelDiv;
  new Box('ga-panel', function (div) { panelDiv = div; div.hidden = true; }, { position: 'topleft' }).addTo(map);

  // legend (filled once the feeders are known)
  var legendDiv;
  new Box('ga-legend', function (div) { legendDiv = div; }, { position: 'topright' }).addTo(map);   // under the layer control

  function keySym(cls, style, html) {
    return '<span class="ga-key"><span class="ga-sym ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '>' + (html || '') + '</span></span>';
  }
  function keyLine(cls, style) {
    return '<span class="ga-key"><span class="ga-line ' + cls + '"' + (style ? ' style="' + style + '"' : '') + '></span></span>';
  }
  function row(key, label) { return '<div class="ga-row">' + key + '<span>' + label + '</span></div>'; }

  function renderLegend() {
    var feeders = Array.from(state.feeders.keys()).filter(function (k) { return k !== '—'; }).sort();
    var h = ['<button type="button" class="ga-legend-toggle" title="图例 Legend" aria-expanded="true">图例 Legend</button>',
             '<div class="ga-legend-body"><h4>10kV 馈线 Feeders <small>(台区 = transformers)</small></h4><div class="ga-grid">'];
    feeders.forEach(function (f) {
      var info = state.feeders.get(f);
      h.push(row(keyLine('', 'border-top-color:' + feederColor(f)), esc(f) + ' <small>· ' + info.transformers + ' 台区</small>'));
    });
    if (!feeders.length) h.push('<div class="ga-row"><small>加载中 loading…</small></div>');
    h.push('</div><h4>线路 Lines</h4><div class="ga-grid">',
      row(keyLine('', 'border-top-color:#555'), '架空线 Overhead'),
      row(keyLine('ga-cable', 'border-top-color:#555'), '电缆 Cable'),
      row(keyLine('ga-lv'), '低压线 LV cable'),
      row(keyLine('ga-out'), '停运 Out of service'));
    h.push('</div><h4>开关 Switches <small>(空心 = 常开 hollow = normally open)</small></h4><div class="ga-grid">',
      row(keySym('ga-sw ga-breaker'), SWITCH_KINDS.breaker),
      row(keySym('ga-sw ga-load_switch'), SWITCH_KINDS.load_switch),
      row(keySym('ga-sw ga-disconnector'), SWITCH_KINDS.disconnector),
      row(keySym('ga-sw ga-fuse'), SWITCH_KINDS.fuse),
      row(keySym('ga-sw ga-tie ga-nopen'), '联络 常开 Tie, N.O.'),
      row(keySym('ga-sw ga-tie'), '联络 常闭 Tie, closed'));
    h.push('</div><h4>设备 Equipment</h4><div class="ga-grid">',
      row(keySym('ga-sub', 'transform:scale(.75)'), '变电站 Substation'),
      row(keySym('ga-tr', 'background:#bbb'), '配变 台区 Transformer'));
    h.push('</div><h4>客户 Customers</h4><div class="ga-grid">',
      row(keySym('ga-cu'), '用电客户 Customer'),
      row('<span class="ga-key"><span class="ga-cluster" style="display:inline-block;width:20px;height:20px"><div style="font-size:9px">n</div></span></span>', '客户群 Cluster'));
    Object.keys(SENSITIVITY_GLYPH).forEach(function (k) {
      h.push(row(keySym('ga-sens', '', '<span>' + SENSITIVITY_GLYPH[k] + '</span>'),
        k + ' <small>' + SENSITIVITY_EN[k] + '</small>'));
    });
    h.push('</div><h4>高亮 Highlight</h4><div class="ga-grid">',
      row(keyLine('ga-path'), '供电路径 Supply path'),
      row(keyLine('ga-lost'), '下游 Downstream'));
    h.push('</div></div>');
    legendDiv.innerHTML = h.join('');
    var toggle = legendDiv.querySelector('.ga-legend-toggle');
    toggle.setAttribute('aria-expanded', String(!legendDiv.classList.contains('ga-collapsed')));
    toggle.addEventListener('click', function () {
      legendDiv.classList.toggle('ga-collapsed');
      toggle.setAttribute('aria-expanded', String(!legendDiv.classList.contains('ga-collapsed')));
    });
    fitLegend();
  }

  /** The legend sits under the layer control: give it the height that is left, scrolling beyond. */
  function fitLegend() {
    var top = legendDiv.getBoundingClientRect().top - map.getContainer().getBoundingClientRect().top;
    legendDiv.style.maxHeight = Math.max(120, map.getSize().y - top - 28) + 'px';
  }
  map.on('resize', fitLegend);
  renderLegend();
  if (window.innerWidth < 700 || window.innerHeight < 560) legendDiv.classList.add('ga-collapsed');

  // ------------------------------------------------------------------ features -> map
  // keep popups clear of the layer control and legend on the right
  var POPUP_OPTIONS = window.innerWidth > 900
    ? { maxWidth: 360, minWidth: 220, autoPanPaddingTopLeft: [60, 100], autoPanPaddingBottomRight: [380, 40] }
    : { maxWidth: 300, minWidth: 200, autoPanPadding: [20, 20] };

  function bindFeature(layer, kind, feature) {
    layer.feature = feature;
    layer.bindPopup(function () { return popupFor(kind, feature); }, POPUP_OPTIONS);
  }

  function feederInfo(id) {
    var key = id || '—';
    var info = state.feeders.get(key);
    if (!info) { info = { segments: 0, transformers: 0 }; state.feeders.set(key, info); }
    return info;
  }

  var ADDERS = {
    substations: function (f) {
      var m = L.marker(latLngOf(f), { icon: substationIcon(), zIndexOffset: 1000, title: f.properties.name || f.id });
      m.bindTooltip(esc(f.properties.name || f.id), { permanent: true, direction: 'right', offset: [14, 0], className: 'ga-sub-label' });
      bindFeature(m, 'substation', f);
      state.markers.substations.set(String(f.id), m);
      return [layers.substations, m];
    },
    segments: function (f) {
      var p = f.properties;
      var line = L.geoJSON(f.geometry, { style: segmentStyle(p) }).getLayers()[0];
      bindFeature(line, 'segment', f);
      state.lines.set(String(f.id), line);
      if (p.kind !== 'lv_cable') feederInfo(p.feeder_id).segments += 1;
      return [p.kind === 'lv_cable' ? layers.lv_lines : layers.mv_lines, line];
    },
    switches: function (f) {
      var p = f.properties;
      var m = L.marker(latLngOf(f), { icon: switchIcon(p), zIndexOffset: p.kind === 'tie' ? 500 : 300 });
      m.bindTooltip(esc((p.name || f.id) + (p.normal_open ? ' · 常开 N.O.' : '')), { className: 'ga-tip', direction: 'top' });
      bindFeature(m, 'switch', f);
      state.markers.switches.set(String(f.id), m);
      return [layers.switches, m];
    },
    transformers: function (f) {
      var p = f.properties;
      var m = L.marker(latLngOf(f), { icon: transformerIcon(p.feeder_id), zIndexOffset: 400 });   // above its fuse, 2 m away
      m.bindTooltip(esc((p.name || f.id) + (p.rated_kva ? ' · ' + p.rated_kva + ' kVA' : '')), { className: 'ga-tip', direction: 'top' });
      bindFeature(m, 'transformer', f);
      state.markers.transformers.set(String(f.id), m);
      feederInfo(p.feeder_id).transformers += 1;
      return [layers.transformers, m];
    },
    meter_boxes: function (f) {
      var m = L.marker(latLngOf(f), { icon: meterBoxIcon(), keyboard: false });
      bindFeature(m, 'meter_box', f);
      state.markers.meter_boxes.set(String(f.id), m);
      return [layers.meter_boxes, m];
    },
    customers: function (f) {
      var p = f.properties;
      var acct = String(p.account_no || f.id);
      var m;
      if (p.sensitivity) {
        state.sensitive.add(acct);
        m = L.marker(latLngOf(f), { icon: sensitiveIcon(p.sensitivity), zIndexOffset: 800, title: acct + ' · ' + p.sensitivity });
      } else {
        m = L.marker(latLngOf(f), { icon: customerIcon(), keyboard: false });
      }
      bindFeature(m, 'customer', f);
      state.markers.customers.set(acct, m);
      return [p.sensitivity ? layers.sensitive_customers : layers.customers, m];
    }
  };

  function addPage(name, features) {
    var adder = ADDERS[name];
    var batches = new Map();
    var unplaced = 0;
    features.forEach(function (f) {
      if (!f.geometry || !f.geometry.coordinates) { unplaced += 1; return; }
      var id = name === 'customers' ? String(f.properties.account_no || f.id) : String(f.id);
      state.features[name].set(id, f);
      var r = adder(f);
      if (!batches.has(r[0])) batches.set(r[0], []);
      batches.get(r[0]).push(r[1]);
    });
    batches.forEach(function (items, group) {
      items.forEach(function (l) { group.addLayer(l); });
    });
    if (unplaced) report(new Error(name + ': ' + unplaced + ' 要素无坐标 features without geometry were not drawn'));
  }

  async function loadLayer(name) {
    var progress = state.progress[name] = { n: 0, N: 0, done: false };
    state.counts[name] = 0;
    updateProgress();
    var pending = api('/layers/' + encodeURIComponent(name) + '?limit=' + PAGE_SIZE);
    while (pending) {
      var page = await pending;
      var features = page.features || [];
      if (typeof page.numberMatched === 'number') progress.N = page.numberMatched;
      var next = (page.links || []).filter(function (l) { return l.rel === 'next'; })[0];
      // fetch the next page while this one is drawn
      pending = next && features.length ? api(next.href) : null;
      if (pending) pending.catch(function () { /* awaited (and reported) on the next turn */ });
      addPage(name, features);
      progress.n += features.length;
      state.counts[name] = state.features[name].size;
      updateProgress();
    }
    progress.done = true;
    progress.N = Math.max(progress.N, progress.n);
    updateProgress();
    return state.counts[name];
  }

  function rightPanelsWidth() {
    return Math.max(legendDiv.offsetWidth, layerControl.getContainer().offsetWidth);
  }

  function fitExtent() {
    var b = L.latLngBounds([]);
    state.features.substations.forEach(function (f) { b.extend(latLngOf(f)); });
    layers.mv_lines.eachLayer(function (l) { b.extend(l.getBounds()); });
    layers.lv_lines.eachLayer(function (l) { b.extend(l.getBounds()); });
    if (!b.isValid()) return false;
    var size = map.getSize();
    var wide = size.x > 900;
    map.fitBounds(b, {
      paddingTopLeft: [wide ? 40 : 10, wide ? 30 : 10],
      paddingBottomRight: [wide ? rightPanelsWidth() + 20 : 10, wide ? 30 : 10],
      maxZoom: 19
    });
    return true;
  }

  // ------------------------------------------------------------------ popups
  function table(rows) {
    return el('table', {}, rows.filter(Boolean).map(function (r) {
      return el('tr', {}, [el('th', { text: r[0] }), el('td', {}, r[1] === null || r[1] === undefined || r[1] === '' ? '—' : r[1])]);
    }));
  }

  function featureName(kind, id) {
    var coll = { transformer: 'transformers', 'switch': 'switches', substation: 'substations' }[kind];
    var f = coll && state.features[coll].get(String(id));
    return f && f.properties.name ? f.properties.name : null;
  }

  function actionButtons(kind, id, result, opts) {
    var buttons = [];
    var up = el('button', { class: 'ga-btn ga-btn-path', type: 'button', 'data-kind': kind, 'data-id': id }, '供电路径 Supply path');
    up.addEventListener('click', function () {
      up.disabled = true;
      showUpstream(kind, id).then(function (h) { renderResult(result, h); })
        .catch(function (e) { result.textContent = '失败 failed: ' + e.message; report(e); })
        .then(function () { up.disabled = false; });
    });
    buttons.push(up);
    if (opts.downstream) {
      var down = el('button', { class: 'ga-btn ga-secondary ga-btn-down', type: 'button', 'data-kind': kind, 'data-id': id }, '下游 Downstream');
      down.addEventListener('click', function () {
        down.disabled = true;
        showDownstream(kind, id).then(function (h) { renderResult(result, h); })
          .catch(function (e) { result.textContent = '失败 failed: ' + e.message; report(e); })
          .then(function () { down.disabled = false; });
      });
      buttons.push(down);
    }
    return el('div', { class: 'ga-actions' }, buttons);
  }

  function renderResult(div, h) {
    div.innerHTML = '';
    if (h.kind === 'supply-path') {
      div.appendChild(el('div', {}, h.supplied
        ? '供电路径 ' + h.segments.length + ' 段 segments → ' + (h.substation || '') + ' (' + h.path.length + ' 元素 elements):'
        : '无供电路径 Not supplied in the normal state:'));
      h.path.forEach(function (r) { div.appendChild(el('span', { class: 'ga-chip', title: PATH_KINDS[r.kind] || r.kind, text: r.id })); });
    } else {
      div.appendChild(el('div', {}, '下游 Downstream: ' + h.transformers.length + ' 台区 transformers, ' + fmt(h.customers.length) +
        ' 客户 customers, ' + h.sensitive.length + ' 敏感 sensitive'));
      h.transformers.forEach(function (t) { div.appendChild(el('span', { class: 'ga-chip', text: t })); });
    }
  }

  function popupFor(kind, f) {
    var p = f.properties;
    var result = el('div', { class: 'ga-result' });
    var box = el('div', { class: 'ga-pop', 'data-kind': kind, 'data-id': String(kind === 'customer' ? p.account_no : f.id) });
    if (kind === 'customer') {
      var tr = state.features.transformers.get(String(p.transformer_id));
      var trCell = el('span', { text: p.transformer_id ? p.transformer_id + (tr && tr.properties.name ? ' ' + tr.properties.name : '') : '—' });
      var feederCell = el('span', { class: 'ga-feeder', text: '…' });
      api('/customers/' + encodeURIComponent(p.account_no) + '/supply-area').then(function (a) {
        feederCell.textContent = a.feeder_id || '无 none (not supplied)';
        if (a.transformer_id && a.transformer_id !== p.transformer_id) {
          trCell.textContent = a.transformer_id + ' (档案 record: ' + p.transformer_id + ')';
        }
      }).catch(function (e) { feederCell.textContent = '?'; report(e); });
      box.appendChild(el('h3', {}, ['用电客户 Customer ', p.account_no]));
      box.appendChild(table([
        ['户号 Account', p.account_no],
        ['类别 Category', p.category],
        ['敏感 Sensitivity', p.sensitivity ? el('span', { class: 'ga-tag', text: p.sensitivity + ' ' + (SENSITIVITY_EN[p.sensitivity] || '') }) : '否 no'],
        ['台区 Transformer', trCell],
        ['馈线 Feeder', feederCell],
        ['表箱 Meter box', p.meter_box_id],
        ['定位 Location', LOCATION_QUALITY[p.location_quality] || p.location_quality]
      ]));
      var actions = actionButtons('customer', p.account_no, result, { downstream: false });
      var viewBtn = el('button', { class: 'ga-btn ga-secondary ga-btn-view', type: 'button' }, '客户视图 Customer view');
      viewBtn.addEventListener('click', function () { openView(p.account_no).catch(report); });
      actions.appendChild(viewBtn);
      box.appendChild(actions);
    } else if (kind === 'switch') {
      box.appendChild(el('h3', {}, [SWITCH_KINDS[p.kind] || p.kind, ' ', f.id]));
      box.appendChild(table([
        ['名称 Name', p.name],
        ['类型 Kind', SWITCH_KINDS[p.kind] || p.kind],
        ['常态 Normal state', p.normal_open
          ? el('span', { class: 'ga-tag ga-open', text: '常开 normally open' })
          : el('span', { class: 'ga-tag ga-closed', text: '常闭 normally closed' })],
        ['馈线 Feeder', p.feeder_id],
        ['两端 Nodes', (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      if (p.normal_open) box.appendChild(el('div', { class: 'ga-result', style: 'display:block', text: '常开开关在正常方式下不带负荷 A normally-open switch supplies nothing in the normal state.' }));
      box.appendChild(actionButtons('switch', String(f.id), result, { downstream: true }));
    } else if (kind === 'transformer') {
      box.appendChild(el('h3', {}, ['配变 台区 Transformer ', f.id]));
      box.appendChild(table([
        ['名称 Name', p.name],
        ['容量 Rating', p.rated_kva ? p.rated_kva + ' kVA' : null],
        ['馈线 Feeder', p.feeder_id],
        ['运行 In service', p.in_service === false ? '停运 out of service' : '是 yes']
      ]));
      box.appendChild(actionButtons('transformer', String(f.id), result, { downstream: true }));
    } else if (kind === 'segment') {
      box.appendChild(el('h3', {}, ['线路段 Segment ', f.id]));
      box.appendChild(table([
        ['类型 Kind', SEGMENT_KINDS[p.kind] || p.kind],
        ['长度 Length', p.length_m !== null && p.length_m !== undefined ? fmt(Math.round(p.length_m)) + ' m' : null],
        ['馈线 Feeder', p.feeder_id],
        ['运行 In service', p.in_service === false ? '停运 out of service' : '是 yes'],
        ['两端 Nodes', (p.node_a || '?') + ' – ' + (p.node_b || '?')]
      ]));
      box.appendChild(actionButtons('segment', String(f.id), result, { downstream: true }));
    } else if (kind === 'substation') {
      box.appendChild(el('h3', {}, ['变电站 Substation ', p.name || f.id]));
      box.appendChild(table([['编号 Id', f.id], ['电压 Voltage', p.voltage_kv ? p.voltage_kv + ' kV' : null], ['母线 Bus', p.bus_node]]));
    } else if (kind === 'meter_box') {
      box.appendChild(el('h3', {}, ['表箱 Meter box ', f.id]));
      box.appendChild(table([['台区 Transformer', p.transformer_id], ['节点 Node', p.node]]));
      box.appendChild(actionButtons('meter_box', String(f.id), result, { downstream: false }));
    }
    box.appendChild(result);
    return box;
  }

  // ------------------------------------------------------------------ highlights
  function clearHighlight() {
    layers.highlight.clearLayers();
    ga.highlight = null;
    panelDiv.hidden = true;
    panelDiv.innerHTML = '';
  }

  function locationOf(kind, id) {
    var coll = { customer: 'customers', meter_box: 'meter_boxes', transformer: 'transformers', 'switch': 'switches', substation: 'substations' }[kind];
    if (coll) {
      var f = state.features[coll].get(String(id));
      return f ? latLngOf(f) : null;
    }
    if (kind === 'segment') {
      var line = state.lines.get(String(id));
      return line ? line.getBounds().getCenter() : null;
    }
    return null;
  }

  function ring(kind, id, lost) {
    var ll = locationOf(kind, id);
    if (!ll) return false;
    var m = L.marker(ll, { icon: ringIcon(lost), pane: 'gaRings', interactive: false, keyboard: false });
    m.options.gaKind = kind;
    m.options.gaId = String(id);
    layers.highlight.addLayer(m);
    return true;
  }

  function highlightSegment(id, lost) {
    var line = state.lines.get(String(id));
    if (!line) return false;
    var latlngs = line.getLatLngs();
    var halo = L.polyline(latlngs, {
      pane: 'gaHighlight', interactive: false, lineCap: 'round', lineJoin: 'round',
      color: lost ? '#eb3b30' : '#ffd400', weight: lost ? 9 : 11, opacity: lost ? 0.45 : 0.85,
      className: lost ? 'ga-hl-lost-halo' : 'ga-hl-halo'
    });
    var core = L.polyline(latlngs, {
      pane: 'gaHighlight', interactive: false, color: lost ? '#b3140b' : '#111',
      weight: lost ? 2 : 3, opacity: 1, dashArray: lost ? '4 4' : null,
      className: lost ? 'ga-hl-lost' : 'ga-hl-seg'
    });
    core.options.segmentId = String(id);
    core.options.gaRole = lost ? 'lost' : 'path';
    layers.highlight.addLayer(halo);
    layers.highlight.addLayer(core);
    return true;
  }

  function highlightedSegmentIds() {
    var ids = [];
    layers.highlight.eachLayer(function (l) { if (l.options.segmentId && l.options.gaRole === 'path') ids.push(l.options.segmentId); });
    return ids;
  }
  function highlightedTransformerIds() {
    var ids = [];
    layers.highlight.eachLayer(function (l) { if (l.options.gaKind === 'transformer') ids.push(l.options.gaId); });
    return ids;
  }

  function zoomToHighlight() {
    var b = layers.highlight.getBounds();
    var pad = sidePadding();
    if (b.isValid()) map.fitBounds(b, { paddingTopLeft: pad[0], paddingBottomRight: pad[1], maxZoom: 19 });
  }

  /** Room taken by the panels on the left (trace panel) and right (legend, layers). */
  function sidePadding() {
    if (map.getSize().x < 900) return [L.point(20, 20), L.point(20, 20)];
    return [L.point(300, 40), L.point(rightPanelsWidth() + 30, 40)];
  }

  /** Show the whole highlight when part of it is off screen (keeps the view otherwise). */
  function fitIfOutside() {
    var b = layers.highlight.getBounds();
    if (!b.isValid()) return;
    var pad = sidePadding();
    var view = L.latLngBounds(map.containerPointToLatLng(pad[0]), map.containerPointToLatLng(map.getSize().subtract(pad[1])));
    if (!view.contains(b)) map.fitBounds(b, { paddingTopLeft: pad[0], paddingBottomRight: pad[1], maxZoom: 18 });
  }

  function zoomTo(kind, id) {
    var line = kind === 'segment' && state.lines.get(String(id));
    if (line) { map.fitBounds(line.getBounds(), { maxZoom: 20, padding: [80, 80] }); return; }
    if (kind === 'customer') { openCustomer(id).catch(report); return; }
    var ll = locationOf(kind, id);
    if (ll) map.setView(ll, Math.max(map.getZoom(), 18));
  }

  function showPanel(title, sub, items, note) {
    panelDiv.innerHTML = '';
    var close = el('button', { class: 'ga-close', type: 'button', title: '清除 Clear', 'aria-label': '清除 Clear' }, '×');
    close.addEventListener('click', clearHighlight);
    panelDiv.appendChild(close);
    panelDiv.appendChild(el('h3', { text: title }));
    if (sub) panelDiv.appendChild(el('div', { class: 'ga-subtitle', text: sub }));
    var zoom = el('button', { class: 'ga-btn ga-secondary', type: 'button' }, '缩放至 Zoom to');
    zoom.addEventListener('click', zoomToHighlight);
    panelDiv.appendChild(el('div', { class: 'ga-actions' }, zoom));
    if (note) panelDiv.appendChild(el('div', { class: 'ga-subtitle', text: note }));
    var ol = el('ol', { class: 'ga-path' });
    items.forEach(function (r) {
      var name = r.name || featureName(r.kind, r.id);
      var a = el('a', { 'data-kind': r.kind, 'data-id': r.id }, [el('span', { class: 'ga-kind', text: PATH_KINDS[r.kind] || r.kind }), r.id + (name ? ' ' + name : '')]);
      a.addEventListener('click', function () { zoomTo(r.kind, r.id); });
      ol.appendChild(el('li', {}, a));
    });
    panelDiv.appendChild(ol);
    panelDiv.hidden = false;
  }

  async function showUpstream(kind, id) {
    var body = await api('/trace/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id) + '/upstream');
    var path = body.path || [];
    clearHighlight();
    var segments = [], missing = [];
    path.forEach(function (r) {
      if (r.kind === 'segment') {
        if (highlightSegment(r.id, false)) segments.push(String(r.id)); else missing.push(r.kind + ' ' + r.id);
      } else if (r.kind !== 'node') {
        ring(r.kind, r.id, false);
      }
    });
    var sub = path.filter(function (r) { return r.kind === 'substation'; })[0];
    var h = {
      kind: 'supply-path', element: { kind: kind, id: String(id) }, path: path, segments: segments,
      supplied: !!sub, substation: sub ? (featureName('substation', sub.id) || sub.id) : null,
      missing: missing, data_version: body.data_version
    };
    ga.highlight = h;
    fitIfOutside();
    showPanel('供电路径 Supply path · ' + (PATH_KINDS[kind] || kind) + ' ' + id,
      sub ? segments.length + ' 线路段 segments → ' + h.substation : '正常方式下无供电 not supplied in the normal state',
      path, missing.length ? '地图上缺少 Not on the map: ' + missing.join(', ') : null);
    return h;
  }

  async function showDownstream(kind, id) {
    var body = await api('/trace/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id) + '/downstream');
    clearHighlight();
    var nodes = new Set(body.nodes || []);
    var lostSegments = [];
    state.features.segments.forEach(function (f, sid) {
      if (nodes.has(f.properties.node_a) && nodes.has(f.properties.node_b)) { highlightSegment(sid, true); lostSegments.push(sid); }
    });
    var transformers = (body.transformers || []).map(String);
    transformers.forEach(function (t) { ring('transformer', t, true); });
    var customers = (body.customers || []).map(String);
    var sensitive = customers.filter(function (c) { return state.sensitive.has(c); });
    sensitive.forEach(function (c) { ring('customer', c, true); });
    var h = {
      kind: 'downstream', element: { kind: kind, id: String(id) }, transformers: transformers,
      customers: customers, sensitive: sensitive, segments: lostSegments, data_version: body.data_version
    };
    ga.highlight = h;
    fitIfOutside();
    var items = transformers.map(function (t) { return { kind: 'transformer', id: t }; })
      .concat(sensitive.map(function (c) {
        var f = state.features.customers.get(c);
        return { kind: 'customer', id: c, name: f ? f.properties.sensitivity : null };
      }));
    showPanel('下游 Downstream · ' + (PATH_KINDS[kind] || kind) + ' ' + id,
      transformers.length + ' 台区 transformers · ' + fmt(customers.length) + ' 客户 customers · ' + sensitive.length + ' 敏感 sensitive',
      items, customers.length ? null : '正常方式下此设备不带负荷 Nothing is supplied through it in the normal state.');
    return h;
  }

  // ------------------------------------------------------------------ opening features
  /**
   * Fly to a customer and open its popup. Customers come from the viewport, so a customer
   * not drawn yet is looked up (/customers/{acct}: its coordinates), the map zooms there and
   * the viewport is reloaded before the popup opens.
   */
  async function openCustomer(acct) {
    acct = String(acct);
    var m = state.markers.customers.get(acct);
    if (!m || !map.getBounds().contains(m.getLatLng())) {
      var ll = m ? m.getLatLng() : null;
      if (!ll) {
        var v = await api('/customers/' + encodeURIComponent(acct));
        var prof = v.profile || {};
        if (prof.lon === null || prof.lon === undefined) throw new ApiError('客户无坐标 customer has no coordinates: ' + acct, null, 404);
        ll = L.latLng(prof.lat, prof.lon);
      }
      map.setView(ll, Math.max(map.getZoom(), 19), { animate: false });
      await loadViewport();
      m = state.markers.customers.get(acct);
      if (!m) throw new ApiError('未找到户号 account not found on the map: ' + acct, null, 404);
    }
    var layer = state.sensitive.has(acct) ? layers.sensitive_customers : layers.customers;
    if (!map.hasLayer(layer)) map.addLayer(layer);
    m.openPopup();
    return m;
  }

  function openFeature(layerName, id) {
    if (layerName === 'customers') return openCustomer(id);
    var target = layerName === 'segments' ? state.lines.get(String(id)) : (state.markers[layerName] || new Map()).get(String(id));
    if (!target) return Promise.reject(new Error('not on the map: ' + layerName + ' ' + id));
    var group = layerName === 'segments' ? (target.feature.properties.kind === 'lv_cable' ? layers.lv_lines : layers.mv_lines) : layers[layerName];
    if (group && !map.hasLayer(group)) map.addLayer(group);
    if (target.getLatLng) map.setView(target.getLatLng(), Math.max(map.getZoom(), 18));
    else map.fitBounds(target.getBounds(), { maxZoom: 19, padding: [80, 80] });
    target.openPopup();
    return Promise.resolve(target);
  }

  // ------------------------------------------------------------------ customers of the viewport
  var vp = { seq: 0, key: null, pending: null, clusters: [] };

  function viewportBox() {
    var b = map.getBounds().pad(0.05);
    var clamp = function (v, lo, hi) { return Math.min(hi, Math.max(lo, v)); };
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90), clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)]
      .map(function (v) { return v.toFixed(6); });
  }

  /** Load the customers of the visible bbox (deduplicated; a newer load supersedes an older one). */
  function loadViewport() {
    var zoom = map.getZoom();
    var key = viewportBox().join(',') + '@' + zoom;
    if (vp.pending && vp.key === key) return vp.pending;
    var seq = ++vp.seq;
    vp.key = key;
    var p = api('/viewport?bbox=' + encodeURIComponent(viewportBox().join(',')) + '&zoom=' + zoom).then(function (body) {
      if (seq === vp.seq) drawViewport(body);
      return body;
    });
    vp.pending = p;
    p.then(function () { if (vp.pending === p) vp.pending = null; }, function () { if (vp.pending === p) vp.pending = null; });
    return p;
  }

  function drawViewport(body) {
    vp.clusters.forEach(function (m) { layers.customers.removeLayer(m); });
    vp.clusters.length = 0;
    ga.viewportBody = body;
    var keep = new Set();
    if (body.mode === 'points') {
      body.points.forEach(function (pt) {
        var acct = String(pt.account_no);
        keep.add(acct);
        if (state.markers.customers.has(acct)) return;
        var f = { type: 'Feature', id: acct, geometry: { type: 'Point', coordinates: [pt.lon, pt.lat] }, properties: pt };
        state.features.customers.set(acct, f);
        var r = ADDERS.customers(f);
        r[0].addLayer(r[1]);
      });
    }
    state.markers.customers.forEach(function (m, acct) {
      if (keep.has(acct)) return;
      layers.customers.removeLayer(m);
      layers.sensitive_customers.removeLayer(m);
      state.markers.customers.delete(acct);
      state.features.customers.delete(acct);
      state.sensitive.delete(acct);
    });
    if (body.mode === 'clusters') {
      body.clusters.forEach(function (c) {
        var m = L.marker([c.lat, c.lon], { icon: clusterIcon(c.count, c.sensitive_count), keyboard: false,
          title: c.count + ' 客户 customers' + (c.sensitive_count ? ' · ' + c.sensitive_count + ' 敏感 sensitive' : '') });
        m.options.gaCount = c.count;
        m.on('click', function () { map.setView(m.getLatLng(), Math.min(map.getZoom() + 2, 20)); });
        vp.clusters.push(m);
        layers.customers.addLayer(m);
      });
    }
    state.counts.customers = body.count;
    state.sensitiveInView = body.sensitive_count;
    ga.viewport = { mode: body.mode, count: body.count, sensitive_count: body.sensitive_count, zoom: body.zoom,
                    clusters: body.mode === 'clusters' ? body.clusters.length : 0,
                    points: body.mode === 'points' ? body.points.length : 0, max_points: body.max_points };
  }

  // ------------------------------------------------------------------ map click -> nearest customer -> view
  function onMapClick(e) {
    var t = e.originalEvent && e.originalEvent.target;
    if (t && t.classList && t.classList.contains('leaflet-interactive')) return;   // a line's own popup
    clickAt(e.latlng.lng, e.latlng.lat).catch(report);
  }

  async function clickAt(lon, lat) {
    var ll = L.latLng(lat, lon);
    var p = map.latLngToContainerPoint(ll);
    var radius = Math.min(5000, Math.max(5, ll.distanceTo(map.containerPointToLatLng(p.add([CLICK_RADIUS_PX, 0])))));
    var body = await api('/nearest?lon=' + lon.toFixed(7) + '&lat=' + lat.toFixed(7) + '&radius_m=' + radius.toFixed(1) + '&k=5');
    ga.nearest = body;
    if (!body.customers.length) {
      statusLine.textContent = '附近 ' + Math.round(radius) + ' 米内无客户 No customer within ' + Math.round(radius) + ' m' +
        (body.transformer_area ? ' · 台区 ' + body.transformer_area.transformer_id : '');
      return null;
    }
    return openView(body.customers[0].account_no, body);
  }

  // ------------------------------------------------------------------ search box
  async function search(q) {
    searchResults.innerHTML = '';
    var body;
    try {
      body = await api('/search?q=' + encodeURIComponent(q) + '&limit=10');
    } catch (e) {
      if (e.status === 404 && /^\d{6,}$/.test(q)) return openCustomer(q);   // no search service: an account number
      throw e;
    }
    var items = body.data || [];
    var list = items.length ? items : (body.suggestions || []);
    if (!items.length) {
      searchResults.appendChild(el('div', { class: 'ga-subtitle', text: '无匹配 No match' + (list.length ? ' · 附近建议 suggestions:' : '') }));
    }
    list.forEach(function (r, i) {
      var a = el('a', { class: 'ga-result-item', role: 'option', 'data-account': r.account_no, tabindex: '0' }, [
        el('b', { text: r.name || r.account_no }), ' ', el('span', { class: 'ga-chip', text: r.account_no }),
        r.sensitivity ? el('span', { class: 'ga-tag', text: r.sensitivity }) : null,
        el('div', { class: 'ga-subtitle', text: (r.address || '') + (r.matched ? ' · 匹配 matched: ' + [].concat(r.matched).join(', ') : '') })
      ]);
      // stop the click here: the item is removed at once, and Leaflet would take a detached target for a map click
      var pick = function (ev) { if (ev) ev.stopPropagation(); pickResult(r).catch(report); };
      a.addEventListener('click', pick);
      a.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') pick(); });
      searchResults.appendChild(a);
    });
    ga.searchResults = list.map(function (r) { return r.account_no; });
    return body;
  }

  async function pickResult(r) {
    searchResults.innerHTML = '';
    if (typeof r.lon === 'number' && typeof r.lat === 'number') {
      map.setView([r.lat, r.lon], Math.max(map.getZoom(), 19), { animate: false });
    }
    await openCustomer(r.account_no);
    return openView(r.account_no);
  }

  // ------------------------------------------------------------------ the unified customer view panel
  var viewDiv = el('aside', { class: 'ga-box ga-view', role: 'dialog', 'aria-label': '客户视图 Customer view' });
  viewDiv.hidden = true;
  L.DomEvent.disableClickPropagation(viewDiv);
  L.DomEvent.disableScrollPropagation(viewDiv);
  map.getContainer().appendChild(viewDiv);

  var EMOTION = { calm: '平静 calm', concerned: '关注 concerned', angry: '激动 angry' };

  function section(title, body) {
    return el('section', { class: 'ga-view-sec' }, [el('h4', { text: title })].concat(body));
  }

  async function openView(acct, nearest) {
    acct = String(acct);
    var v = await api('/customers/' + encodeURIComponent(acct));
    ga.view = v;
    renderView(v, nearest);
    if (v.supply && v.supply.path && v.supply.path.length) {
      showUpstream('customer', acct).catch(report);       // highlight the supply path on the map
    }
    return v;
  }

  function renderView(v, nearest) {
    viewDiv.innerHTML = '';
    viewDiv.setAttribute('data-account', v.account_no);
    var close = el('button', { class: 'ga-close', type: 'button', title: '关闭 Close', 'aria-label': '关闭 Close' }, '×');
    close.addEventListener('click', function () { viewDiv.hidden = true; ga.view = null; });
    viewDiv.appendChild(close);
    var name = v.contact ? v.contact.name : null;
    viewDiv.appendChild(el('h3', {}, ['客户视图 Customer ', el('span', { class: 'ga-chip', text: v.account_no }), name ? ' ' + name : '']));
    if (nearest && nearest.customers && nearest.customers.length) {
      viewDiv.appendChild(el('div', { class: 'ga-subtitle', text: '点击处最近客户 nearest to the click: ' +
        nearest.customers[0].distance_m + ' m' + (nearest.transformer_area ? ' · 台区 ' + nearest.transformer_area.transformer_id : '') }));
    }
    if (v.emotion) {
      var em = el('div', { class: 'ga-emotion ga-emo-' + v.emotion.label }, [el('b', { text: '情绪 Emotion: ' + (EMOTION[v.emotion.label] || v.emotion.label) })]);
      var ul = el('ul', {});
      v.emotion.reasons.forEach(function (r) { ul.appendChild(el('li', { 'data-code': r.code, text: r.zh + ' · ' + r.en })); });
      if (v.emotion.reasons.length) em.appendChild(ul);
      viewDiv.appendChild(em);
    }
    if (v.stale && v.stale.length) {
      viewDiv.appendChild(el('div', { class: 'ga-stale' }, v.stale.map(function (p) {
        return el('div', { 'data-code': p.code, text: '⚠ ' + p.zh + ' · ' + p.en });
      })));
    }
    var prof = v.profile || {};
    var c = v.contact || {};
    if (v.profile || v.contact) {
      viewDiv.appendChild(section('档案 Profile' + (v.pii_masked ? ' (已脱敏 masked)' : ''), [table([
        v.contact ? ['户名 Name', c.name] : null,
        v.contact ? ['电话 Phone', [c.phone, c.phone_alt].filter(Boolean).join(' / ')] : null,
        v.contact ? ['地址 Address', c.address] : null,
        v.profile ? ['类别 Category', prof.category] : null,
        v.profile ? ['合同容量 Capacity', prof.contract_kva !== null && prof.contract_kva !== undefined ? prof.contract_kva + ' kVA' : null] : null,
        v.profile ? ['敏感 Sensitivity', prof.sensitivity ? el('span', { class: 'ga-tag', text: prof.sensitivity + ' ' + (SENSITIVITY_EN[prof.sensitivity] || '') }) : '否 no'] : null,
        v.profile ? ['定位 Location', LOCATION_QUALITY[prof.location_quality] || prof.location_quality] : null,
        v.profile ? ['核实 Verified', prof.contact_verified_at] : null
      ])]));
    }
    if (v.supply) {
      var s = v.supply, ch = s.chain || {};
      var energ = s.energized
        ? el('span', { class: 'ga-tag ga-closed ga-energized', text: '有电 energized' })
        : el('span', { class: 'ga-tag ga-deenergized', text: '停电 not energized' });
      var steps = [];
      if (ch.substation) steps.push(['substation', ch.substation.id, ch.substation.name]);
      if (ch.feeder) steps.push(['feeder', ch.feeder.id, ch.feeder.name]);
      (ch.switches || []).forEach(function (w) { steps.push(['switch', w.id, w.name]); });
      if (ch.transformer) steps.push(['transformer', ch.transformer.id, ch.transformer.name]);
      if (ch.meter_box) steps.push(['meter_box', ch.meter_box.id, null]);
      var ol = el('ol', { class: 'ga-chain' });
      steps.forEach(function (st) {
        ol.appendChild(el('li', { 'data-kind': st[0], 'data-id': st[1] }, [el('span', { class: 'ga-kind', text: st[0] === 'feeder' ? '馈线 feeder' : (PATH_KINDS[st[0]] || st[0]) }), st[1] + (st[2] ? ' ' + st[2] : '')]));
      });
      var hl = el('button', { class: 'ga-btn ga-secondary', type: 'button' }, '高亮路径 Highlight path');
      hl.addEventListener('click', function () { showUpstream('customer', v.account_no).catch(report); });
      viewDiv.appendChild(section('供电 Supply ', [el('div', {}, ['当前 Now: ', energ]), ol, s.note ? el('div', { class: 'ga-subtitle', text: s.note }) : null, hl]));
    }
    if (v.outages) {
      var o = v.outages;
      var rows = o.current.map(function (p) { return ['current', p]; }).concat(o.planned.map(function (p) { return ['planned', p]; }));
      viewDiv.appendChild(section('停电 Outages', rows.length ? rows.map(function (r) {
        var p = r[1];
        return el('div', { class: 'ga-outage ga-' + r[0], 'data-plan': p.plan_id }, [
          el('b', { text: (r[0] === 'current' ? '进行中 current' : '计划 planned') + ' #' + p.plan_id + ' ' + (p.title || '') }),
          el('div', { class: 'ga-subtitle', text: (p.window_start || '?') + ' → ' + (p.window_end || '?') + ' · ' + p.status })
        ]);
      }) : [el('div', { class: 'ga-subtitle', text: '无 none' })]));
    }
    if (v.interactions) {
      var it = v.interactions;
      var chips = Object.keys(it.by_channel).map(function (k) { return el('span', { class: 'ga-chip', text: k + ' ' + it.by_channel[k] }); });
      var recent = el('ul', { class: 'ga-recent' }, it.recent.map(function (r) {
        return el('li', {}, [el('small', { text: r.occurred_at.slice(0, 16).replace('T', ' ') + ' · ' + r.channel + ' · ' + r.kind }),
                             r.text ? el('div', { text: r.text }) : null]);
      }));
      viewDiv.appendChild(section('交互 Interactions · ' + it.total + ' 次 · 投诉 complaints ' + it.complaint_count, [el('div', {}, chips), recent]));
    }
    var finder = el('input', { type: 'search', class: 'ga-finder', placeholder: '查字段 Find a field: 容量 / capacity', 'aria-label': '查字段 Field finder' });
    var found = el('div', { class: 'ga-found' });
    var fseq = 0;
    finder.addEventListener('input', function () {
      var q = finder.value.trim();
      var my = ++fseq;
      if (!q) { found.innerHTML = ''; return; }
      api('/customers/' + encodeURIComponent(v.account_no) + '/fields?q=' + encodeURIComponent(q)).then(function (b) {
        if (my !== fseq) return;
        found.innerHTML = '';
        if (!b.data.length) found.appendChild(el('div', { class: 'ga-subtitle', text: '无匹配字段 no matching field' }));
        found.appendChild(table(b.data.map(function (f) {
          var val = f.value === true ? '是 yes' : f.value === false ? '否 no' : f.value;
          return [f.label_zh + ' ' + f.label_en, val === null || val === undefined ? null : String(val)];
        })));
        found.setAttribute('data-fields', b.data.map(function (f) { return f.field; }).join(','));
      }).catch(report);
    });
    viewDiv.appendChild(section('查字段 Field finder', [finder, found]));
    viewDiv.hidden = false;
  }

  // ------------------------------------------------------------------ start
  var ga = window.gridatlas = {
    map: map, layers: layers, counts: state.counts, features: state.features, markers: state.markers, highlight: null,
    viewportBody: null, viewportMarkers: vp.clusters,
    errors: errors, feederColor: feederColor,
    openCustomer: openCustomer, openFeature: openFeature, showUpstream: showUpstream,
    showDownstream: showDownstream, clearHighlight: clearHighlight,
    highlightedSegmentIds: highlightedSegmentIds, highlightedTransformerIds: highlightedTransformerIds,
    zoomToHighlight: zoomToHighlight, fitExtent: fitExtent,
    openView: openView, view: null, viewport: null, nearest: null, loadViewport: loadViewport, search: search, clickAt: clickAt
  };

  var jobs = {};
  LAYER_ORDER.forEach(function (name) {
    jobs[name] = loadLayer(name).catch(function (e) { report(e); throw e; });
  });
  var fitted = Promise.all([jobs.substations, jobs.segments].map(function (p) { return p.catch(function () {}); }))
    .then(function () { if (!fitExtent()) report(new Error('没有线路或变电站数据 no substations or segments to show')); });
  jobs.customers = fitted.then(function () { return loadViewport(); }).catch(function (e) { report(e); throw e; });
  map.on('moveend', function () { loadViewport().catch(report); });
  map.on('click', function (e) { onMapClick(e); });

  ga.ready = Promise.all(LAYER_ORDER.concat(['customers']).map(function (n) {
    return jobs[n].then(function () { return null; }, function (e) { return n + ': ' + e.message; });
  })).then(function (failures) {
    failures = failures.filter(Boolean);
    relabelOverlays();
    renderLegend();
    var total = LAYER_ORDER.concat(['customers']).reduce(function (s, n) { return s + (state.counts[n] || 0); }, 0);
    statusDiv.classList.add('ga-done');
    statusLine.textContent = (failures.length ? '部分加载 Partly loaded ' : '已加载 Loaded ') + fmt(total) + ' 要素 features · ' +
      (state.counts.customers !== undefined ? fmt(state.counts.customers) + ' 客户 customers (' + fmt(state.sensitiveInView || 0) + ' 敏感 sensitive) · ' : '') +
      Array.from(state.feeders.keys()).filter(function (k) { return k !== '—'; }).length + ' 馈线 feeders';
    if (failures.length) throw new Error('layers failed to load: ' + failures.join('; '));
    return state.counts;
  });
  ga.ready.catch(function () { /* already shown in the status box */ });
})();
