// The time cursor drawn over the chart, and the bar lookup both use.

import { el } from "./dom.js";

/** Index of the last value ≤ x in a sorted array (−1 when x is before the first). */
export function floorIndex(sorted, x) {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/**
 * The cursor: a vertical line through the three panes and its time on the axis. Plain
 * elements over the canvas, so moving it costs no chart redraw (stepping stays fast).
 */
export class CursorOverlay {
  constructor(container) {
    this.line = el("div", { class: "cursor-line", "aria-hidden": "true" });
    this.label = el("div", { class: "cursor-axis-label", "aria-hidden": "true" });
    this.line.hidden = true; // until the first scene places the cursor
    this.label.hidden = true;
    container.append(this.line, this.label);
  }

  place(x, axisTop, width, text) {
    const visible = x !== null && x >= 0 && x <= width;
    this.line.hidden = !visible;
    this.label.hidden = !visible;
    if (!visible) return;
    this.line.style.transform = `translateX(${Math.round(x)}px)`;
    this.line.style.height = `${axisTop}px`;
    this.label.textContent = text;
    this.label.style.top = `${axisTop}px`;
    const half = this.label.offsetWidth / 2;
    this.label.style.transform = `translateX(${Math.round(Math.min(Math.max(x - half, 0), width - 2 * half))}px)`;
  }
}
