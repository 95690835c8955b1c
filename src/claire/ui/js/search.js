// The search box: an event id opens its explanation, a correlation id its trade, a time the
// scene then ("why in or out of SYMBOL at that time").

import * as api from "./api.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIME = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

async function exists(path) {
  try {
    await api.get(path);
    return true;
  } catch (problem) {
    if (problem.status !== 404) throw problem;
    return false;
  }
}

/** Go where `text` points (`go`: {select(id), trade(id), atTime(time)}); say so when nowhere. */
export async function search(text, errorNode, go) {
  const query = text.trim();
  errorNode.textContent = "";
  if (UUID.test(query)) {
    const id = query.toLowerCase();
    if (await exists(`/events/${id}`)) await go.select(id);
    else if (await exists(`/correlations/${id}`)) await go.trade(id);
    else errorNode.textContent = `No event and no trade has the id ${query}.`;
  } else if (TIME.test(query)) {
    await go.atTime(query);
  } else {
    errorNode.textContent =
      "Enter an event id, a correlation id, or a time like 2025-02-14 13:05 (UTC unless it has an offset).";
  }
}
