// The URL is the state: every view is a link, and the back button walks back through views.
//
//   symbol   the chart's symbol                     ?symbol=BTCUSDT
//   at       the cursor's time (explain "why in or out of SYMBOL at TIME")
//   event    the selected event (the cursor stands on it)
//   types    the event-type filter of the chart and the table (comma separated)
//   tab      the detail panel: explain | trade | raw | whatif
//   trace    a correlation id shown in the trade view
//   set      what-if overrides (path=value;path=value)

const KEYS = ["symbol", "at", "event", "types", "tab", "trace", "set"];
const STEP_COALESCE_MS = 1500;

export function readUrl(search = window.location.search) {
  const query = new URLSearchParams(search);
  const state = {};
  for (const key of KEYS) {
    const value = query.get(key);
    if (value) state[key] = value;
  }
  return state;
}

function toSearch(state) {
  const query = new URLSearchParams();
  for (const key of KEYS) {
    if (state[key]) query.set(key, state[key]);
  }
  // , : = ; are safe in a query value: keep links readable
  const text = query
    .toString()
    .replaceAll("%2C", ",")
    .replaceAll("%3A", ":")
    .replaceAll("%3D", "=")
    .replaceAll("%3B", ";");
  return text ? `?${text}` : "";
}

let lastStepPush = Number.NEGATIVE_INFINITY; // the first step always makes a history entry

/**
 * Put `state` in the address bar. `mode`: "push" (a new view: back returns here), "step"
 * (a cursor step: pushed, but a burst of steps within 1.5 s makes one history entry),
 * "replace" (continuous changes such as dragging or playing) or "none" (showing a URL that is
 * already in the history: only its canonical form replaces it).
 */
export function writeUrl(state, mode = "push") {
  const search = toSearch(state);
  if (search === window.location.search) return;
  const target = `${window.location.pathname}${search}`;
  const now = performance.now();
  const coalesce = mode === "step" && now - lastStepPush < STEP_COALESCE_MS;
  if (mode === "replace" || mode === "none" || coalesce) {
    window.history.replaceState(null, "", target);
  } else {
    window.history.pushState(null, "", target);
  }
  if (mode === "step") lastStepPush = now;
}
