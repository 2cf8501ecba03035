// Building DOM nodes without innerHTML (every text from the server is data, never markup),
// and the formats the pages share: times in the operator's zone, rates, durations.

/** h("a", {href: "#/x", class: "y", onclick: fn}, "text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** An ISO time from the API in the operator's zone ("" for none). */
export function when(iso) {
  return iso ? TIME.format(new Date(iso)) : "";
}

export function percent(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)} %`;
}

export function count(n) {
  return n === null || n === undefined ? "–" : n.toLocaleString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const parts = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  const shown = [];
  let rest = s;
  for (const [size, unit] of parts) {
    if (rest >= size || (unit === "s" && shown.length === 0)) {
      shown.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (shown.length === 2) break;
  }
  return shown.join(" ");
}

/** startedAt → finishedAt (or now, while it runs), in seconds. */
export function runSeconds(b, now = Date.now()) {
  if (!b.startedAt) return null;
  const end = b.finishedAt ? Date.parse(b.finishedAt) : now;
  return (end - Date.parse(b.startedAt)) / 1000;
}

export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

/** The state chip of a broadcast, with the overdue / stalled marks the CLI shows. */
export function stateChip(b) {
  const marks = [];
  if (b.overdueBy !== null && b.overdueBy !== undefined) marks.push(h("span", { class: "mark overdue", title: `run-at is ${duration(b.overdueBy)} past the max lateness: it will not fire by itself` }, "overdue"));
  if (b.stalledFor !== null && b.stalledFor !== undefined) marks.push(h("span", { class: "mark stalled", title: `no new row for ${duration(b.stalledFor)}` }, "stalled"));
  return h("span", { class: "state" }, h("span", { class: `chip state-${b.state.toLowerCase()}` }, b.state), marks);
}

export function failureBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}
