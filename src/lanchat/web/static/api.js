// The HTTP API (docs/web-api.md): session, accounts, uploads.

let csrf = "";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setCsrf(token) {
  csrf = token || "";
}

/** The JSON in a response body, or null when there is none or it is not JSON. */
function jsonOrNull(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached.");
  }
  const data = jsonOrNull(await response.text());
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, message);
  }
  return data;
}

export const api = {
  info: () => call("GET", "/api/info"),
  session: () => call("GET", "/api/session"),
  login: (username, password) => call("POST", "/api/login", { username, password }),
  register: (username, password) => call("POST", "/api/register", { username, password }),
  logout: () => call("POST", "/api/logout"),
  accounts: () => call("GET", "/api/admin/accounts"),
  createAccount: (username, password, admin) => call("POST", "/api/admin/accounts", { username, password, admin }),
  resetPassword: (name, password) =>
    call("POST", `/api/admin/accounts/${encodeURIComponent(name)}/password`, { password }),
  setAdmin: (name, admin) => call("POST", `/api/admin/accounts/${encodeURIComponent(name)}/admin`, { admin }),
  deleteAccount: (name) => call("DELETE", `/api/admin/accounts/${encodeURIComponent(name)}`),
  setRegistration: (registration) => call("PUT", "/api/admin/registration", { registration }),
};

/**
 * Upload a file with progress: returns {promise, abort}. onProgress(fraction) is called as it goes.
 * The promise resolves with the server's {url, name, size, type}.
 */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/upload");
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name || "file"));
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const data = jsonOrNull(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300 && data && data.url) {
        resolve(data);
      } else if (xhr.status === 413) {
        reject(new ApiError(413, (data && data.error) || "The file is too large."));
      } else {
        reject(new ApiError(xhr.status, (data && data.error) || `Upload failed (${xhr.status}).`));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "The upload failed: the server cannot be reached.")));
    xhr.addEventListener("abort", () => reject(new ApiError(-1, "Upload cancelled.")));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
