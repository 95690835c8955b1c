// Display formatting. Money and prices arrive as decimal strings and are formatted as strings
// (grouping, sign), never through floats, so what is shown is exactly what is stored.

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/** "98646.5255" → "98,646.5255"; `places` pads or cuts (never rounds up) the fraction. */
export function decimal(value, places = null) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value);
  const match = DECIMAL.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = ""] = match;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  let frac = fraction;
  if (places !== null) frac = places === 0 ? "" : fraction.padEnd(places, "0").slice(0, places);
  const minus = sign === "-" && /[1-9]/.test(whole + frac) ? "−" : "";
  return `${minus}${grouped}${frac ? `.${frac}` : ""}`;
}

/** A signed amount with an explicit + for gains ("+12.5", "−3.1", "0"). */
export function signed(value, places = null) {
  const text = decimal(value, places);
  return sign(value) > 0 ? `+${text}` : text;
}

/** -1, 0 or 1 for a decimal string (exact, no float). */
export function sign(value) {
  const match = DECIMAL.exec(String(value ?? ""));
  if (!match || !/[1-9]/.test(match[2] + (match[3] || ""))) return 0;
  return match[1] === "-" ? -1 : 1;
}

/** A fraction as a percentage: "0.206668" → "20.67 %" (display only, so a float is fine). */
export function percent(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  return `${(number * 100).toFixed(digits)} %`;
}

/** "2025-02-14T13:05:00.000000Z" → "2025-02-14 13:05:00" (always UTC). */
export function utc(iso, { seconds = true } = {}) {
  if (!iso) return "—";
  const text = String(iso);
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?/.exec(text);
  if (!match) return text;
  return `${match[1]} ${match[2]}${seconds ? match[3] || ":00" : ""}`;
}

/** Seconds since the epoch (the chart's time unit) of an ISO time. */
export function epochSeconds(iso) {
  return Math.floor(Date.parse(iso) / 1000);
}

/** The ISO form the API takes for `at` ("2025-02-14T13:05:00Z") from epoch seconds. */
export function isoFromSeconds(seconds) {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

export function integer(value) {
  if (value === null || value === undefined) return "—";
  return decimal(String(value));
}

export function shortId(id) {
  return id ? `${String(id).slice(0, 8)}…` : "—";
}

const TYPE_LABELS = {
  market_data: "market data",
  signal_generated: "signal",
  risk_decision: "risk decision",
  order_request: "order",
  order_result: "order result",
  position_update: "position",
  alert: "alert",
  state_snapshot: "snapshot",
};

export function typeLabel(eventType) {
  return TYPE_LABELS[eventType] || String(eventType);
}

export const EVENT_TYPES = Object.keys(TYPE_LABELS);

/** a − b of two decimal strings, exactly (BigInt on a common scale), as a decimal string. */
export function difference(a, b) {
  const x = DECIMAL.exec(String(a ?? ""));
  const y = DECIMAL.exec(String(b ?? ""));
  if (!x || !y) return null;
  const scale = Math.max((x[3] || "").length, (y[3] || "").length);
  const scaled = (m) => {
    const digits = BigInt(m[2] + (m[3] || "").padEnd(scale, "0"));
    return m[1] === "-" ? -digits : digits;
  };
  const value = scaled(x) - scaled(y);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}
