// A contact opened from a history row: who it is (fields, chats) and what each broadcast
// of the retry chain did for it ("received the campaign on the third retry").

import { gql } from "./api.js";
import { ROW } from "./fields.js";
import { failureBox, h, initials, when } from "./dom.js";

const QUERY = `query Contact($filter: String!, $broadcastId: ID!, $contactId: ID!) {
  contacts(filter: $filter, first: 1) { nodes { id name optedOut fieldsJson chats { integration chatId lastInboundAt } } }
  contactAttempts(broadcastId: $broadcastId, contactId: $contactId) {
    reachedOnAttempt
    attempts { attempt broadcast { id name state } row { ${ROW} } }
  }
}`;

function quoted(text) {
  return "'" + String(text).replaceAll("\\", "\\\\").replaceAll("'", "\\'") + "'";
}

export async function renderContact(view, broadcastId, contactId) {
  view.replaceChildren(h("p", { class: "muted" }, "loading…"));
  try {
    const data = await gql(QUERY, { filter: `id = ${quoted(contactId)}`, broadcastId, contactId });
    const contact = data.contacts.nodes[0];
    if (!contact) throw new Error(`no contact ${contactId} (it may have been deleted)`);
    const fields = Object.entries(JSON.parse(contact.fieldsJson));
    const reached = data.contactAttempts.reachedOnAttempt;
    view.replaceChildren(
      h("p", {}, h("a", { href: `#/broadcasts/${encodeURIComponent(broadcastId)}` }, "‹ Back to the broadcast")),
      h("h1", {}, h("span", { class: "avatar big", "aria-hidden": "true" }, initials(contact.name)), contact.name || contact.id),
      h("p", { class: "muted" }, contact.id, contact.optedOut ? " · opted out" : ""),
      h("h2", {}, "Fields"),
      fields.length ? h("dl", { class: "fields" }, fields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, JSON.stringify(v))])) : h("p", { class: "muted" }, "no fields"),
      h("h2", {}, "Chats"),
      h("ul", {}, contact.chats.map((c) => h("li", {}, `${c.integration}: ${c.chatId}`, c.lastInboundAt ? ` (last inbound ${when(c.lastInboundAt)})` : ""))),
      h("h2", {}, "This campaign, attempt by attempt"),
      h("p", {}, reached ? `delivered on attempt ${reached}` : "not delivered on any attempt"),
      h("table", { class: "list", id: "attempts" },
        h("thead", {}, h("tr", {}, ["Attempt", "Broadcast", "Status", "Error reason", "Sent at"].map((t) => h("th", {}, t)))),
        h("tbody", {}, data.contactAttempts.attempts.map((a) => h("tr", {},
          h("td", {}, String(a.attempt)),
          h("td", {}, h("a", { href: `#/broadcasts/${encodeURIComponent(a.broadcast.id)}` }, a.broadcast.name || a.broadcast.id)),
          h("td", {}, a.row ? a.row.status : "not in this audience"),
          h("td", {}, a.row && a.row.outcome === "FAILED" ? a.row.errorReason || "" : ""),
          h("td", {}, a.row ? when(a.row.sentAt) : ""))))));
  } catch (error) {
    view.replaceChildren(failureBox(error));
  }
}
