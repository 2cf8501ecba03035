// The broadcast list: name, state (overdue / stalled marks), counters, rates, run-at,
// lineage marker; filtered by state, paged by the API's cursors.

import { gql } from "./api.js";
import { COUNTERS } from "./fields.js";
import { count, failureBox, h, percent, stateChip, when } from "./dom.js";

const PAGE = 25;
const STATES = ["", "DRAFT", "SCHEDULED", "SENDING", "COMPLETED", "CANCELLED"];
const QUERY = `query List($state: BroadcastState, $first: Int!, $after: String) {
  broadcasts(state: $state, first: $first, after: $after) {
    nodes { ${COUNTERS} lineage { id } }
    endCursor
  }
}`;

function lineageMarker(b) {
  if (!b.retryOfBroadcastId) return "";
  const attempt = b.lineage.length - 1;
  return h("a", { class: "lineage-marker", href: `#/broadcasts/${encodeURIComponent(b.retryOfBroadcastId)}`,
                  title: "a retry of the failed contacts of an earlier broadcast" }, `↻ retry #${attempt}`);
}

function row(b) {
  return h("tr", { dataset: { id: b.id } },
    h("td", {}, h("a", { class: "name", href: `#/broadcasts/${encodeURIComponent(b.id)}` }, b.name || b.id),
      " ", lineageMarker(b)),
    h("td", {}, stateChip(b)),
    h("td", { class: "num" }, count(b.audienceSizeActual ?? b.audienceSizeEstimate)),
    h("td", { class: "num" }, count(b.delivered)),
    h("td", { class: "num" }, count(b.failed)),
    h("td", { class: "num" }, count(b.skipped)),
    h("td", { class: "num" }, percent(b.deliveryRate)),
    h("td", { class: "num" }, percent(b.dropRate)),
    h("td", {}, when(b.runAt)));
}

export function renderList(view, params) {
  const state = { filter: STATES.includes(params.get("state") || "") ? params.get("state") || "" : "", cursors: [null], page: 0 };
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button", onclick: () => { state.page -= 1; load(); } }, "‹ Newer");
  const next = h("button", { type: "button", onclick: () => { state.page += 1; load(); } }, "Older ›");
  const select = h("select", { id: "state-filter", "aria-label": "state",
    onchange: () => { state.filter = select.value; state.cursors = [null]; state.page = 0; load(); } },
    STATES.map((s) => h("option", { value: s, selected: s === state.filter }, s || "every state")));

  async function load() {
    status.textContent = "loading…";
    try {
      const data = await gql(QUERY, { state: state.filter || null, first: PAGE, after: state.cursors[state.page] });
      const page = data.broadcasts;
      body.replaceChildren(...page.nodes.map(row));
      state.cursors[state.page + 1] = page.endCursor;
      prev.disabled = state.page === 0;
      next.disabled = !page.endCursor;
      status.textContent = page.nodes.length ? `page ${state.page + 1}` : "no broadcasts here yet";
    } catch (error) {
      status.replaceChildren(failureBox(error));
    }
  }

  view.replaceChildren(
    h("h1", {}, "Broadcasts"),
    h("div", { class: "toolbar" }, h("label", {}, "State ", select)),
    h("table", { class: "list", id: "broadcasts" },
      h("thead", {}, h("tr", {}, ["Name", "State", "Audience", "Delivered", "Failed", "Skipped", "Delivery rate", "Drop rate", "Run at"].map((t) => h("th", {}, t)))),
      body),
    h("div", { class: "pager" }, prev, status, next));
  return load();
}
