// Retry Failed Contacts: the button (enabled by the seed's rules, the reason shown when
// not) and its dialog — Run at (default now + 2 min), the read-only count of contacts to
// retry and how many may already have the message; confirming creates the linked
// broadcast and opens it.

import { gql } from "./api.js";
import { failureBox, h } from "./dom.js";

const RETRY = `mutation Retry($id: ID!, $runAt: String) {
  retryFailedContacts(broadcastId: $id, runAt: $runAt) { id }
}`;

/** A datetime-local value (the operator's zone) for a Date. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function retryControls(b, onCreated) {
  const e = b.retryEligibility;
  const button = h("button", { type: "button", id: "retry", class: "primary", disabled: !e.retryable,
    onclick: () => openDialog(b, onCreated) }, "Retry failed contacts");
  const why = e.retryable ? null : h("span", { class: "retry-reason", id: "retry-reason" }, e.message || "");
  return h("div", { class: "retry" }, button, why);
}

function openDialog(b, onCreated) {
  const e = b.retryEligibility;
  const runAt = h("input", { type: "datetime-local", id: "retry-run-at", required: true,
    value: localInput(new Date(Date.now() + 120_000)) });
  const problem = h("div", { "aria-live": "polite" });
  const confirm = h("button", { type: "submit", class: "primary", id: "retry-confirm" }, "Create the retry");
  const cancel = h("button", { type: "button", id: "retry-cancel", onclick: () => dialog.close() }, "Cancel");
  const maybeSent = e.outcomeUnknown
    ? h("p", { class: "warning", id: "retry-unknown" },
        `${e.outcomeUnknown.toLocaleString()} of them may already have the message (outcome unknown: the request may have left before the worker stopped).`)
    : null;
  const form = h("form", { method: "dialog" },
    h("h2", {}, `Retry “${b.name || b.id}”`),
    h("label", {}, "Run at ", runAt),
    h("p", {}, "Contacts to retry: ", h("output", { id: "retry-count" }, e.contactsToRetry.toLocaleString()),
      h("span", { class: "muted" }, " — the FAILED contacts of this broadcast (SKIPPED ones are not retried)")),
    maybeSent, problem,
    h("div", { class: "buttons" }, cancel, confirm));
  const dialog = h("dialog", { id: "retry-dialog" }, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const when = new Date(runAt.value);
    if (isNaN(when.getTime())) {
      problem.replaceChildren(failureBox(new Error("Run at: give a date and a time")));
      return;
    }
    confirm.disabled = true;
    try {
      const data = await gql(RETRY, { id: b.id, runAt: when.toISOString() });
      dialog.close();
      onCreated(data.retryFailedContacts.id);
    } catch (error) {
      problem.replaceChildren(failureBox(error));
      confirm.disabled = false;
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
