// The QanDu HTTP API: JSON in and out, bearer token, errors as ApiError(status, code, message, field).

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

export class Api {
  constructor(base, token) {
    this.base = (base || "").replace(/\/$/, "");
    this.token = token || null;
  }

  async request(method, path, body, query) {
    const url = new URL(this.base + path, location.href);
    for (const [key, value] of Object.entries(query || {})) if (value != null) url.searchParams.set(key, value);
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data && data.error);
    return data;
  }

  get(path, query) { return this.request("GET", path, undefined, query); }
  post(path, body) { return this.request("POST", path, body === undefined ? {} : body); }
  put(path, body) { return this.request("PUT", path, body); }
  del(path) { return this.request("DELETE", path); }

  /** Upload a file with progress (XHR: fetch has no upload progress); resolves to the JSON answer. */
  upload(path, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", new URL(this.base + path, location.href));
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.upload.onprogress = (event) => event.lengthComputable && onProgress && onProgress(event.loaded / event.total);
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new ApiError(xhr.status, data && data.error));
      };
      xhr.onerror = () => reject(new ApiError(0, { code: "network", message: "network error" }));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }
}

/** Which optional API operations this server has (plugins that landed), from its OpenAPI document. */
export async function features(api) {
  try {
    const doc = await api.get("/api/openapi.json");
    return new Set(Object.entries(doc.paths || {}).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)));
  } catch (_) {
    return new Set();
  }
}
