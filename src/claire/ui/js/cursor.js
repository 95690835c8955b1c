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
    this.labelWidth = new Map(); // by text length: the digits are tabular, so one measure each
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
    // Reading offsetWidth forces a layout of everything changed so far (the scene a step has
    // just rendered): measured once per text length, not on every step.
    let labelWidth = this.labelWidth.get(text.length);
    if (labelWidth === undefined) {
      labelWidth = this.label.offsetWidth;
      this.labelWidth.set(text.length, labelWidth);
    }
    const left = Math.min(Math.max(x - labelWidth / 2, 0), width - labelWidth);
    this.label.style.transform = `translateX(${Math.round(left)}px)`;
  }
}

/**
 * The ring around the selected marker: an element over the canvas, so selecting a marker (every
 * step onto a decision or a fill) costs no redraw of the chart.
 */
export class SelectionRing {
  constructor(container) {
    this.node = el("div", { class: "marker-ring", "aria-hidden": "true" });
    this.node.hidden = true;
    container.append(this.node);
  }

  /** `point`: {x, y} in the container's coordinates, or null to hide the ring. */
  place(point) {
    this.node.hidden = point === null;
    if (point) this.node.style.transform = `translate(${Math.round(point.x)}px, ${Math.round(point.y)}px)`;
  }
}
