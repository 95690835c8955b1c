// The event table: a window of events around the cursor, filtered like the chart (symbol and
// event types). Clicking a row selects that event (and moves the cursor to it). Stepping the
// cursor event by event walks this window, which is refilled around the cursor near its ends.

import * as api from "./api.js";
import { el, replace } from "./dom.js";
import { integer, typeLabel, utc } from "./format.js";
import { verifiedMark } from "./explain.js";

const WINDOW = 60; // events each side of the cursor
const REFILL_MARGIN = 8;

export class EventTable {
  constructor(root, status, { onSelect }) {
    this.root = root;
    this.status = status;
    this.onSelect = onSelect;
    this.lines = [];
    this.rows = new Map();
    this.filter = { symbol: null, types: null };
    this.more = { before: false, after: false };
    this.current = null;
    this.fetch = api.latest();
    this.loading = null;
  }

  params(extra) {
    return {
      symbol: this.filter.symbol,
      types: this.filter.types ? [...this.filter.types].join(",") : null,
      ...extra,
    };
  }

  /** Load the window around sequence `seq` (the cursor). */
  async load(seq, filter = this.filter) {
    this.filter = filter;
    const around = Math.max(1, seq || 1);
    this.loading = this.fetch("/timeline/events", {
      params: this.params({ around, before: WINDOW, after: WINDOW }),
    });
    try {
      const page = await this.loading;
      this.lines = page.events;
      this.more = { before: page.has_more_before, after: page.has_more_after };
      this.render();
      this.highlight(seq);
    } catch (error) {
      if (!api.aborted(error)) replace(this.status, `Events could not be loaded: ${error.message}`);
      throw error;
    } finally {
      this.loading = null;
    }
  }

  async extend(direction) {
    if (!this.lines.length) return;
    const params =
      direction === "before"
        ? { around: this.lines[0].sequence_number, before: WINDOW, after: 0 }
        : { around: this.lines[this.lines.length - 1].sequence_number, before: 0, after: WINDOW };
    const page = await api.get("/timeline/events", this.params(params));
    const known = new Set(this.lines.map((l) => l.sequence_number));
    const fresh = page.events.filter((l) => !known.has(l.sequence_number));
    if (direction === "before") {
      this.lines = [...fresh, ...this.lines];
      this.more.before = page.has_more_before;
    } else {
      this.lines = [...this.lines, ...fresh];
      this.more.after = page.has_more_after;
    }
    this.render();
    this.highlight(this.current);
  }

  render() {
    this.rows = new Map();
    const body = this.lines.map((line) => {
      const row = el(
        "tr",
        {
          tabindex: "-1",
          dataset: { seq: line.sequence_number, type: line.event_type, id: line.event_id },
          onclick: () => this.onSelect(line.event_id, line),
        },
        el("td", { class: "num" }, integer(line.sequence_number)),
        el("td", { class: "time" }, utc(line.time)),
        el("td", null, el("span", { class: ["type", `t-${line.event_type}`] }, typeLabel(line.event_type))),
        el("td", null, line.symbol ?? ""),
        el(
          "td",
          { class: "summary" },
          verifiedMark(line), // first: a long summary is cut at the right edge
          el(
            "button",
            { type: "button", class: "row-button", title: line.summary, onclick: (e) => {
              e.stopPropagation();
              this.onSelect(line.event_id, line);
            } },
            line.summary,
          ),
        ),
      );
      this.rows.set(line.sequence_number, row);
      return row;
    });
    const earlier = this.more.before
      ? el("button", { type: "button", class: "small", onclick: () => this.extend("before") }, "earlier events")
      : null;
    const later = this.more.after
      ? el("button", { type: "button", class: "small", onclick: () => this.extend("after") }, "later events")
      : null;
    replace(
      this.root,
      earlier ? el("tr", { class: "more" }, el("td", { colspan: 5 }, earlier)) : null,
      body,
      later ? el("tr", { class: "more" }, el("td", { colspan: 5 }, later)) : null,
    );
    replace(
      this.status,
      this.lines.length
        ? `${integer(this.lines.length)} events shown (seq ${integer(this.lines[0].sequence_number)}–${integer(this.lines[this.lines.length - 1].sequence_number)})`
        : "No events match these filters.",
    );
  }

  /** Mark the last event at or before the cursor's sequence and keep it in view. */
  highlight(seq) {
    this.current = seq;
    this.root.querySelector("tr.current")?.classList.remove("current");
    this.root.querySelector("tr.after-cursor")?.classList.remove("after-cursor");
    const index = this.indexAtOrBefore(seq);
    if (index < 0) return;
    const row = this.rows.get(this.lines[index].sequence_number);
    row?.classList.add("current");
    row?.scrollIntoView({ block: "center" });
  }

  indexAtOrBefore(seq) {
    let found = -1;
    for (let i = 0; i < this.lines.length && this.lines[i].sequence_number <= seq; i += 1) found = i;
    return found;
  }

  /** The next (+1) or previous (−1) event from the cursor's sequence, or null. */
  step(seq, direction) {
    const index = this.indexAtOrBefore(seq);
    const onEvent = index >= 0 && this.lines[index].sequence_number === seq;
    const target = direction > 0 ? index + 1 : onEvent ? index - 1 : index;
    const line = this.lines[target] ?? null;
    const nearEnd = target >= this.lines.length - REFILL_MARGIN && this.more.after;
    const nearStart = target < REFILL_MARGIN && this.more.before;
    if (line && (nearEnd || nearStart) && !this.loading) {
      this.load(line.sequence_number).catch(() => {});
    }
    return line;
  }

  /** A live event: appended when the window reaches the head and it passes the filters. */
  addLive(line) {
    if (this.more.after) return;
    if (this.filter.symbol && line.symbol !== this.filter.symbol) return;
    if (this.filter.types && !this.filter.types.has(line.event_type)) return;
    if (this.rows.has(line.sequence_number)) return;
    this.lines.push(line);
    if (this.lines.length > 4 * WINDOW) this.lines.splice(0, this.lines.length - 4 * WINDOW);
    this.render();
    this.highlight(this.current);
  }
}
