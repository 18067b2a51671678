// Small fetch wrapper for the annotation API: session cookie + CSRF token,
// JSON in and out, retries on network failure (safe: label saves are idempotent).

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(body) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
  static describe(body) {
    if (!body || typeof body !== "object") return "";
    if (body.detail) return String(body.detail);
    return Object.entries(body).map(([field, errs]) =>
      `${field}: ${Array.isArray(errs) ? errs.join(" ") : errs}`).join("; ");
  }
}

async function request(method, url, body, { retries = 2 } = {}) {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Accept": "application/json",
                   ...(body !== undefined ? { "Content-Type": "application/json", "X-CSRFToken": csrfToken() } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (networkError) {
      if (attempt >= retries) throw new ApiError(0, { detail: "network error, check your connection" });
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
      continue;
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (response.status >= 500 && attempt < retries) continue;
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
}

export const api = {
  next: (excludeIds = []) =>
    request("GET", "/api/queue/next/" + (excludeIds.length ? `?exclude=${excludeIds.join(",")}` : "")),
  save: (payload) => request("POST", "/api/labels/", payload),
  skip: (assignmentId) => request("POST", `/api/assignments/${assignmentId}/skip/`, {}),
  recent: (offset) => request("GET", `/api/labels/?offset=${offset}&limit=1`),
  progress: () => request("GET", "/api/queue/progress/"),
};
