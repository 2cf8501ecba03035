// The router: the URL's #fragment names the page; each page renders into <main>.
//   #/                                  broadcasts   (?state=SENDING)
//   #/broadcasts/ID                     detail page
//   #/broadcasts/ID/contacts/CONTACT    a contact from its history
//   #/integrations                      integration health
// A refused token (revoked, unknown) brings back the sign-in page.

import { ApiFailure, forgetToken, storedToken } from "./api.js";
import { renderContact } from "./contact.js";
import { renderDetail } from "./detail.js";
import { h, ZONE } from "./dom.js";
import { renderIntegrations } from "./integrations.js";
import { renderList } from "./list.js";
import { rememberedViewer, renderSignIn, whoAmI } from "./signin.js";

window.__console = { started: performance.now() };
const view = document.getElementById("view");
const who = document.getElementById("who");
const session = { viewer: null, canWrite: false };
let leaving = new AbortController();

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function paintWho() {
  who.replaceChildren(...(session.viewer
    ? [h("span", { id: "viewer" }, `${session.viewer.name} (${session.viewer.scope.toLowerCase()})`), " · ", ZONE, " ",
       h("button", { type: "button", id: "signout", onclick: () => { forgetToken(); sessionStorage.clear(); session.viewer = null; route(); } }, "Sign out")]
    : []));
}

async function route() {
  leaving.abort(); // ends the previous page's live stream
  leaving = new AbortController();
  const signal = leaving.signal;
  if (!session.viewer && storedToken()) {
    session.viewer = rememberedViewer();
    if (session.viewer) {
      // render now; a token revoked meanwhile brings back the sign-in page
      whoAmI().then((viewer) => { if (!viewer) { session.viewer = null; route(); } }, () => {});
    } else {
      try {
        session.viewer = await whoAmI();
      } catch (error) {
        view.replaceChildren(h("p", { class: "error" }, error.message));
        return;
      }
    }
  }
  session.canWrite = Boolean(session.viewer && session.viewer.scope === "WRITE");
  paintWho();
  if (!session.viewer) {
    renderSignIn(view, (viewer) => { session.viewer = viewer; route(); });
    return;
  }
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("here", link.dataset.page === (parts[0] || "broadcasts"));
  let done;
  if (parts[0] === "broadcasts" && parts.length === 2) done = renderDetail(view, parts[1], session, navigate, signal);
  else if (parts[0] === "broadcasts" && parts[2] === "contacts" && parts.length === 4) done = renderContact(view, parts[1], parts[3]);
  else if (parts[0] === "integrations") done = renderIntegrations(view);
  else done = renderList(view, params);
  try {
    await done;
  } catch (error) {
    if (error instanceof ApiFailure && error.code === "UNAUTHENTICATED") {
      forgetToken();
      session.viewer = null;
      renderSignIn(view, (viewer) => { session.viewer = viewer; route(); }, error.message);
    }
  }
  window.__console.routedAt = performance.now();
}

window.addEventListener("hashchange", route);
route();
