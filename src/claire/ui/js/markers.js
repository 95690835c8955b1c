// Marker kinds of GET /markers: how each is drawn, and which event type it stands for (so the
// event-type filter hides the same things on the chart and in the table).

export const MARKER_STYLE = {
  decision_approved: {
    label: "approved",
    color: "#2fbf71",
    shape: { buy: "arrowUp", sell: "arrowDown" },
    position: { buy: "atPriceBottom", sell: "atPriceTop" },
    size: 1,
    type: "risk_decision",
  },
  decision_rejected: {
    label: "rejected",
    color: "#ff5d73",
    shape: { buy: "arrowUp", sell: "arrowDown" },
    position: { buy: "atPriceBottom", sell: "atPriceTop" },
    size: 0.8,
    type: "risk_decision",
  },
  fill: {
    label: "fill",
    color: "#5aa9ff",
    shape: "circle",
    position: "atPriceMiddle",
    size: 0.7,
    type: "order_result",
  },
  stop_loss: {
    label: "stop-loss exit",
    color: "#ff8a3d",
    shape: "square",
    position: "atPriceMiddle",
    size: 1,
    text: "SL",
    type: "risk_decision",
  },
  take_profit: {
    label: "take-profit exit",
    color: "#b8e05a",
    shape: "square",
    position: "atPriceMiddle",
    size: 1,
    text: "TP",
    type: "risk_decision",
  },
  alert: {
    label: "alert",
    color: "#ffd166",
    shape: "circle",
    position: "aboveBar",
    size: 0.8,
    text: "!",
    type: "alert",
  },
  whatif_entry: {
    label: "what-if trade (■ x exit)",
    color: "#f0a63a",
    shape: { buy: "arrowUp", sell: "arrowDown" },
    position: { buy: "belowBar", sell: "aboveBar" },
    size: 1.2,
    type: null,
  },
  whatif_exit: {
    label: "what-if exit",
    color: "#f0a63a",
    shape: "square",
    position: "aboveBar",
    size: 0.8,
    text: "x",
    type: null,
  },
};

/** The event types a marker kind belongs to (what-if markers belong to none: always shown). */
export function kindTypes(kind) {
  const type = MARKER_STYLE[kind]?.type;
  return type ? [type] : [];
}

export const LEGEND = ["decision_approved", "decision_rejected", "fill", "stop_loss", "take_profit", "alert"];

/** The glyph for a marker kind in HTML lists and the legend. */
export function glyph(kind, side) {
  const style = MARKER_STYLE[kind];
  if (!style) return "•";
  if (typeof style.shape === "object" && side === undefined) return "▲▼";
  const shape = typeof style.shape === "object" ? style.shape[side === "SELL" ? "sell" : "buy"] : style.shape;
  return { arrowUp: "▲", arrowDown: "▼", circle: "●", square: "■" }[shape] || "•";
}
