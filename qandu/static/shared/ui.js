// Preact + hooks + htm, vendored from npm (see ../vendor/README.txt): `html` is JSX without a build step.
import { h, render, Fragment, createRef } from "../vendor/preact.js";
import { useState, useEffect, useLayoutEffect, useRef, useMemo, useCallback, useReducer } from "../vendor/preact-hooks.js";
import htm from "../vendor/htm.js";

export const html = htm.bind(h);
export { h, render, Fragment, createRef, useState, useEffect, useLayoutEffect, useRef, useMemo, useCallback, useReducer };

/** A short random id (for clientMsgId and request ids). */
export function uid() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

/** "14:05" in the reader's locale. */
export function timeOf(iso, locale) {
  try {
    return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  } catch (_) {
    return "";
  }
}

/** A human file size: 1.2 MB. */
export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
