// Integrations: each one's health as the worker last judged it — ok, degraded (with its
// send rate, first in the detail), auth_failed — "check the integration's status".

import { gql } from "./api.js";
import { failureBox, h, when } from "./dom.js";

const QUERY = `query Integrations { integrations { name provider health { status detail updatedAt } } }`;

function healthChip(health) {
  if (!health) return h("span", { class: "chip health-unknown" }, "unknown");
  return h("span", { class: `chip health-${health.status.toLowerCase()}` }, health.status.toLowerCase());
}

export async function renderIntegrations(view) {
  const body = h("tbody");
  view.replaceChildren(
    h("h1", {}, "Integrations"),
    h("table", { class: "list", id: "integrations" },
      h("thead", {}, h("tr", {}, ["Name", "Provider", "Health", "Detail", "Since"].map((t) => h("th", {}, t)))),
      body));
  try {
    const { integrations } = await gql(QUERY);
    body.replaceChildren(...integrations.map((i) => h("tr", { dataset: { name: i.name } },
      h("td", {}, i.name), h("td", {}, i.provider), h("td", {}, healthChip(i.health)),
      h("td", { class: "detail" }, i.health ? i.health.detail : "no sends yet"),
      h("td", {}, i.health ? when(i.health.updatedAt) : ""))));
    if (!integrations.length) body.append(h("tr", {}, h("td", { colspan: 5 }, "no integrations: add one with `broadcaster integrations add`")));
  } catch (error) {
    view.append(failureBox(error));
  }
}
