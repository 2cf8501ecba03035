// The console's only way into broadcaster: the GraphQL API at /graphql with the signed-in
// token (queries, mutations, the broadcastUpdates subscription over SSE) and the CSV export.

const KEY = "broadcasterToken";

export class ApiFailure extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || "UNKNOWN";
  }
}

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function keepToken(secret) {
  sessionStorage.setItem(KEY, secret);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

function headers(accept) {
  return {
    "content-type": "application/json",
    accept,
    authorization: "Bearer " + (storedToken() || ""),
  };
}

function failureOf(body, status) {
  const error = (body && body.errors && body.errors[0]) || null;
  if (error) return new ApiFailure(error.message, error.extensions && error.extensions.code);
  return new ApiFailure(`the server answered HTTP ${status} without a result`, "BAD_RESPONSE");
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** Run a query or mutation; resolves to its data, rejects with an ApiFailure (one line, a code). */
export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: headers("application/json"),
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiFailure("cannot reach broadcaster serve: is it still running?", "NETWORK");
  }
  const body = await readJson(response);
  if (!body || body.errors || !body.data) throw failureOf(body, response.status);
  return body.data;
}

/**
 * Follow a subscription over SSE until it completes or `signal` aborts; `onNext(data)` gets
 * each result. Resolves when the server ends the stream.
 */
export async function subscribe(query, variables, onNext, signal) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: headers("text/event-stream"),
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!response.ok || !response.body) throw failureOf(await readJson(response), response.status);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = event.split("\n");
      const kind = (lines.find((l) => l.startsWith("event: ")) || "").slice(7);
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (kind === "complete") return;
      if (kind !== "next" || !data) continue;
      const body = JSON.parse(data);
      if (body.errors) throw failureOf(body, response.status);
      onNext(body.data);
    }
  }
}

/** The history as the CLI's CSV (same rows, same formula-safe cells), as a Blob and a file name. */
export async function exportCsv(broadcastId, { status, search }) {
  const params = new URLSearchParams();
  if (status) params.set("status", status);
  if (search) params.set("search", search);
  const response = await fetch(`/broadcasts/${encodeURIComponent(broadcastId)}/history.csv?${params}`, {
    headers: { authorization: "Bearer " + (storedToken() || "") },
  });
  if (!response.ok) throw failureOf(await readJson(response), response.status);
  const disposition = response.headers.get("content-disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "history.csv";
  return { blob: await response.blob(), name };
}
