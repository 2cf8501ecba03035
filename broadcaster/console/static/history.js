// The history table: one row per contact, newest first; paged by the rows' cursors,
// searchable, filtered by status, exported as the CLI's CSV. While the broadcast sends,
// live rows prepend — only when the reader is at the top of the first page (otherwise a
// "new rows" bar counts them), so the reader's place never moves and the DOM never holds
// more than one page of rows.

import { exportCsv, gql } from "./api.js";
import { ROW } from "./fields.js";
import { failureBox, h, initials, when } from "./dom.js";

export const PAGE = 50;
const QUERY = `query History($id: ID!, $status: Outcome, $search: String, $first: Int!, $after: String) {
  history(broadcastId: $id, status: $status, search: $search, first: $first, after: $after) {
    rows { ${ROW} }
    endCursor
  }
}`;

function chip(outcome) {
  return h("span", { class: `chip outcome-${outcome.toLowerCase()}` }, outcome);
}

function rowNode(broadcastId, r) {
  const contact = `#/broadcasts/${encodeURIComponent(broadcastId)}/contacts/${encodeURIComponent(r.contact.id)}`;
  return h("tr", { dataset: { cursor: r.cursor || "", contact: r.contact.id } },
    h("td", {}, h("a", { class: "contact", href: contact, title: `open ${r.contact.id}` },
      h("span", { class: "avatar", "aria-hidden": "true" }, initials(r.contact.name)), r.contact.name || r.contact.id)),
    h("td", {}, r.channel || ""),
    h("td", { title: r.status }, chip(r.outcome)),
    h("td", { class: "reason" }, r.outcome === "FAILED" ? r.errorReason || "" : ""),
    h("td", {}, r.usedFallback ? h("span", { class: "fallback", title: "a fallback template was sent instead of the flow" }, "fallback") : ""),
    h("td", {}, when(r.sentAt)),
    h("td", {}, when(r.deliveredAt)));
}

function seqOf(r) {
  return r.cursor ? Number(r.cursor) : 0;
}

export class HistoryTable {
  constructor(broadcastId, totals) {
    this.id = broadcastId;
    this.totals = totals; // () => {DELIVERED, FAILED, SKIPPED, ALL} from the header counters
    this.status = "";
    this.search = "";
    this.cursors = [null];
    this.page = 0;
    this.more = false;
    this.pending = 0;
    this.topSeq = 0;
    this.loading = 0; // loads in flight: live rows wait in `queued` meanwhile
    this.queued = [];
    this.body = h("tbody");
    this.scroller = h("div", { class: "scroller" },
      h("table", { class: "history", id: "history" },
        h("thead", {}, h("tr", {}, ["Contact", "Channel", "Status", "Error reason", "Used fallback", "Sent at", "Delivered at"].map((t) => h("th", {}, t)))),
        this.body));
    this.scroller.addEventListener("scroll", () => { if (this.following() && this.pending) this.showNewest(); });
    this.info = h("span", { class: "muted", id: "history-info", "aria-live": "polite" });
    this.banner = h("button", { type: "button", class: "new-rows", id: "new-rows", hidden: true, onclick: () => this.showNewest() });
    this.prev = h("button", { type: "button", id: "history-newer", onclick: () => this.go(this.page - 1) }, "‹ Newer");
    this.next = h("button", { type: "button", id: "history-older", onclick: () => this.go(this.page + 1) }, "Older ›");
    const statusSelect = h("select", { id: "status-filter", "aria-label": "status",
      onchange: () => { this.status = statusSelect.value; this.restart(); } },
      ["", "DELIVERED", "FAILED", "SKIPPED"].map((s) => h("option", { value: s }, s || "every status")));
    let typing;
    const searchBox = h("input", { id: "search", type: "search", placeholder: "search contact names", "aria-label": "search",
      oninput: () => { clearTimeout(typing); typing = setTimeout(() => { this.search = searchBox.value.trim(); this.restart(); }, 200); } });
    this.exportButton = h("button", { type: "button", id: "export", onclick: () => this.export() }, "Export CSV");
    this.exportNote = h("span", { class: "muted" });
    this.node = h("section", { class: "history-section" },
      h("h2", {}, "History"),
      h("div", { class: "toolbar" }, h("label", {}, "Status ", statusSelect), searchBox, this.exportButton, this.exportNote),
      this.banner, this.scroller,
      h("div", { class: "pager" }, this.prev, this.info, this.next));
  }

  following() {
    return this.page === 0 && !this.search && this.scroller.scrollTop < 4;
  }

  restart() {
    this.cursors = [null];
    this.page = 0;
    return this.load();
  }

  go(page) {
    if (page < 0 || page >= this.cursors.length) return;
    this.page = page;
    return this.load();
  }

  showNewest() {
    this.scroller.scrollTop = 0;
    return this.restart();
  }

  async load() {
    const ask = { id: this.id, status: this.status || null, search: this.search || null, first: PAGE, after: this.cursors[this.page] };
    this.info.textContent = "loading…";
    const started = performance.now();
    this.loading += 1;
    try {
      const { history } = await gql(QUERY, ask);
      if (ask.after !== this.cursors[this.page] || ask.status !== (this.status || null) || ask.search !== (this.search || null)) return; // a newer load won
      this.body.replaceChildren(...history.rows.map((r) => rowNode(this.id, r)));
      if (this.page === 0) {
        this.topSeq = history.rows.length ? seqOf(history.rows[0]) : this.topSeq;
        this.pending = 0;
        this.banner.hidden = true;
      }
      this.more = Boolean(history.endCursor);
      this.cursors.length = this.page + 1;
      if (this.more) this.cursors.push(history.endCursor);
      this.renderPager();
      window.__console.historyPages = (window.__console.historyPages || 0) + 1;
      window.__console.lastHistoryMs = performance.now() - started;
      window.__console.historyAt = performance.now();
    } catch (error) {
      this.info.replaceChildren(failureBox(error));
    } finally {
      this.loading -= 1;
      // rows that came while the page loaded: the page holds every row up to its newest,
      // so those after it are exactly the ones to prepend (none lost, none twice)
      if (!this.loading && this.queued.length) this.live(this.queued.splice(0));
    }
  }

  renderPager() {
    this.prev.disabled = this.page === 0;
    this.next.disabled = !this.more;
    const first = this.page * PAGE + 1;
    const shown = this.body.rows.length;
    const total = this.search ? null : this.totals()[this.status || "ALL"];
    const of = total === null || total === undefined ? "" : ` of ${total.toLocaleString()}`;
    this.info.textContent = shown ? `rows ${first.toLocaleString()}–${(first + shown - 1).toLocaleString()}${of}` : "no rows";
  }

  /** Rows the subscription delivered (newest first). */
  live(rows) {
    if (this.loading) {
      this.queued.push(...rows);
      return;
    }
    const fresh = rows.filter((r) => seqOf(r) > this.topSeq && (!this.status || r.outcome === this.status))
      .sort((a, b) => seqOf(b) - seqOf(a)); // newest first, also across queued updates
    if (!fresh.length) return;
    this.topSeq = Math.max(this.topSeq, ...fresh.map(seqOf));
    if (!this.following()) {
      this.pending += fresh.length;
      this.banner.hidden = false;
      this.banner.textContent = `▲ ${this.pending.toLocaleString()} new row${this.pending === 1 ? "" : "s"} — show the newest`;
      return;
    }
    const nodes = fresh.slice(0, PAGE).map((r) => rowNode(this.id, r));
    this.body.prepend(...nodes);
    let trimmed = false;
    while (this.body.rows.length > PAGE) {
      this.body.lastElementChild.remove();
      trimmed = true;
    }
    if (trimmed) {
      // the next page starts after the last row shown, whatever was trimmed
      this.more = true;
      this.cursors.length = 1;
      this.cursors.push(this.body.lastElementChild.dataset.cursor);
    }
    this.renderPager();
  }

  async export() {
    this.exportNote.textContent = "exporting…";
    try {
      const { blob, name } = await exportCsv(this.id, { status: this.status, search: this.search });
      const link = h("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      this.exportNote.textContent = `${name} (${blob.size.toLocaleString()} bytes)`;
    } catch (error) {
      this.exportNote.replaceChildren(failureBox(error));
    }
  }
}
