// The price chart (candles + markers), the equity pane and the drawdown pane on one time
// axis, with the time cursor drawn through all three. Built on TradingView Lightweight Charts.
//
// Everything is put on the candles' time grid: markers and equity points are snapped to the
// bucket that holds them, so the three panes share one set of bars and a cursor between two
// bars can be placed by interpolating the logical index (the library only knows bar times).

import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  LineSeries,
  LineStyle,
  createChart,
  createSeriesMarkers,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { CursorOverlay, SelectionRing, floorIndex } from "./cursor.js";
import { perFrame } from "./dom.js";
import { epochSeconds } from "./format.js";
import { MARKER_STYLE, kindTypes } from "./markers.js";

const COLORS = {
  background: "#0f141b",
  text: "#9fb0c3",
  grid: "#1a222d",
  border: "#2a3544",
  up: "#26a69a",
  down: "#ef5350",
  equity: "#5aa9ff",
  whatif: "#f0a63a",
  drawdown: "#ef5350",
  cursor: "#ffd166",
};

const BAR_POSITION = { atPriceTop: "aboveBar", atPriceBottom: "belowBar", atPriceMiddle: "inBar" };
const BAR_OFFSET = 14; // px from the bar's high or low to a marker drawn above or below it
const ON_MARKER_PX = 6; // a click this close to a marker's middle is on it

export class TimelineChart {
  constructor(container, { onMarker, onTime }) {
    this.container = container;
    this.times = []; // candle bucket times, epoch seconds, strictly increasing
    this.markers = [];
    this.types = null; // a Set of event types shown, null = all
    this.selectedId = null;
    this.cursorTime = null;
    this.cursorLabel = "";
    this.overlay = []; // what-if trade markers
    this.chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: COLORS.background },
        textColor: COLORS.text,
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        fontSize: 11,
        attributionLogo: true, // the licence's link to TradingView, on the chart itself
        panes: { separatorColor: COLORS.border, separatorHoverColor: "#3b4a5e" },
      },
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: COLORS.border, minimumWidth: 78 },
      timeScale: {
        borderColor: COLORS.border,
        timeVisible: true,
        secondsVisible: false,
        rightOffset: 4,
        minBarSpacing: 0.05, // a whole day (2,000 buckets) fits the width; zoom in for candles
      },
    });
    this.candles = this.chart.addSeries(
      CandlestickSeries,
      {
        upColor: COLORS.up,
        downColor: COLORS.down,
        wickUpColor: COLORS.up,
        wickDownColor: COLORS.down,
        borderVisible: false,
        priceLineVisible: false,
      },
      0,
    );
    this.equity = this.chart.addSeries(
      LineSeries,
      {
        color: COLORS.equity,
        lineWidth: 2,
        priceLineVisible: false,
        title: "equity",
        priceFormat: { type: "price", precision: 0, minMove: 1 },
      },
      1,
    );
    this.whatifEquity = this.chart.addSeries(
      LineSeries,
      {
        color: COLORS.whatif,
        lineWidth: 2,
        lineStyle: LineStyle.Dashed,
        priceLineVisible: false,
        lastValueVisible: false,
        title: "what-if",
        visible: false,
        priceFormat: { type: "price", precision: 0, minMove: 1 },
      },
      1,
    );
    this.drawdown = this.chart.addSeries(
      AreaSeries,
      {
        lineColor: COLORS.drawdown,
        topColor: "rgba(239, 83, 80, 0.05)",
        bottomColor: "rgba(239, 83, 80, 0.35)",
        lineWidth: 1,
        priceLineVisible: false,
        title: "drawdown %",
        priceFormat: { type: "custom", formatter: (v) => `${v.toFixed(2)} %`, minMove: 0.01 },
      },
      2,
    );
    this.markerLayer = createSeriesMarkers(this.candles, [], { autoScale: true });
    this.cursor = new CursorOverlay(container);
    this.ring = new SelectionRing(container);
    this.height = container.clientHeight; // kept by the ResizeObserver: no layout read per step
    const redraw = perFrame(() => {
      this.drawCursor();
      this.drawRing();
    });
    this.chart.timeScale().subscribeVisibleLogicalRangeChange(redraw);
    this.chart.timeScale().subscribeSizeChange(redraw);
    this.layoutPanes();
    this.chart.subscribeClick((param) => this.clicked(param, onMarker, onTime));
    new ResizeObserver(() => this.layoutPanes()).observe(container);
  }

  layoutPanes() {
    const panes = this.chart.panes();
    const height = this.container.clientHeight;
    this.height = height;
    if (panes.length < 3 || height < 100) return;
    panes[1].setHeight(Math.round(height * 0.2));
    panes[2].setHeight(Math.round(height * 0.13));
  }

  /** Candles from GET /series points ({time, open, high, low, close} with decimal strings). */
  setSeries(points) {
    const bars = [];
    for (const point of points) {
      const time = epochSeconds(point.time);
      const bar = {
        time,
        open: Number(point.open),
        high: Number(point.high),
        low: Number(point.low),
        close: Number(point.close),
      };
      const last = bars[bars.length - 1];
      if (last && last.time >= time) {
        // two buckets in one second: merge, the chart needs strictly increasing times
        last.high = Math.max(last.high, bar.high);
        last.low = Math.min(last.low, bar.low);
        last.close = bar.close;
      } else {
        bars.push(bar);
      }
    }
    this.times = bars.map((bar) => bar.time);
    this.candles.setData(bars);
    const digits = decimalsOf(points[0]?.close);
    this.candles.applyOptions({
      priceFormat: { type: "price", precision: digits, minMove: 10 ** -digits },
    });
  }

  /** Extend the chart live with one market_data price (a new bar, or the last bar updated). */
  addPrice(iso, price) {
    const time = epochSeconds(iso);
    const value = Number(price);
    const lastTime = this.times[this.times.length - 1];
    if (lastTime === undefined || time > lastTime) {
      this.times.push(time);
      this.candles.update({ time, open: value, high: value, low: value, close: value });
    } else {
      const bars = this.candles.data();
      const bar = bars[bars.length - 1];
      if (!bar) return;
      this.candles.update({
        time: bar.time,
        open: bar.open,
        high: Math.max(bar.high, value),
        low: Math.min(bar.low, value),
        close: value,
      });
    }
  }

  /** The bucket time a moment belongs to (the chart's bars are bucket starts). */
  snap(seconds) {
    const index = floorIndex(this.times, seconds);
    return this.times[Math.max(0, index)];
  }

  /** Equity and drawdown (GET /equity points), as of the end of each candle bucket. */
  setEquity(points, target = this.equity, withDrawdown = true) {
    const equity = [];
    const drawdown = [];
    let next = 0;
    let current = null;
    for (let i = 0; i < this.times.length; i += 1) {
      const end = i + 1 < this.times.length ? this.times[i + 1] : Number.POSITIVE_INFINITY;
      while (next < points.length && epochSeconds(points[next].time) < end) {
        current = points[next];
        next += 1;
      }
      if (!current) continue;
      const time = this.times[i];
      equity.push({ time, value: Number(current.equity_with_unrealized ?? current.equity) });
      if (withDrawdown) drawdown.push({ time, value: -100 * Number(current.drawdown_pct ?? 0) });
    }
    target.setData(equity);
    if (withDrawdown) this.drawdown.setData(drawdown);
  }

  /** Recorded vs what-if: a second equity curve and the what-if trades as extra markers. */
  setWhatIf(whatifPoints, overlayMarkers) {
    if (!whatifPoints) {
      this.whatifEquity.applyOptions({ visible: false });
      this.whatifEquity.setData([]);
      this.overlay = [];
    } else {
      this.setEquity(whatifPoints, this.whatifEquity, false);
      this.whatifEquity.applyOptions({ visible: true });
      this.overlay = overlayMarkers;
    }
    this.drawMarkers();
  }

  /** Markers from GET /markers; `kinds` limits which are drawn (the event-type filter). */
  setMarkers(markers) {
    this.markers = markers.map((marker) => ({ ...marker, seconds: epochSeconds(marker.time) }));
    this.drawMarkers();
  }

  setTypes(types) {
    this.types = types;
    this.drawMarkers();
  }

  select(eventId) {
    this.selectedId = eventId;
    this.drawRing();
  }

  /** The selected marker's ring (an element: moving it costs no chart redraw). */
  drawRing() {
    const marker = this.selectedId === null ? null : this.markers.find((m) => m.event_id === this.selectedId);
    const shown = marker && (!this.types || kindTypes(marker.kind).some((t) => this.types.has(t)));
    const point = shown ? this.markerXY(marker) : null;
    const width = this.chart.timeScale().width();
    this.ring.place(point && point.x >= 0 && point.x <= width ? point : null);
  }

  visibleMarkers() {
    if (!this.times.length) return [];
    return this.markers.filter((m) => !this.types || kindTypes(m.kind).some((t) => this.types.has(t)));
  }

  drawMarkers() {
    if (!this.times.length) return;
    const drawn = [];
    for (const marker of [...this.visibleMarkers(), ...this.overlay]) {
      const style = MARKER_STYLE[marker.kind] || MARKER_STYLE.alert;
      const side = marker.side === "SELL" ? "sell" : "buy";
      const item = {
        id: marker.event_id,
        time: this.snap(marker.seconds ?? epochSeconds(marker.time)),
        color: style.color,
        shape: typeof style.shape === "object" ? style.shape[side] : style.shape,
        position: typeof style.position === "object" ? style.position[side] : style.position,
        size: style.size,
      };
      if (style.text) item.text = style.text;
      if (item.position.startsWith("atPrice")) {
        if (marker.price) item.price = Number(marker.price);
        else item.position = BAR_POSITION[item.position]; // no price: place it by the bar
      }
      marker.drawnAt = item.position;
      marker.drawnSize = item.size;
      drawn.push(item);
    }
    drawn.sort((a, b) => a.time - b.time);
    this.markerLayer.setMarkers(drawn);
    requestAnimationFrame(() => this.drawRing()); // once the chart has placed them
  }

  /** The x of a time, between bars by interpolating (the library maps whole bars only). */
  timeToX(seconds) {
    const times = this.times;
    if (seconds === null || times.length === 0) return null;
    const scale = this.chart.timeScale();
    if (times.length === 1) return scale.logicalToCoordinate(0);
    const i = Math.min(Math.max(floorIndex(times, seconds), 0), times.length - 2);
    const fraction = (seconds - times[i]) / (times[i + 1] - times[i]);
    const left = scale.logicalToCoordinate(i);
    const right = scale.logicalToCoordinate(i + 1);
    if (left === null || right === null) return null;
    return left + fraction * (right - left);
  }

  xToTime(x) {
    const logical = this.chart.timeScale().coordinateToLogical(x);
    if (logical === null || !this.times.length) return null;
    const last = this.times.length - 1;
    const i = Math.min(Math.max(Math.floor(logical), 0), last);
    if (i === last) return this.times[last];
    return Math.round(this.times[i] + (logical - i) * (this.times[i + 1] - this.times[i]));
  }

  setCursor(seconds, label) {
    this.cursorTime = seconds;
    this.cursorLabel = label;
    this.drawCursor();
  }

  drawCursor() {
    const scale = this.chart.timeScale();
    const axisTop = this.height - scale.height();
    this.cursor.place(this.timeToX(this.cursorTime), axisTop, scale.width(), this.cursorLabel);
  }

  /** Keep the cursor in view: scroll (keeping the zoom) only when it is off the chart. */
  reveal(seconds) {
    const x = this.timeToX(seconds);
    const width = this.chart.timeScale().width();
    if (x === null || (x >= 0 && x <= width)) return;
    const logical = this.chart.timeScale().getVisibleLogicalRange();
    if (!logical) return;
    const half = (logical.to - logical.from) / 2;
    const center = floorIndex(this.times, seconds);
    this.chart.timeScale().setVisibleLogicalRange({ from: center - half, to: center + half });
  }

  fit() {
    this.chart.timeScale().fitContent();
  }

  /** The y of a marker's middle as drawn: at its price, or above/below/in its bar. */
  markerY(marker) {
    const position = marker.drawnAt || "inBar";
    if (marker.price && position.startsWith("atPrice")) {
      const y = this.candles.priceToCoordinate(Number(marker.price));
      if (y === null || position === "atPriceMiddle") return y;
      // The library puts the shape's edge at the price, the shape above (atPriceTop) or below
      // it: its middle is half a shape away (sizes as the library computes them).
      const half = (shapeSize(this.chart.timeScale().options().barSpacing) * marker.drawnSize) / 2;
      return position === "atPriceTop" ? y - half : y + half;
    }
    const bar = this.candles.data()[floorIndex(this.times, marker.seconds)];
    if (!bar) return null;
    if (position === "aboveBar") return this.candles.priceToCoordinate(bar.high) - BAR_OFFSET;
    if (position === "belowBar") return this.candles.priceToCoordinate(bar.low) + BAR_OFFSET;
    return this.candles.priceToCoordinate(bar.close);
  }

  /** Where a marker is drawn, in the chart's own coordinates (null when it is not). */
  markerXY(marker) {
    const x = this.timeToX(this.snap(marker.seconds));
    const y = this.markerY(marker);
    return x === null || y === null ? null : { x, y };
  }

  /** Where a marker is on the screen (client coordinates): for tests and the benchmark. */
  markerPoint(eventId) {
    const marker = this.markers.find((m) => m.event_id === eventId);
    const point = marker ? this.markerXY(marker) : null;
    if (!point) return null;
    const box = this.container.getBoundingClientRect();
    return { x: box.left + point.x, y: box.top + point.y };
  }

  clicked(param, onMarker, onTime) {
    if (!param.point) return;
    // Markers at the price overlap where a decision, its fill and an exit share a bucket: the
    // one whose middle is nearest the click wins; the library's hit (one of the overlapping
    // shapes) only when none is that close. Markers are small: a click within a few pixels of
    // one (in the price pane) selects it.
    const priceHeight = this.chart.panes()[0]?.getHeight() ?? 0;
    const nearest = param.point.y <= priceHeight ? this.nearestMarker(param.point.x, param.point.y) : null;
    const hovered = param.hoveredInfo?.objectId ?? param.hoveredObjectId;
    const hit = typeof hovered === "string" && this.markers.some((m) => m.event_id === hovered);
    if (nearest && (nearest.distance <= ON_MARKER_PX || !hit)) {
      onMarker(nearest.marker.event_id);
      return;
    }
    if (hit) {
      onMarker(hovered);
      return;
    }
    const seconds = this.xToTime(param.point.x);
    if (seconds !== null) onTime(seconds);
  }

  nearestMarker(x, y) {
    let best = null;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const marker of this.visibleMarkers()) {
      const mx = this.timeToX(this.snap(marker.seconds));
      if (mx === null || Math.abs(mx - x) > 8) continue;
      const my = this.markerY(marker);
      const distance = Math.abs(mx - x) + (my === null ? 20 : Math.abs(my - y));
      if (distance < bestDistance && distance < 40) {
        best = marker;
        bestDistance = distance;
      }
    }
    return best && { marker: best, distance: bestDistance };
  }
}

/** A marker's shape size at size 1 for a bar spacing, as Lightweight Charts computes it. */
function shapeSize(barSpacing) {
  const odd = Math.ceil(Math.min(Math.max(barSpacing, 12), 30));
  const base = odd % 2 === 0 ? odd - 1 : odd;
  return base % 2 !== 0 ? base - 1 : base;
}

function decimalsOf(value) {
  const text = String(value ?? "");
  const dot = text.indexOf(".");
  return dot < 0 ? 0 : Math.min(text.length - dot - 1, 8);
}
