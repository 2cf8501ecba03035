// Sign-in with an API token (`broadcaster tokens create NAME --scope read|write`): the
// token is checked by asking the API who it is, and kept in this tab only.

import { ApiFailure, forgetToken, gql, keepToken, storedToken } from "./api.js";
import { failureBox, h } from "./dom.js";

const VIEWER = `query Viewer { viewer { name scope } }`;
const VIEWER_KEY = "broadcasterViewer";

/** Who the stored token is ({name, scope}), or null when there is none or it is refused. */
export async function whoAmI() {
  try {
    const { viewer } = await gql(VIEWER);
    sessionStorage.setItem(VIEWER_KEY, JSON.stringify(viewer));
    return viewer;
  } catch (error) {
    if (error instanceof ApiFailure && error.code === "UNAUTHENTICATED") {
      forgetToken();
      sessionStorage.removeItem(VIEWER_KEY);
      return null;
    }
    throw error;
  }
}

/**
 * Who the stored token was when last asked (this tab), so a reload renders at once; the
 * caller asks again in the background. Only what is shown depends on it: the API checks
 * the token's scope on every request.
 */
export function rememberedViewer() {
  try {
    return storedToken() ? JSON.parse(sessionStorage.getItem(VIEWER_KEY) || "null") : null;
  } catch {
    return null;
  }
}

export function renderSignIn(view, onSignedIn, reason) {
  const secret = h("input", { id: "token", type: "password", placeholder: "bct_…", autocomplete: "off", required: true, "aria-label": "API token" });
  const problem = h("div", { "aria-live": "polite" }, reason ? failureBox(new Error(reason)) : null);
  const form = h("form", { class: "signin", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API token. Create one with ", h("code", {}, "broadcaster tokens create NAME --scope write"),
      " (or ", h("code", {}, "--scope read"), " to look without changing anything). It is kept in this tab only."),
    secret, h("button", { type: "submit", class: "primary" }, "Sign in"), problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    keepToken(secret.value.trim());
    try {
      const viewer = await whoAmI();
      if (!viewer) {
        problem.replaceChildren(failureBox(new Error("that token is not valid (unknown or revoked) — see `broadcaster tokens list`")));
        return;
      }
      onSignedIn(viewer);
    } catch (error) {
      forgetToken();
      problem.replaceChildren(failureBox(error));
    }
  });
  view.replaceChildren(form);
  secret.focus();
}
