// The explanation panel: decision, signal, market data, every risk check (value vs limit,
// failed ones stand out), the causation chain root first, and the effects. Every event in it
// can be selected and its raw record opened. Also the "why in or out of SYMBOL at TIME"
// answer of GET /explain?at=&symbol= (issue 10 §1), which wraps such an explanation.

import { el, grid, replace } from "./dom.js";
import { decimal, integer, percent, signed, typeLabel, utc } from "./format.js";

/** "⚠ problem" for an event whose stored record did not verify; nothing when it did. */
export function verifiedMark(item) {
  if (!item || item.verified !== false) return null;
  const problem = item.problem || "this event did not verify against the hash chain";
  return el("span", { class: "warn-mark", title: problem, role: "img", "aria-label": `not verified: ${problem}` }, "⚠");
}

export function problemNote(item) {
  if (!item || item.verified !== false) return null;
  return el("p", { class: "problem" }, "⚠ ", item.problem || "this event did not verify against the hash chain");
}

function fields(rows) {
  const items = rows.filter(([, value]) => value !== undefined && value !== null && value !== "");
  return el(
    "dl",
    { class: "fields" },
    items.map(([label, value, field]) =>
      el("div", null, el("dt", null, label), el("dd", field ? { dataset: { field, value } } : null, value instanceof Node ? value : String(value))),
    ),
  );
}

function eventRef(link, actions, current) {
  return el(
    "span",
    { class: "event-ref" },
    el(
      "button",
      {
        type: "button",
        class: ["link", current && "current"],
        title: `Select ${typeLabel(link.event_type)} seq ${link.sequence_number}`,
        onclick: () => actions.select(link.event_id),
      },
      `${typeLabel(link.event_type)} · seq ${integer(link.sequence_number)}`,
    ),
    " ",
    el(
      "button",
      { type: "button", class: "raw-link", title: "Raw JSON, hash and sequence", onclick: () => actions.raw(link.event_id) },
      "{ }",
    ),
    verifiedMark(link),
  );
}

function section(title, ...children) {
  return el("section", { class: "explain-section" }, el("h3", null, title), ...children);
}

function riskChecks(checks) {
  if (!checks.length) return el("p", { class: "empty" }, "No risk checks recorded.");
  return grid(
    "checks",
    ["Check", "Value", "Limit", "Result"],
    checks.map((check) => {
      const result = !check.checked ? "not checked" : check.passed ? "passed" : "FAILED";
      return el(
        "tr",
        { class: [check.checked && !check.passed && "failed"], dataset: { check: check.name } },
        el("th", { scope: "row" }, check.name),
        el("td", { class: "num", dataset: { field: "current_value" } }, check.current_value ?? "—"),
        el("td", { class: "num", dataset: { field: "limit" } }, check.limit ?? "—"),
        el("td", { class: "result" }, check.checked && !check.passed ? "✗ " : check.checked ? "✓ " : "", result),
      );
    }),
  );
}

function chain(links, explainedId, actions) {
  return el(
    "ol",
    { class: "chain" },
    links.map((link, index) =>
      el(
        "li",
        { class: ["chain-step", link.event_id === explainedId && "explained"] },
        el("span", { class: "chain-dot", "aria-hidden": "true" }, index === 0 ? "◉" : "↓"),
        el(
          "div",
          { class: "chain-body" },
          eventRef(link, actions, link.event_id === explainedId),
          el("time", { class: "muted", datetime: link.timestamp_utc }, ` ${utc(link.timestamp_utc)}`),
          el("div", { class: "summary" }, link.summary),
        ),
      ),
    ),
  );
}

function decisionBadge(approved) {
  if (approved === true) return el("span", { class: "badge approved" }, "APPROVED");
  if (approved === false) return el("span", { class: "badge rejected" }, "REJECTED");
  return null;
}

/** The explanation document of GET /events/{id}/explain. */
function explanationNodes(doc, actions) {
  const event = doc.event;
  const decision = doc.decision?.payload;
  const signal = doc.signal?.payload;
  const market = doc.market_data?.payload;
  const risk = doc.risk_state;
  const failed = doc.risk_checks.filter((c) => c.checked && !c.passed);
  const nodes = [
    el(
      "header",
      { class: "explain-head" },
      el("h2", null, typeLabel(event.event_type), " ", event.event_type === "risk_decision" ? decisionBadge(event.approved) : null, verifiedMark(event)),
      el(
        "p",
        { class: "muted" },
        `seq ${integer(event.sequence_number)} · ${utc(event.timestamp_utc)} UTC · `,
        el("button", { type: "button", class: "link", onclick: () => actions.trade(event.correlation_id) }, "trade view"),
        " · ",
        el("button", { type: "button", class: "link", onclick: () => actions.raw(event.event_id) }, "raw JSON"),
      ),
      problemNote(event),
    ),
  ];
  if (decision) {
    nodes.push(
      section(
        "Decision",
        el("p", { class: ["reason", failed.length && "failed"], dataset: { field: "reason" } }, decision.reason ?? "—"),
        fields([
          ["Symbol", decision.symbol],
          ["Side", decision.side],
          ["Position size", decimal(decision.position_size)],
          ["Stop loss", decimal(decision.stop_loss_price)],
          ["Take profit", decision.take_profit_price && decimal(decision.take_profit_price)],
          ["Decision", doc.decision.relation !== "self" ? eventRef(doc.decision, actions) : null],
        ]),
      ),
    );
  }
  if (doc.decision) {
    // Right after the decision: the checks are the "why".
    const title = failed.length ? `Risk checks — ${failed.length} failed` : "Risk checks — all passed";
    nodes.push(section(title, riskChecks(doc.risk_checks)));
  }
  if (signal) {
    nodes.push(
      section(
        "Signal",
        el("p", { class: "reason" }, signal.reason ?? "—"),
        fields([
          ["Symbol", signal.symbol],
          ["Side", signal.side],
          ["Confidence", signal.confidence],
          ["Price", decimal(signal.price)],
          ["Event", eventRef(doc.signal, actions)],
        ]),
      ),
    );
  }
  if (market) {
    nodes.push(
      section(
        "Market data",
        fields([
          ["Symbol", market.symbol],
          ["Price", decimal(market.price)],
          ["Bid / ask", market.bid && `${decimal(market.bid)} / ${decimal(market.ask)}`],
          ["Volume", decimal(market.volume)],
          ["Event", eventRef(doc.market_data, actions)],
        ]),
      ),
    );
  }
  if (risk) {
    nodes.push(
      section(
        "Risk state",
        fields([
          ["Equity", decimal(risk.equity)],
          ["Daily PnL", signed(risk.daily_pnl)],
          ["Total exposure", percent(risk.total_exposure_pct)],
          ["Open positions", risk.open_positions],
        ]),
      ),
    );
  }
  nodes.push(section("Causation chain (root first)", chain(doc.causation_chain, event.event_id, actions)));
  nodes.push(
    section(
      "Effects",
      doc.effects.length ? chain(doc.effects, null, actions) : el("p", { class: "empty" }, "No effects: nothing followed from this event."),
    ),
  );
  return nodes;
}

export function renderExplanation(root, doc, actions) {
  replace(root, explanationNodes(doc, actions));
}

function outcomeText(outcome) {
  if (!outcome) return null;
  if (outcome.status === "open") return "Still open at the end of the log.";
  const exit = { stop_loss: "stop-loss", take_profit: "take-profit", signal: "a signal", other: "another event" }[outcome.exit] || outcome.exit || "an exit";
  const pnl = outcome.realized_pnl !== null && outcome.realized_pnl !== undefined ? `, realised PnL ${signed(outcome.realized_pnl)}` : "";
  const fees = outcome.fees ? ` after ${decimal(outcome.fees)} fees` : "";
  return `Closed later by ${exit} at seq ${integer(outcome.closed_at_sequence)} (${utc(outcome.closed_at_time)} UTC)${pnl}${fees}.`;
}

/** GET /explain?at=&symbol=: why the bot was in (or out of) SYMBOL at TIME. */
export function renderExplainAt(root, doc, actions) {
  const position = doc.position;
  const heading = doc.position_open
    ? `In ${doc.symbol} at ${utc(doc.at)} UTC: ${position.side === "BUY" ? "long" : "short"} ${decimal(position.size)} @ ${decimal(position.entry_price)}`
    : `Not in ${doc.symbol} at ${utc(doc.at)} UTC`;
  const lead =
    doc.decision_role === "opened_position" || (doc.decision_role === undefined && doc.position_open)
      ? "The decision that opened this position:"
      : "No position was open. The last decision on this symbol at or before that time:";
  const next = doc.next_decision;
  replace(
    root,
    el(
      "section",
      { class: ["why", doc.position_open ? "in" : "out"] },
      el("h2", null, heading),
      doc.position_open && position.unrealized_pnl !== undefined
        ? el("p", null, `Unrealised PnL at that time: ${signed(position.unrealized_pnl, 2)}`)
        : null,
      outcomeText(doc.outcome) ? el("p", null, outcomeText(doc.outcome)) : null,
      doc.outcome?.exit_reason ? el("p", { class: "muted" }, doc.outcome.exit_reason) : null,
      next
        ? el(
            "p",
            null,
            "Next decision after it: ",
            el("button", { type: "button", class: "link", onclick: () => actions.select(next.event_id) }, `seq ${integer(next.sequence_number)} at ${utc(next.time)} UTC`),
            ` — ${next.summary}`,
          )
        : el("p", { class: "muted" }, "No later decision on this symbol."),
      doc.explanation ? el("p", { class: "lead" }, lead) : null,
    ),
    doc.explanation ? explanationNodes(doc.explanation, actions) : el("p", { class: "empty" }, `No decision on ${doc.symbol} was made at or before that time.`),
  );
}
