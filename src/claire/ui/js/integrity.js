// The integrity badge (GET /integrity, served from the service's background verifier of the
// tail, so polling it is cheap) and the live tail (GET /events/stream, Server-Sent Events).

import * as api from "./api.js";
import { el, replace } from "./dom.js";
import { integer, shortId, utc } from "./format.js";

const POLL_MS = 10000;
const POLL_VERIFYING_MS = 2000; // while the background verifier catches up, watch it move

export class IntegrityBadge {
  constructor(root, { onBreak }) {
    this.root = root;
    this.onBreak = onBreak;
    this.timer = null;
  }

  start() {
    this.refresh();
  }

  async refresh() {
    let next = POLL_MS;
    try {
      const doc = await api.get("/integrity");
      this.render(doc);
      if (doc.status === "verifying") next = POLL_VERIFYING_MS;
    } catch (error) {
      const text = error.status === 404 ? "integrity not served" : `integrity unknown: ${error.message}`;
      this.root.className = "badge-integrity unknown";
      replace(this.root, el("span", null, "? ", text));
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), next);
  }

  render(doc) {
    const cp = doc.checkpoint;
    let checkpoint = "no signed checkpoint";
    if (cp) {
      const trust = cp.trusted ? "trusted key" : "key not trusted";
      const problem = cp.problem || (cp.matches_log === false ? "does not match the log" : null);
      checkpoint = `signed checkpoint at seq ${integer(cp.sequence_number)}, ${utc(cp.created_at)} UTC (${trust}, ${shortId(cp.key_fingerprint)})${problem ? ` ⚠ ${problem}` : ""}`;
    }
    let status;
    let text;
    if (doc.status === "broken" && doc.first_break) {
      status = "broken";
      text = `✗ hash chain broken at sequence ${integer(doc.first_break.sequence_number)}`;
    } else if (doc.status === "verified") {
      status = "verified";
      text = `✓ hash chain verified to sequence ${integer(doc.verified_to_sequence)}`;
    } else if (doc.status === "unavailable") {
      status = "unknown";
      text = `? integrity unknown: ${doc.error || "the store is unavailable"}`;
    } else {
      status = "verifying";
      text = doc.head_sequence
        ? `… verifying hash chain (${integer(doc.verified_to_sequence)} of ${integer(doc.head_sequence)})`
        : "… verifying hash chain";
    }
    const detail =
      status === "broken"
        ? `${doc.first_break.problem || ""}: ${doc.first_break.message || ""}`.replace(/^: /, "")
        : checkpoint;
    this.root.className = `badge-integrity ${status}`;
    this.root.title = detail;
    replace(
      this.root,
      el(
        "button",
        {
          type: "button",
          class: "badge-button",
          "aria-label": `${text}; ${detail}`,
          onclick: () => status === "broken" && this.onBreak(doc.first_break.sequence_number),
        },
        text,
      ),
      el("span", { class: "badge-sub" }, status === "broken" ? detail : checkpoint),
    );
  }
}

/**
 * Follow GET /events/stream. fetch() rather than EventSource, because EventSource cannot send
 * the bearer header; resumes after a dropped connection from the last sequence seen.
 */
export class LiveTail {
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSequence = null;
    this.controller = null;
    this.stopped = false;
  }

  start(fromSequence) {
    this.lastSequence = fromSequence - 1;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.follow();
      } catch (error) {
        if (api.aborted(error)) return;
        this.onState("offline", error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  async follow() {
    this.controller = new AbortController();
    const response = await fetch(`/events/stream?from_sequence=${this.lastSequence + 1}`, {
      headers: api.headers({ Accept: "text/event-stream" }),
      signal: this.controller.signal,
    });
    if (!response.ok || !response.body) throw new Error(`live tail: HTTP ${response.status}`);
    this.onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        this.message(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
      }
    }
  }

  message(block) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (!data) return;
    const event = JSON.parse(data);
    if (typeof event.sequence_number === "number") this.lastSequence = event.sequence_number;
    this.onEvent(event);
  }
}
