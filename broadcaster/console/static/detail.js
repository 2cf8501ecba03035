// The broadcast detail page: the seed's header counters with delivery and drop rate (live
// while SENDING through broadcastUpdates), used-fallback share, lineage both ways, the
// Retry button (write tokens only) and the history table.

import { gql, subscribe } from "./api.js";
import { COUNTERS, ROW } from "./fields.js";
import { count, duration, failureBox, h, percent, runSeconds, stateChip, when } from "./dom.js";
import { HistoryTable } from "./history.js";
import { retryControls } from "./retry.js";

const QUERY = `query Detail($id: ID!) {
  broadcast(id: $id) {
    ${COUNTERS}
    mode flowId channels
    lineage { id name state }
    retries { id name state }
    retryEligibility { retryable refusal message contactsToRetry outcomeUnknown pendingRetryId }
  }
}`;
const LIVE = `subscription Live($id: ID!) {
  broadcastUpdates(broadcastId: $id) {
    rows { ${ROW} }
    broadcast { ${COUNTERS} }
  }
}`;
const LIVE_STATES = new Set(["SCHEDULED", "SENDING"]);

function link(b) {
  return h("a", { href: `#/broadcasts/${encodeURIComponent(b.id)}` }, b.name || b.id);
}

function lineage(b) {
  const parts = [];
  if (b.retryOfBroadcastId && b.lineage.length > 1) {
    const original = b.lineage[0];
    const parent = b.lineage[b.lineage.length - 2];
    parts.push(h("p", { class: "lineage", id: "retry-of" }, `retry #${b.lineage.length - 1} of `, link(original),
      parent.id !== original.id ? [" (after ", link(parent), ")"] : ""));
  }
  if (b.retries.length) {
    parts.push(h("p", { class: "lineage", id: "retried-by" }, "retried by ",
      b.retries.map((r, i) => [i ? ", " : "", link(r), ` (${r.state})`])));
  }
  return parts;
}

function counter(label, value, id) {
  return h("div", { class: "counter" }, h("div", { class: "label" }, label), h("div", { class: "value", id }, value));
}

function header(b) {
  return h("div", { class: "counters" },
    counter("audienceSizeEstimate", count(b.audienceSizeEstimate), "c-estimate"),
    counter("audienceSizeActual", count(b.audienceSizeActual), "c-actual"),
    counter("delivered", count(b.delivered), "c-delivered"),
    counter("failed", count(b.failed), "c-failed"),
    counter("skipped", count(b.skipped), "c-skipped"),
    counter("Delivery rate", percent(b.deliveryRate), "c-delivery-rate"),
    counter("Drop rate", percent(b.dropRate), "c-drop-rate"),
    counter("Used fallback", `${count(b.usedFallback)} (${percent(b.usedFallbackShare)})`, "c-fallback"),
    counter("startedAt", when(b.startedAt) || "–", "c-started"),
    counter("finishedAt", when(b.finishedAt) || "–", "c-finished"),
    counter("Duration", duration(runSeconds(b)), "c-duration"));
}

export function renderDetail(view, id, session, navigate, signal) {
  const top = h("div", { class: "detail-top" });
  const counters = h("div");
  const liveNote = h("span", { class: "live", id: "live", hidden: true }, "● live");
  let current = null;
  const table = new HistoryTable(id, () => current ? {
    ALL: current.delivered + current.failed + current.skipped,
    DELIVERED: current.delivered, FAILED: current.failed, SKIPPED: current.skipped,
  } : {});
  view.replaceChildren(top, counters, table.node);

  function paintHeader(b) {
    counters.replaceChildren(header(b));
    if (table.body.rows.length && !table.loading) table.renderPager(); // "of N" comes from these counters
  }

  function paintTop(b) {
    top.replaceChildren(
      h("p", {}, h("a", { href: "#/" }, "‹ Broadcasts")),
      h("h1", {}, b.name || b.id, " ", stateChip(b), " ", liveNote),
      h("p", { class: "muted" }, `${b.id} · ${b.mode.toLowerCase()}${b.flowId ? " " + b.flowId : ""} · run at ${when(b.runAt) || "–"}`),
      ...lineage(b),
      session.canWrite ? retryControls(b, (created) => navigate(`#/broadcasts/${encodeURIComponent(created)}`)) : null);
  }

  async function refresh() {
    const { broadcast } = await gql(QUERY, { id });
    current = broadcast;
    paintTop(broadcast);
    paintHeader(broadcast);
    return broadcast;
  }

  async function follow() {
    liveNote.hidden = false;
    let first = true;
    try {
      await subscribe(LIVE, { id }, (data) => {
        const update = data.broadcastUpdates;
        const stateChanged = current && update.broadcast.state !== current.state;
        current = { ...current, ...update.broadcast };
        paintHeader(current);
        if (first) {
          first = false;
          if (table.page === 0) table.load(); // the stream starts after the rows recorded by now: no gap
        } else {
          table.live(update.rows);
        }
        if (stateChanged) refresh();
        window.__console.liveRows = (window.__console.liveRows || 0) + update.rows.length;
      }, signal);
    } catch (error) {
      if (signal.aborted) return;
      counters.append(failureBox(error));
    } finally {
      liveNote.hidden = true;
    }
    if (!signal.aborted) await refresh();
  }

  return (async () => {
    try {
      // the first page of rows does not wait for the header's counts (on a large broadcast
      // the used-fallback and retry counts read every row)
      const [b] = await Promise.all([refresh(), table.load()]);
      if (LIVE_STATES.has(b.state)) follow();
    } catch (error) {
      view.replaceChildren(failureBox(error));
    }
  })();
}
