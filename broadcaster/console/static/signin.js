// Sign-in with an API token (`broadcaster tokens create NAME --scope read|write`): the
// token is checked by asking the API who it is, and kept in this tab only.

import { ApiFailure, forgetToken, gql, keepToken } from "./api.js";
import { failureBox, h } from "./dom.js";

const VIEWER = `query Viewer { viewer { name scope } }`;

/** Who the stored token is ({name, scope}), or null when there is none or it is refused. */
export async function whoAmI() {
  try {
    return (await gql(VIEWER)).viewer;
  } catch (error) {
    if (error instanceof ApiFailure && error.code === "UNAUTHENTICATED") {
      forgetToken();
      return null;
    }
    throw error;
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
