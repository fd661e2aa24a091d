// Attachments in messages: files are served only with a token or a signed link, so each one
// is shown through a short-lived signed URL from GET /api/files/{id}/link.
import { html, useState, useEffect, fileSize } from "./ui.js";

const links = new Map();

function signed(api, id) {
  if (!links.has(id)) {
    const promise = api.get(`/api/files/${id}/link`).catch((error) => { links.delete(id); throw error; });
    links.set(id, promise);
  }
  return links.get(id);
}

function Attachment({ api, attachment, label }) {
  const [link, setLink] = useState(null);
  useEffect(() => {
    let live = true;
    signed(api, attachment.id).then((data) => live && setLink(data)).catch(() => live && setLink({ failed: true }));
    return () => { live = false; };
  }, [attachment.id]);
  const base = api.base || "";
  const image = (attachment.mimeType || "").startsWith("image/");
  if (!link) return html`<span class="att-loading">${attachment.name}</span>`;
  if (link.failed) return html`<span class="att-file">📄 ${attachment.name}</span>`;
  if (image) {
    return html`<a class="att-image" href=${base + link.url} target="_blank" rel="noopener">
      <img src=${base + (link.thumbnailUrl || link.url)} alt=${attachment.name} loading="lazy" /></a>`;
  }
  return html`<a class="att-file" href=${`${base + link.url}${link.url.includes("?") ? "&" : "?"}download=true`}
    aria-label=${label ? label(attachment.name) : attachment.name}>📄 ${attachment.name} <span>${fileSize(attachment.size)}</span></a>`;
}

/** The attachments of `message`, images as thumbnails, other files as download links. */
export function Attachments({ api, message, label }) {
  return (message.attachments || []).map((a) => html`<${Attachment} key=${a.id} api=${api} attachment=${a} label=${label} />`);
}
