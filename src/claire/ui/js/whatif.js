// The what-if view: `path=value` overrides (as `claire replay --set`) sent to POST /whatif;
// recorded and what-if trades on the same chart, both equity curves, and the first decision
// that came out differently. Nothing is stored.

import * as api from "./api.js";
import { el, grid, replace } from "./dom.js";
import { decimal, integer, signed, utc } from "./format.js";

/** "a=1; b=2" or one per line → {"a": "1", "b": "2"}; throws naming the bad entry. */
export function parseOverrides(text) {
  const overrides = {};
  for (const raw of text.split(/[\n;]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.indexOf("=");
    if (eq <= 0 || eq === entry.length - 1) {
      throw new Error(`"${entry}" is not path=value (for example risk.max_open_positions=1)`);
    }
    overrides[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  if (!Object.keys(overrides).length) throw new Error("enter at least one path=value override");
  return overrides;
}

export function overridesText(overrides) {
  return Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join("; ");
}

function tradeTotals(trades) {
  let wins = 0;
  for (const trade of trades) if (String(trade.pnl ?? "").match(/^[+]?\d*[1-9]/)) wins += 1;
  return `${integer(trades.length)} trades, ${integer(wins)} winning`;
}

/** An equity curve: the /equity document ({points}) or, as first drafted, its points. */
export function curvePoints(curve) {
  return Array.isArray(curve) ? curve : curve?.points || [];
}

// What the replay report says that a person compares first (the rest is in `claire replay`).
const SUMMARY_KEYS = [
  "decisions_recorded", "decisions_whatif", "decisions_changed", "trades_recorded",
  "trades_whatif", "pnl_difference", "total_difference", "inputs", "elapsed_seconds",
];

function summaryList(summary) {
  const rows = SUMMARY_KEYS.filter((k) => summary && summary[k] !== undefined && typeof summary[k] !== "object").map((k) => [k, summary[k]]);
  if (!rows.length) return null;
  return el(
    "dl",
    { class: "fields" },
    rows.map(([key, value]) => el("div", null, el("dt", null, key.replaceAll("_", " ")), el("dd", null, value === null ? "—" : String(value)))),
  );
}

function differences(items) {
  if (!Array.isArray(items) || !items.length) return null;
  return grid(
    "differences",
    ["Field", "Recorded", "What-if"],
    items.map((d) =>
      el("tr", null, el("td", { class: "mono" }, String(d.field)), el("td", null, String(d.recorded ?? "—")), el("td", null, String(d.replayed ?? d.whatif ?? "—"))),
    ),
  );
}

function firstChange(change, actions) {
  if (!change) return el("p", { class: "same" }, "No decision changed: the overrides leave every recorded decision as it was.");
  const id = change.recorded_event_id || change.event_id || change.recorded?.event_id;
  const seq = change.sequence_number ?? change.recorded?.sequence_number;
  const details = Object.entries(change).filter(([k, v]) => v !== null && typeof v !== "object" && !k.endsWith("event_id"));
  return el(
    "div",
    { class: "first-change" },
    el(
      "p",
      null,
      el("strong", null, "First changed decision"),
      seq !== undefined ? ` at seq ${integer(seq)}` : "",
      id ? " — " : "",
      id ? el("button", { type: "button", class: "link", onclick: () => actions.select(id) }, "explain the recorded one") : null,
    ),
    el("dl", { class: "fields" }, details.map(([k, v]) => el("div", null, el("dt", null, k.replaceAll("_", " ")), el("dd", null, String(v))))),
    differences(change.differences),
  );
}

function tradesTable(trades, symbol) {
  const mine = trades.filter((t) => !symbol || t.symbol === symbol);
  if (!mine.length) return el("p", { class: "empty" }, `No trades${symbol ? ` in ${symbol}` : ""}.`);
  return grid(
    "trades",
    ["Side", "Entry", "Exit", "PnL"],
    mine.map((t) =>
      el(
        "tr",
        null,
        el("td", null, t.side ?? ""),
        el("td", null, utc(t.entry_time)),
        el("td", null, t.exit_time ? utc(t.exit_time) : "open"),
        el("td", { class: "num" }, t.pnl === null || t.pnl === undefined ? "—" : signed(t.pnl, 2)),
      ),
    ),
  );
}

/** What-if trades of `symbol` as chart markers (entries and exits). */
export function overlayMarkers(trades, symbol) {
  const markers = [];
  for (const [index, trade] of trades.entries()) {
    if (trade.symbol !== symbol || !trade.entry_time) continue;
    markers.push({ event_id: `whatif-entry-${index}`, kind: "whatif_entry", side: trade.side, time: trade.entry_time });
    if (trade.exit_time) {
      markers.push({ event_id: `whatif-exit-${index}`, kind: "whatif_exit", side: trade.side, time: trade.exit_time });
    }
  }
  return markers;
}

export class WhatIfView {
  constructor(root, { onResult, onClear, actions }) {
    this.root = root;
    this.onResult = onResult;
    this.onClear = onClear;
    this.actions = actions;
    this.result = null;
    this.input = el("textarea", {
      id: "whatif-overrides",
      rows: "3",
      spellcheck: "false",
      placeholder: "risk.max_open_positions=1\nrisk.min_confidence=0.7",
      "aria-describedby": "whatif-help",
    });
    this.message = el("p", { class: "form-error", role: "alert" });
    this.output = el("div", { class: "whatif-output", "aria-live": "polite" });
    this.form = el(
      "form",
      { class: "whatif-form", onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      el("label", { for: "whatif-overrides" }, "Overrides"),
      this.input,
      el("p", { id: "whatif-help", class: "muted" }, "One path=value per line or separated by ;, as claire replay --set. Replays the whole log with them; nothing is stored."),
      el(
        "div",
        { class: "buttons" },
        el("button", { type: "submit", class: "primary" }, "Run what-if"),
        el("button", { type: "button", onclick: () => this.clear() }, "Clear"),
      ),
      this.message,
    );
  }

  mount() {
    replace(this.root, el("h2", null, "What if…"), this.form, this.output);
  }

  /** Run the overrides; `mode` is how the URL records it (see urlstate.writeUrl). */
  async submit(text = this.input.value, mode = "push") {
    this.input.value = text;
    this.message.textContent = "";
    let overrides;
    try {
      overrides = parseOverrides(text);
    } catch (error) {
      this.message.textContent = error.message;
      return;
    }
    replace(this.output, el("p", { class: "muted" }, "Replaying with the overrides…"));
    try {
      this.result = await api.post("/whatif", { overrides });
    } catch (error) {
      replace(this.output);
      this.message.textContent = error.message;
      return;
    }
    this.onResult(this.result, overrides, mode);
    this.show();
  }

  show(symbol = this.symbol) {
    this.symbol = symbol;
    const result = this.result;
    if (!result) return;
    const recorded = result.recorded?.trades || [];
    const whatif = result.whatif?.trades || [];
    const last = (side) => {
      const points = curvePoints(side?.equity);
      return points.length ? points[points.length - 1].equity_with_unrealized ?? points[points.length - 1].equity : null;
    };
    replace(
      this.output,
      firstChange(result.first_changed_decision, this.actions),
      el(
        "div",
        { class: "compare" },
        el("div", null, el("h3", null, el("span", { class: "swatch recorded" }), "Recorded"), el("p", null, tradeTotals(recorded)), el("p", null, `final equity ${decimal(last(result.recorded))}`)),
        el("div", null, el("h3", null, el("span", { class: "swatch whatif" }), "What-if"), el("p", null, tradeTotals(whatif)), el("p", null, `final equity ${decimal(last(result.whatif))}`)),
      ),
      summaryList(result.summary),
      el("h3", null, `What-if trades in ${symbol}`),
      tradesTable(whatif, symbol),
      el("h3", null, `Recorded trades in ${symbol}`),
      tradesTable(recorded, symbol),
    );
  }

  clear() {
    this.result = null;
    this.input.value = "";
    this.message.textContent = "";
    replace(this.output);
    this.onClear();
  }
}
