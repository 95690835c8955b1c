// The timeline UI: wires the chart, the cursor, the scene, the explanation, the event table,
// the integrity badge, the live tail and the what-if view to the URL (the URL is the state).

import * as api from "./api.js";
import { TimelineChart } from "./chart.js";
import { Controls } from "./controls.js";
import { showRaw, showTrade } from "./detail.js";
import { $, afterPaint, el, replace, toast } from "./dom.js";
import { renderExplainAt, renderExplanation } from "./explain.js";
import { EVENT_TYPES, epochSeconds, integer, isoFromSeconds, utc } from "./format.js";
import { IntegrityBadge, LiveTail } from "./integrity.js";
import { renderScene } from "./scene.js";
import { search } from "./search.js";
import { EventTable } from "./table.js";
import { readUrl, writeUrl } from "./urlstate.js";
import { WhatIfView, curvePoints, overlayMarkers, overridesText, parseOverrides } from "./whatif.js";

const DEFAULT_TYPES = EVENT_TYPES.filter((t) => t !== "market_data" && t !== "state_snapshot");
// A step shows its scene at once; the explanation waits until the stepping pauses this long
// (holding → would otherwise fetch and lay out one explanation per event passed).
const EXPLAIN_AFTER_STEP_MS = 150;
const TABS = ["explain", "trade", "raw", "whatif"];

const app = {
  symbols: [],
  symbol: null,
  types: new Set(DEFAULT_TYPES),
  range: { from: 0, to: 0 }, // the symbol's first and last time, epoch seconds
  head: 0,
  lastSeconds: 0, // the newest event's time (the cursor's default: "now" in the log)
  cursor: { seq: null, seconds: null },
  selected: null, // the selected event (the cursor stands on it)
  explained: null, // the event whose explanation is shown (the decision of an "at" answer)
  at: null, // the time of an "explain at" answer shown instead
  scene: null,
  tab: "explain",
  trace: null,
  overrides: null,
  equity: null, // the promise of GET /equity (the whole bot's curve, fetched once)
  decisions: [], // risk-decision markers of the symbol, by sequence (for shift+←/→)
  chartDrawn: false,
  chartData: null, // {symbol, series, markers}: requested with /symbols when the link names one
  navigation: 0, // counts navigations (select, atTime): a stale one stops
};

const sceneFetch = api.latest();
const explainFetch = api.latest();

/** A handler for a failed request: say what failed in the footer (not when superseded). */
function failed(what) {
  return (error) => {
    if (!api.aborted(error)) toast(`${what}: ${error.message}`);
  };
}

// --- the URL ---------------------------------------------------------------------------------
function urlState() {
  const types = [...app.types].sort().join(",");
  return {
    symbol: app.symbol,
    event: app.selected,
    at: app.selected ? null : app.at,
    types: types === [...DEFAULT_TYPES].sort().join(",") ? null : types,
    tab: app.tab === "explain" ? null : app.tab,
    trace: app.tab === "trade" ? app.trace : null,
    set: app.overrides ? overridesText(app.overrides) : null,
  };
}

function remember(mode = "push") {
  writeUrl(urlState(), mode);
}

// --- symbol: chart data ----------------------------------------------------------------------
function chartData(symbol) {
  const path = encodeURIComponent(symbol);
  return {
    symbol,
    series: api.get(`/series/${path}`, { max_points: 2000 }),
    markers: api.get(`/markers/${path}`),
  };
}

async function loadSymbol(symbol) {
  if (symbol === app.symbol && app.chartDrawn) return;
  app.symbol = symbol;
  controls.showSymbol(symbol);
  table.filter = { symbol, types: app.types };
  table.lines = []; // the next cursor move reloads the table for this symbol
  const info = app.symbols.find((s) => s.symbol === symbol);
  replace($("#chart-status"), `Loading ${symbol}…`);
  // Candles and markers first (asked with /symbols when the link names the symbol); the equity
  // curve (one for the whole bot, fetched once) is asked after them, so it does not compete
  // with them for the server, and it does not hold up the chart, the scene or the explanation.
  const data = app.chartData?.symbol === symbol ? app.chartData : chartData(symbol);
  app.chartData = null;
  const [series, markers] = await Promise.all([data.series, data.markers]);
  app.equity ??= api.get("/equity", { max_points: 4000 });
  chart.setSeries(series.points);
  chart.setMarkers(markers.markers);
  app.equity.then((equity) => symbol === app.symbol && chart.setEquity(equity.points)).catch(failed("Equity"));
  app.decisions = markers.markers
    .filter((m) => m.kind.startsWith("decision_") || m.kind === "stop_loss" || m.kind === "take_profit")
    .sort((a, b) => a.sequence_number - b.sequence_number);
  app.range = {
    from: epochSeconds(info.first_time),
    to: Math.max(epochSeconds(info.last_time), app.lastSeconds),
  };
  controls.setRange(app.range);
  const note = series.downsampled ? ` · ${integer(series.source_points)} prices in ${integer(series.points.length)} candles` : "";
  replace($("#chart-status"), `${symbol}${note} · ${integer(markers.markers.length)} markers`);
  if (whatif.result) applyWhatIf(whatif.result);
  await afterPaint(); // the chart sizes itself on a frame: fit once it has its width
  chart.fit();
  await afterPaint();
  if (!app.chartDrawn) {
    app.chartDrawn = true;
    performance.mark("claire:chart-drawn");
  }
}

// --- the cursor and the scene ----------------------------------------------------------------
function placeCursor(seq, seconds) {
  app.cursor = { seq, seconds };
  const label = seconds === null ? "" : utc(isoFromSeconds(seconds)).slice(11);
  chart.setCursor(seconds, label);
  controls.showCursor(seconds, seq);
}

/** Fetch and show the scene for `query` ({sequence} or {at}); resolves when it is painted. */
async function showScene(query) {
  const scene = await sceneFetch("/scene", { params: { ...query, symbol: app.symbol } });
  renderScene($("#scene"), scene, app.scene, { onTrade: openTrade, focusSymbol: app.symbol });
  app.scene = scene;
  const seconds = query.sequence ? app.cursor.seconds : epochSeconds(scene.at || scene.as_of_time);
  placeCursor(scene.as_of_sequence, seconds);
  syncTable(scene.as_of_sequence);
  return scene;
}

function syncTable(seq) {
  const lines = table.lines;
  const inside = lines.length && seq >= lines[0].sequence_number && seq <= lines[lines.length - 1].sequence_number;
  if (inside || (lines.length && !table.more.after && seq >= lines[lines.length - 1].sequence_number)) {
    table.highlight(seq);
  } else {
    table.load(seq, { symbol: app.symbol, types: app.types }).catch(failed("Events"));
  }
}

/** Select an event: cursor on it, its scene and its explanation. */
async function select(eventId, { line = null, mode = "push", measure = null } = {}) {
  const navigation = ++app.navigation; // a newer navigation makes this one stop at its next await
  app.selected = eventId;
  app.at = null;
  chart.select(eventId);
  let scene = null;
  if (line) {
    // A step: the scene first (what the person watches), the explanation right after it, so
    // the two requests do not compete for the server.
    placeCursor(line.sequence_number, epochSeconds(line.time));
    chart.reveal(app.cursor.seconds);
    scene = showScene({ sequence: line.sequence_number });
    await scene;
    if (measure !== null) {
      await afterPaint();
      performance.measure("claire:step", { start: measure, end: performance.now() });
    }
    remember(mode);
    if (measure !== null) {
      await new Promise((resolve) => setTimeout(resolve, EXPLAIN_AFTER_STEP_MS));
      if (navigation !== app.navigation) return; // stepped on meanwhile
    }
  }
  const doc = await explainFetch(`/events/${encodeURIComponent(eventId)}/explain`);
  if (navigation !== app.navigation) return;
  const event = doc.event;
  const symbol = event.payload?.symbol;
  if (symbol && symbol !== app.symbol && app.symbols.some((s) => s.symbol === symbol)) {
    await loadSymbol(symbol);
    if (navigation !== app.navigation) return;
    chart.select(eventId);
  }
  if (!line) {
    placeCursor(event.sequence_number, epochSeconds(event.timestamp_utc));
    chart.reveal(app.cursor.seconds);
    scene = showScene({ sequence: event.sequence_number });
  }
  app.trace = event.correlation_id;
  app.explained = event.event_id;
  renderExplanation($("#panel-explain"), doc, actions);
  if (app.tab === "trade") openTrade(app.trace, { keepTab: true });
  if (app.tab === "raw") openRaw(eventId, { keepTab: true });
  if (app.tab === "whatif") showTab("explain");
  remember(mode);
  await scene;
}

/** The cursor at a time: the scene then, and "why in or out of SYMBOL at that time". */
async function atTime(at, { mode = "push", explain = true } = {}) {
  const navigation = ++app.navigation;
  app.selected = null;
  chart.select(null);
  const scene = await showScene({ at });
  if (navigation !== app.navigation) return;
  app.at = scene.at || at;
  if (explain && app.tab !== "whatif") showTab("explain");
  chart.reveal(app.cursor.seconds);
  remember(mode);
  if (!explain) return;
  try {
    const doc = await explainFetch("/explain", { params: { at: app.at, symbol: app.symbol } });
    if (navigation !== app.navigation) return;
    renderExplainAt($("#panel-explain"), doc, actions);
    app.explained = doc.explanation?.event.event_id ?? null;
    if (doc.explanation) app.trace = doc.explanation.event.correlation_id;
  } catch (error) {
    if (api.aborted(error)) return;
    replace($("#panel-explain"), el("p", { class: "empty" }, error.message));
  }
}

async function stepEvent(direction) {
  const start = performance.now();
  // The table is the list stepped through: a key pressed while it loads (just after opening a
  // link, or after a filter change) steps once it is there, instead of finding nothing.
  if (table.loading) await table.loading.catch(() => null);
  const line = table.step(app.cursor.seq ?? 0, direction);
  if (!line) {
    toast(direction > 0 ? "No later event with these filters." : "No earlier event with these filters.");
    return;
  }
  select(line.event_id, { line, mode: "step", measure: start }).catch(failed("Step"));
}

function stepDecision(direction) {
  const start = performance.now();
  const seq = app.cursor.seq ?? 0;
  const list = app.decisions;
  const marker =
    direction > 0 ? list.find((m) => m.sequence_number > seq) : list.findLast((m) => m.sequence_number < seq);
  if (!marker) {
    toast(direction > 0 ? "No later decision on this symbol." : "No earlier decision on this symbol.");
    return;
  }
  const line = { event_id: marker.event_id, sequence_number: marker.sequence_number, time: marker.time };
  select(marker.event_id, { line, mode: "step", measure: start }).catch(failed("Step"));
}

// --- detail tabs -----------------------------------------------------------------------------
function showTab(name, { focus = false } = {}) {
  app.tab = name;
  for (const tab of TABS) {
    const button = $(`#tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`#panel-${tab}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  if (name === "whatif" && !$("#panel-whatif").childElementCount) whatif.mount();
}

async function openTrade(correlationId, { keepTab = false } = {}) {
  if (!correlationId) return;
  app.trace = correlationId;
  showTab("trade");
  await showTrade($("#panel-trade"), correlationId, actions, app.selected);
  if (!keepTab) remember();
}

async function openRaw(eventId, { keepTab = false } = {}) {
  showTab("raw");
  await showRaw($("#panel-raw"), eventId, actions);
  if (!keepTab) remember();
}

/** A tab chosen by the person: its content is that of the event shown. */
function openTab(name) {
  const shown = app.selected || app.explained;
  if (name === "trade" && app.trace) openTrade(app.trace);
  else if (name === "raw" && shown) openRaw(shown);
  else {
    showTab(name);
    remember();
  }
  $(`#tab-${name}`).focus();
}

const actions = {
  select: (id) => select(id).catch(failed("Event")),
  raw: (id) => openRaw(id),
  trade: (id) => openTrade(id),
};

// --- what-if ---------------------------------------------------------------------------------
function applyWhatIf(result) {
  chart.setWhatIf(curvePoints(result.whatif?.equity), overlayMarkers(result.whatif?.trades || [], app.symbol));
  controls.renderLegend(true);
  whatif.show(app.symbol);
}

const whatif = new WhatIfView($("#panel-whatif"), {
  actions,
  onResult: (result, overrides, mode) => {
    app.overrides = overrides;
    applyWhatIf(result);
    remember(mode);
  },
  onClear: () => {
    app.overrides = null;
    chart.setWhatIf(null, []);
    controls.renderLegend(false);
    remember();
  },
});

// --- applying a URL (first load and the back button) -----------------------------------------
async function apply(state) {
  app.types = state.types ? new Set(state.types.split(",").filter((t) => EVENT_TYPES.includes(t))) : new Set(DEFAULT_TYPES);
  controls.showTypes(app.types);
  chart.setTypes(app.types);
  let symbol = app.symbols.some((s) => s.symbol === state.symbol) ? state.symbol : null;
  if (state.symbol && !symbol) toast(`Unknown symbol ${state.symbol}; showing ${app.symbols[0]?.symbol ?? "nothing"}.`);
  if (!symbol && state.event && !state.symbol) {
    const event = await api.get(`/events/${encodeURIComponent(state.event)}`).catch(() => null);
    symbol = app.symbols.some((s) => s.symbol === event?.payload?.symbol) ? event.payload.symbol : null;
  }
  await loadSymbol(symbol || app.symbols[0].symbol);
  table.filter = { symbol: app.symbol, types: app.types };
  table.lines = [];
  app.tab = TABS.includes(state.tab) ? state.tab : "explain";
  showTab(app.tab);
  if (state.set) {
    try {
      const overrides = parseOverrides(state.set);
      if (overridesText(overrides) !== overridesText(app.overrides || {})) whatif.submit(state.set, "none");
    } catch (error) {
      toast(`What-if in the link: ${error.message}`);
    }
  }
  if (state.event) {
    await select(state.event, { mode: "none" });
  } else {
    await atTime(state.at || isoFromSeconds(app.lastSeconds), { mode: "none", explain: Boolean(state.at) });
  }
  if (state.tab === "trade" && state.trace) await openTrade(state.trace, { keepTab: true });
}

// --- live ------------------------------------------------------------------------------------
let liveTimer = null;
function onLiveEvent(event) {
  const wasAtHead = app.cursor.seq !== null && app.cursor.seq >= app.head;
  app.head = Math.max(app.head, event.sequence_number);
  const symbol = event.payload?.symbol;
  if (event.event_type === "market_data" && symbol === app.symbol) {
    chart.addPrice(event.timestamp_utc, event.payload.price);
    app.range.to = Math.max(app.range.to, epochSeconds(event.timestamp_utc));
    controls.setRange(app.range);
  }
  app.lastSeconds = Math.max(app.lastSeconds, epochSeconds(event.timestamp_utc));
  clearTimeout(liveTimer);
  liveTimer = setTimeout(async () => {
    if (event.event_type !== "market_data") {
      const markers = await api.get(`/markers/${encodeURIComponent(app.symbol)}`).catch(() => null);
      if (markers) chart.setMarkers(markers.markers);
    }
    if (wasAtHead && !app.selected) {
      atTime(isoFromSeconds(app.lastSeconds), { mode: "replace", explain: false }).catch(failed("Live"));
    } else if (!table.more.after) {
      table.extend("after").catch(() => {});
    }
  }, 250);
}

const live = new LiveTail({
  onEvent: onLiveEvent,
  onState: (state, detail) => {
    const node = $("#live");
    node.className = `live ${state === "live" ? "on" : "off"}`;
    node.textContent = state === "live" ? "● live" : "○ offline";
    node.title = state === "live" ? "New events appear as they are stored" : `Live tail lost: ${detail}; retrying`;
  },
});

// --- start -----------------------------------------------------------------------------------
const chart = new TimelineChart($("#chart"), {
  onMarker: (id) => select(id).catch(failed("Marker")),
  onTime: (seconds) => atTime(isoFromSeconds(seconds)).catch(failed("Cursor")),
});
const table = new EventTable($("#events-body"), $("#events-status"), {
  onSelect: (id, line) => select(id, { line }).catch(failed("Event")),
});
const controls = new Controls({
  stepEvent,
  stepDecision,
  showTab: (name) => openTab(name),
  search: (text) =>
    search(text, $("#search-error"), { select, trade: openTrade, atTime }).catch(failed("Search")),
  symbol: async (symbol) => {
    const seconds = app.cursor.seconds ?? app.range.to;
    await loadSymbol(symbol);
    await atTime(isoFromSeconds(seconds));
  },
  types: (types) => {
    app.types = types;
    chart.setTypes(types);
    table.load(app.cursor.seq ?? 1, { symbol: app.symbol, types }).catch(failed("Events"));
    remember();
  },
  scrub: (seconds, settled) => {
    const at = isoFromSeconds(seconds);
    if (settled) atTime(at).catch(failed("Cursor"));
    else atTime(at, { mode: "replace", explain: false }).catch(failed("Cursor"));
  },
  chart,
});

async function start() {
  const linked = readUrl().symbol;
  if (linked) {
    // The link names the symbol: ask for its chart with /symbols, not after it. (An unknown
    // symbol's answers are simply not used.)
    app.chartData = chartData(linked);
    app.chartData.series.catch(() => {});
    app.chartData.markers.catch(() => {});
  }
  const symbols = await api.get("/symbols");
  app.symbols = symbols.symbols;
  app.head = symbols.head_sequence;
  app.lastSeconds = epochSeconds(symbols.last_time);
  if (!app.symbols.length) {
    replace($("#chart-status"), "The store has no market data yet: record a session (claire demo) and reload.");
    replace($("#scene"), el("p", { class: "empty" }, "Nothing recorded yet."));
    return;
  }
  controls.setSymbols(app.symbols.map((s) => s.symbol));
  await apply(readUrl());
  // After the first view: the verifier's first pass and the tail must not slow the chart down.
  new IntegrityBadge($("#integrity"), {
    onBreak: (seq) => showScene({ sequence: seq }).catch(failed("Integrity")),
  }).start();
  live.start(app.head + 1);
  window.addEventListener("popstate", () => apply(readUrl()).catch(failed("Back")));
}

// For the browser tests and the UI benchmark: where a marker is drawn, and when it is ready.
window.claire = {
  ready: start().catch((error) => {
    replace($("#chart-status"), `Could not load: ${error.message}`);
    throw error;
  }),
  markerPoint: (id) => chart.markerPoint(id),
  whatifMarkers: () => chart.overlay.length,
  markers: () => chart.markers.map(({ event_id, kind, sequence_number, time }) => ({ event_id, kind, sequence_number, time })),
  state: () => ({ ...app, types: [...app.types] }),
};
