// The scene panel: the bot's state as of the cursor (GET /scene, as `claire scene`), with what
// changed since the previous step highlighted. Each value keeps its exact decimal string in
// data-value, so tests compare with `claire scene --json` without parsing formatted text.

import { el, grid, replace } from "./dom.js";
import { decimal, difference, integer, percent, sign, signed, utc } from "./format.js";

function tone(value) {
  const s = sign(value);
  return s > 0 ? "gain" : s < 0 ? "loss" : "";
}

function delta(current, previous) {
  if (previous === undefined || previous === null || current === previous) return null;
  const change = difference(current, previous);
  if (change === null || sign(change) === 0) return null;
  return el("span", { class: ["delta", tone(change)] }, signed(change, 2));
}

function stat(label, field, value, previous, { pct = null, signedValue = false } = {}) {
  const changed = previous !== undefined && previous !== value;
  return el(
    "div",
    { class: ["stat", changed && "changed"] },
    el("span", { class: "stat-label" }, label),
    el(
      "span",
      { class: ["stat-value", signedValue && tone(value)], dataset: { field, value } },
      signedValue ? signed(value, 2) : decimal(value, 2),
    ),
    pct !== null ? el("span", { class: "stat-sub" }, pct) : null,
    delta(value, previous),
  );
}

const POSITION_FIELDS = ["size", "entry_price", "unrealized_pnl", "stop_loss_price"];

function positionRow(position, before, onTrade) {
  const changedFields = new Set(
    before ? POSITION_FIELDS.filter((f) => before[f] !== position[f]) : POSITION_FIELDS,
  );
  const cell = (field, text, extra = "") =>
    el(
      "td",
      {
        class: ["num", extra, before && changedFields.has(field) && "changed"],
        dataset: { field, value: position[field] },
      },
      text,
    );
  const long = position.side === "BUY";
  return el(
    "tr",
    { class: [!before && "added"], dataset: { symbol: position.symbol } },
    el(
      "td",
      null,
      el(
        "button",
        {
          class: "link",
          type: "button",
          title: "Open this trade (all events of its correlation id)",
          onclick: () => onTrade(position.correlation_id),
        },
        position.symbol,
      ),
      " ",
      el("span", { class: ["side", long ? "long" : "short"], dataset: { field: "side", value: position.side } }, long ? "long" : "short"),
    ),
    cell("size", decimal(position.size)),
    cell("entry_price", decimal(position.entry_price)),
    el(
      "td",
      {
        class: ["num", tone(position.unrealized_pnl), before && changedFields.has("unrealized_pnl") && "changed"],
        title: `marked at the last price ${position.last_price}`,
        dataset: { field: "unrealized_pnl", value: position.unrealized_pnl, lastPrice: position.last_price },
      },
      signed(position.unrealized_pnl, 2),
    ),
    cell("stop_loss_price", decimal(position.stop_loss_price)),
  );
}

function positionsTable(positions, previous, onTrade) {
  const before = new Map((previous || []).map((p) => [`${p.symbol}/${p.side}`, p]));
  const now = new Set(positions.map((p) => `${p.symbol}/${p.side}`));
  const closed = previous ? [...before.entries()].filter(([key]) => !now.has(key)) : [];
  if (!positions.length && !closed.length) {
    return el("p", { class: "empty" }, "No open positions.");
  }
  const rows = positions.map((p) =>
    positionRow(p, previous ? before.get(`${p.symbol}/${p.side}`) : p, onTrade),
  );
  for (const [, p] of closed) {
    rows.push(
      el(
        "tr",
        { class: "closed", title: "Closed at this step" },
        el("td", null, p.symbol),
        el("td", { colspan: 4 }, `${p.side === "BUY" ? "long" : "short"} closed at this step`),
      ),
    );
  }
  return grid("positions", ["Position", "Size", "Entry", "Unreal. PnL", "Stop"], rows);
}

function ordersList(orders, previous) {
  if (!orders.length) return el("p", { class: "empty" }, "No open orders.");
  const before = new Set((previous || []).map((o) => o.order_id));
  return el(
    "ul",
    { class: "plain orders" },
    orders.map((o) =>
      el(
        "li",
        { class: [previous && !before.has(o.order_id) && "changed"] },
        `${o.side} ${o.symbol} ${decimal(o.size)}${o.reduce_only ? " (reduce only)" : ""}`,
        el("span", { class: "muted" }, ` ${o.order_id}`),
      ),
    ),
  );
}

function pricesList(prices, previous, focus) {
  const symbols = Object.keys(prices).sort();
  if (!symbols.length) return el("p", { class: "empty" }, "No prices yet.");
  return el(
    "dl",
    { class: "prices" },
    symbols.map((symbol) => {
      const changed = previous && previous[symbol] !== prices[symbol];
      return el(
        "div",
        { class: ["price", changed && "changed", symbol === focus && "focus"] },
        el("dt", null, symbol),
        el("dd", { dataset: { field: "last_price", symbol, value: prices[symbol] } }, decimal(prices[symbol])),
      );
    }),
  );
}

/**
 * Render `scene` into `root`. `previous` is the scene shown before this step (null for the
 * first one, or after a jump the user would not read as a step).
 */
export function renderScene(root, scene, previous, { onTrade, focusSymbol }) {
  const state = scene.state;
  const prev = previous?.state;
  const snapshot = scene.snapshot
    ? `from the snapshot at seq ${integer(scene.snapshot.at_sequence)} + ${integer(scene.events_folded)} events folded`
    : `${integer(scene.events_folded)} events folded from the start`;
  replace(
    root,
    el(
      "header",
      { class: "panel-head" },
      el("h2", null, "Scene"),
      el(
        "p",
        { class: "as-of" },
        "as of ",
        el("time", { datetime: scene.as_of_time, dataset: { field: "as_of_time", value: scene.as_of_time } }, `${utc(scene.as_of_time)} UTC`),
        " · seq ",
        el("span", { dataset: { field: "as_of_sequence", value: scene.as_of_sequence } }, integer(scene.as_of_sequence)),
      ),
    ),
    el(
      "div",
      { class: "stats" },
      stat("Equity", "equity", state.equity, prev?.equity),
      stat("Daily PnL", "daily_pnl", state.daily_pnl, prev?.daily_pnl, { signedValue: true }),
      stat("Unrealised PnL", "unrealized_pnl", state.unrealized_pnl, prev?.unrealized_pnl, { signedValue: true }),
      stat("Exposure", "exposure", state.exposure, prev?.exposure, {
        pct: percent(state.total_exposure_pct),
      }),
    ),
    el("h3", null, `Open positions (${state.positions.length})`),
    positionsTable(state.positions, prev?.positions, onTrade),
    el("h3", null, `Open orders (${state.open_orders.length})`),
    ordersList(state.open_orders, prev?.open_orders),
    el("h3", null, "Last prices"),
    pricesList(state.last_prices, prev?.last_prices, focusSymbol),
    el("p", { class: "footnote muted" }, `Built ${snapshot}, never a full replay.`),
    scene.snapshot_rejected ? el("p", { class: "problem" }, `⚠ snapshot not used: ${scene.snapshot_rejected}`) : null,
  );
}
