// Building DOM from data without ever parsing data as HTML.
//
// Every text that comes from the store (reasons, symbols, metadata, alert messages) is put in
// the page as a Text node or through textContent, so `<img src=x onerror=alert(1)>` in an
// event shows those characters literally. Nothing in this UI assigns innerHTML/outerHTML or
// calls insertAdjacentHTML/document.write (tests/unit/test_ui_static.py checks the sources).

const FORBIDDEN_PROPS = /^(on|innerHTML$|outerHTML$|srcdoc$)/i;
const URL_PROPS = new Set(["href", "src", "action", "formaction", "xlink:href"]);

/** A safe href: same-origin relative links ("?event=…", "#…") and http(s) only. */
function safeHref(value) {
  const text = String(value);
  if (text.startsWith("?") || text.startsWith("#") || text.startsWith("/")) return text;
  try {
    const url = new URL(text, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : "#";
  } catch {
    return "#";
  }
}

/**
 * el("div", {class: "x", dataset: {seq: 3}, onclick: fn}, "text", child, [more])
 * Strings and numbers become Text nodes; null/undefined/false children are skipped.
 * Event handlers are functions given under `on*` keys and attached with addEventListener,
 * never as attribute strings.
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) setProps(node, props);
  append(node, children);
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (FORBIDDEN_PROPS.test(key)) {
      throw new Error(`el(): refusing to set ${key}`);
    } else if (key === "class") {
      node.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value);
    } else if (key === "dataset") {
      for (const [name, item] of Object.entries(value)) {
        if (item !== undefined && item !== null) node.dataset[name] = String(item);
      }
    } else if (key === "text") {
      node.textContent = String(value);
    } else if (URL_PROPS.has(key)) {
      node.setAttribute(key, safeHref(value));
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node` with `children`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export function $(selector, root = document) {
  const node = root.querySelector(selector);
  if (!node) throw new Error(`missing element ${selector}`);
  return node;
}

/** Is the keyboard focus in a place that takes typing (so global keys stay out of it)? */
export function typingTarget(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = target.getAttribute("type") || "text";
  return !["checkbox", "radio", "button", "submit"].includes(type);
}

/** Call `fn` at most once per animation frame with the latest arguments. */
export function perFrame(fn) {
  let scheduled = false;
  let latest = [];
  return (...args) => {
    latest = args;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      fn(...latest);
    });
  };
}

/** Resolve after the browser has painted what was just put in the DOM. */
export function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

/** A data table: column headers and rows (<tr> nodes) under one class. */
export function grid(className, headers, rows) {
  return el(
    "table",
    { class: ["grid", className] },
    el("thead", null, el("tr", null, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", null, rows),
  );
}

/** A short message in the footer's status line, gone after a few seconds. */
export function toast(message) {
  const node = $("#toast");
  node.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    node.textContent = "";
  }, 6000);
}
