// The controls around the chart: symbol, event-type filter, search, the cursor bar (step,
// play, speed, the draggable time slider), zoom, the detail tabs and the keyboard.

import { $, el, perFrame, replace, typingTarget } from "./dom.js";
import { EVENT_TYPES, integer, isoFromSeconds, typeLabel, utc } from "./format.js";
import { LEGEND, MARKER_STYLE, glyph } from "./markers.js";

const PLAY_TICK_MS = 250;
const TAB_KEYS = { e: "explain", t: "trade", r: "raw", w: "whatif" };

export class Controls {
  constructor(callbacks) {
    this.on = callbacks;
    this.chart = callbacks.chart;
    this.playing = null;
    this.range = { from: 0, to: 0 };
    this.dragging = false;
    this.bindHeader();
    this.bindCursorBar();
    this.bindTabs();
    this.bindKeys();
    this.renderLegend();
  }

  // --- header ----------------------------------------------------------------------------
  bindHeader() {
    $("#symbol").addEventListener("change", (event) => {
      this.pause();
      this.on.symbol(event.target.value);
    });
    const list = $("#types-list");
    for (const type of EVENT_TYPES) {
      list.append(
        el(
          "label",
          { class: "check" },
          el("input", { type: "checkbox", name: "types", value: type, onchange: () => this.typesChanged() }),
          el("span", { class: ["type", `t-${type}`] }, typeLabel(type)),
        ),
      );
    }
    $("#search-input").addEventListener("input", () => {
      $("#search-error").textContent = "";
    });
    $("#search").addEventListener("submit", (event) => {
      event.preventDefault();
      this.on.search($("#search-input").value);
    });
    const types = $("#types");
    document.addEventListener("click", (event) => {
      if (types.open && !types.contains(event.target)) types.open = false; // a dropdown closes outside
    });
    types.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !types.open) return;
      types.open = false;
      types.querySelector("summary").focus();
    });
    $("#help-button").addEventListener("click", () => $("#help-dialog").showModal());
    $("#zoom-in").addEventListener("click", () => this.zoom(0.5));
    $("#zoom-out").addEventListener("click", () => this.zoom(2));
    $("#zoom-fit").addEventListener("click", () => this.chart.fit());
  }

  setSymbols(symbols) {
    replace($("#symbol"), symbols.map((s) => el("option", { value: s }, s)));
  }

  showSymbol(symbol) {
    $("#symbol").value = symbol;
  }

  showTypes(types) {
    for (const box of $("#types-list").querySelectorAll("input")) box.checked = types.has(box.value);
    this.countTypes(types);
  }

  countTypes(types) {
    $("#types-count").textContent = types.size === EVENT_TYPES.length ? "(all)" : `(${types.size} of ${EVENT_TYPES.length})`;
  }

  typesChanged() {
    const types = new Set([...$("#types-list").querySelectorAll("input:checked")].map((box) => box.value));
    this.countTypes(types);
    this.on.types(types);
  }

  renderLegend(whatif = false) {
    const kinds = whatif ? [...LEGEND, "whatif_entry"] : LEGEND;
    replace(
      $("#legend"),
      kinds.map((kind) =>
        el(
          "li",
          null,
          el("span", { class: "glyph", style: `color: ${MARKER_STYLE[kind].color}`, "aria-hidden": "true" }, glyph(kind)),
          MARKER_STYLE[kind].label,
        ),
      ),
    );
  }

  zoom(factor) {
    const scale = this.chart.chart.timeScale();
    const range = scale.getVisibleLogicalRange();
    if (!range) return;
    const cursor = this.chart.cursorTime;
    const x = cursor === null ? null : this.chart.timeToX(cursor);
    const center = x === null ? (range.from + range.to) / 2 : scale.coordinateToLogical(x) ?? (range.from + range.to) / 2;
    const half = Math.max(((range.to - range.from) * factor) / 2, 10);
    scale.setVisibleLogicalRange({ from: center - half, to: center + half });
  }

  // --- cursor bar ------------------------------------------------------------------------
  bindCursorBar() {
    $("#prev-event").addEventListener("click", () => this.on.stepEvent(-1));
    $("#next-event").addEventListener("click", () => this.on.stepEvent(1));
    $("#prev-decision").addEventListener("click", () => this.on.stepDecision(-1));
    $("#next-decision").addEventListener("click", () => this.on.stepDecision(1));
    $("#play").addEventListener("click", () => this.togglePlay());
    const slider = $("#cursor-range");
    const scrub = perFrame((seconds) => this.on.scrub(seconds, false));
    slider.addEventListener("input", () => {
      this.pause();
      this.dragging = true;
      const seconds = Number(slider.value);
      this.chart.setCursor(seconds, utc(isoFromSeconds(seconds)).slice(11));
      this.chart.reveal(seconds);
      scrub(seconds);
    });
    slider.addEventListener("change", () => {
      this.dragging = false;
      this.on.scrub(Number(slider.value), true);
    });
  }

  setRange({ from, to }) {
    this.range = { from, to };
    const slider = $("#cursor-range");
    slider.min = String(from);
    slider.max = String(to + 1);
  }

  showCursor(seconds, seq) {
    if (seconds === null) return;
    if (!this.dragging) $("#cursor-range").value = String(seconds);
    $("#cursor-range").setAttribute("aria-valuetext", `${utc(isoFromSeconds(seconds))} UTC`);
    replace(
      $("#cursor-label"),
      el("time", { datetime: isoFromSeconds(seconds) }, `${utc(isoFromSeconds(seconds))} UTC`),
      el("span", { class: "muted" }, ` · seq ${integer(seq)}`),
    );
  }

  togglePlay() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    const button = $("#play");
    button.textContent = "❚❚";
    button.setAttribute("aria-pressed", "true");
    button.setAttribute("aria-label", "Pause");
    let seconds = Number($("#cursor-range").value);
    if (seconds >= this.range.to) seconds = this.range.from;
    this.playing = setInterval(() => {
      const speed = Number($("#speed").value);
      seconds = Math.min(seconds + (speed * PLAY_TICK_MS) / 1000, this.range.to + 1);
      this.on.scrub(seconds, false);
      if (seconds > this.range.to) this.pause();
    }, PLAY_TICK_MS);
  }

  pause() {
    if (!this.playing) return;
    clearInterval(this.playing);
    this.playing = null;
    const button = $("#play");
    button.textContent = "▶";
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", "Play");
    this.on.scrub(Number($("#cursor-range").value), true);
  }

  // --- tabs and keys ---------------------------------------------------------------------
  bindTabs() {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    for (const [index, tab] of tabs.entries()) {
      tab.addEventListener("click", () => this.on.showTab(tab.id.slice(4)));
      tab.addEventListener("keydown", (event) => {
        const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!move) return;
        event.preventDefault();
        event.stopPropagation();
        this.on.showTab(tabs[(index + move + tabs.length) % tabs.length].id.slice(4));
      });
    }
  }

  bindKeys() {
    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (typingTarget(event.target) || document.querySelector("dialog[open]")) return;
      const key = event.key;
      let handled = true;
      if (key === "ArrowRight" || key === "ArrowLeft") {
        this.pause();
        const direction = key === "ArrowRight" ? 1 : -1;
        if (event.shiftKey) this.on.stepDecision(direction);
        else this.on.stepEvent(direction);
      } else if (key === " " && !(event.target instanceof HTMLButtonElement)) {
        this.togglePlay();
      } else if (key === "/") {
        $("#search-input").focus();
      } else if (key === "?") {
        $("#help-dialog").showModal();
      } else if (key === "+" || key === "=") {
        this.zoom(0.5);
      } else if (key === "-" || key === "_") {
        this.zoom(2);
      } else if (key === "0") {
        this.chart.fit();
      } else if (TAB_KEYS[key]) {
        this.on.showTab(TAB_KEYS[key]);
      } else {
        handled = false;
      }
      if (handled) event.preventDefault();
    });
  }
}
