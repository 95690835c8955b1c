// The trade view (one correlation id's events in order, as `claire trace`) and the raw record
// of one event (canonical JSON, hash, previous hash, sequence).

import * as api from "./api.js";
import { el, replace } from "./dom.js";
import { integer, typeLabel, utc } from "./format.js";
import { problemNote, verifiedMark } from "./explain.js";

function renderTrade(root, doc, actions, selectedId) {
  const counts = Object.entries(doc.counts_by_type || {})
    .map(([type, count]) => `${count} ${typeLabel(type)}`)
    .join(" · ");
  replace(
    root,
    el(
      "header",
      { class: "explain-head" },
      el("h2", null, "Trade"),
      el("p", { class: "muted mono" }, doc.correlation_id),
      el("p", { class: "muted" }, `${integer(doc.total_events)} events: ${counts}`),
    ),
    el(
      "ol",
      { class: "chain trade" },
      doc.events.map((event) =>
        el(
          "li",
          { class: ["chain-step", event.event_id === selectedId && "explained"], dataset: { seq: event.sequence_number } },
          el("span", { class: "chain-dot", "aria-hidden": "true" }, String(event.number)),
          el(
            "div",
            { class: "chain-body" },
            el(
              "button",
              { type: "button", class: "link", onclick: () => actions.select(event.event_id) },
              `${typeLabel(event.event_type)} · seq ${integer(event.sequence_number)}`,
            ),
            " ",
            el("button", { type: "button", class: "raw-link", title: "Raw JSON", onclick: () => actions.raw(event.event_id) }, "{ }"),
            verifiedMark(event),
            el("time", { class: "muted", datetime: event.timestamp_utc }, ` ${utc(event.timestamp_utc)}`),
            el("div", { class: "summary" }, event.summary),
          ),
        ),
      ),
    ),
  );
}

function pretty(canonical) {
  try {
    return JSON.stringify(JSON.parse(canonical), null, 2);
  } catch {
    return canonical;
  }
}

function copyButton(text) {
  return el(
    "button",
    {
      type: "button",
      class: "small",
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = "copied";
        } catch {
          button.textContent = "copy failed";
        }
        setTimeout(() => {
          button.textContent = "copy";
        }, 1500);
      },
    },
    "copy",
  );
}

/**
 * `record` is GET /events/{id}/record; where that endpoint is missing, `event` (GET
 * /events/{id}) stands in and the hashes are said to be unavailable.
 */
function renderRaw(root, { record, event }, actions) {
  const canonical = record ? record.canonical : JSON.stringify(event, null, 2);
  const id = record ? record.event_id : event.event_id;
  const sequence = record ? record.sequence_number : event.sequence_number;
  replace(
    root,
    el(
      "header",
      { class: "explain-head" },
      el("h2", null, "Raw record ", verifiedMark(record)),
      el(
        "p",
        { class: "muted" },
        `seq ${integer(sequence)} · `,
        el("button", { type: "button", class: "link", onclick: () => actions.select(id) }, "explain this event"),
      ),
      problemNote(record),
    ),
    el(
      "dl",
      { class: "fields hashes" },
      el("div", null, el("dt", null, "Event id"), el("dd", { class: "mono" }, id)),
      el("div", null, el("dt", null, "Sequence"), el("dd", { class: "mono", dataset: { field: "sequence_number" } }, String(sequence))),
      record
        ? [
            el("div", null, el("dt", null, "Hash"), el("dd", { class: "mono", dataset: { field: "hash" } }, record.hash)),
            el("div", null, el("dt", null, "Previous hash"), el("dd", { class: "mono" }, record.prev_hash)),
            el(
              "div",
              null,
              el("dt", null, "Verifies"),
              el("dd", null, record.verified === false ? "no" : record.verified === true ? "yes: SHA-256(previous hash ‖ canonical) matches" : "not checked"),
            ),
          ]
        : el("div", null, el("dt", null, "Hash"), el("dd", { class: "muted" }, "not served by this service (GET /events/{id}/record is missing)")),
    ),
    el("h3", null, record ? "Canonical form (the hashed bytes) " : "Event document ", copyButton(canonical)),
    el("pre", { class: "raw canonical", tabindex: "0" }, canonical),
    record ? el("h3", null, "Readable") : null,
    record ? el("pre", { class: "raw", tabindex: "0" }, pretty(canonical)) : null,
  );
}


/** Fetch and show one trade (GET /correlations/{id}); an error is said in the panel. */
export async function showTrade(root, correlationId, actions, selectedId) {
  try {
    const doc = await api.get(`/correlations/${encodeURIComponent(correlationId)}`);
    renderTrade(root, doc, actions, selectedId);
  } catch (error) {
    replace(root, el("p", { class: "empty" }, error.message));
  }
}

/** Fetch and show an event's stored record (GET /events/{id}/record, else the event). */
export async function showRaw(root, eventId, actions) {
  const path = `/events/${encodeURIComponent(eventId)}`;
  try {
    let found;
    try {
      found = { record: await api.get(`${path}/record`) };
    } catch (error) {
      if (error.status !== 404) throw error;
      found = { event: await api.get(path) }; // a service without /record: the event itself
    }
    renderRaw(root, found, actions);
  } catch (error) {
    replace(root, el("p", { class: "empty" }, error.message));
  }
}
