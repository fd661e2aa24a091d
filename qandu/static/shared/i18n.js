// Interface texts in English and German; the language comes from config or the browser.

const TEXTS = {
  en: {
    openChat: "Open chat", closeChat: "Close chat", title: "Chat with us", subtitle: "We usually reply in a few minutes",
    placeholder: "Write a message…", send: "Send", emoji: "Insert emoji", attach: "Attach a file", react: "React",
    reply: "Reply", replyingTo: "Replying to", cancelReply: "Cancel reply", typing: "{name} is typing…",
    sent: "Sent", delivered: "Delivered", read: "Read", queued: "Waiting for connection", failed: "Not sent — tap to retry",
    offline: "You are offline. Messages will be sent when the connection is back.", connecting: "Connecting…",
    loadingOlder: "Loading earlier messages…", beginning: "This is the beginning of the conversation.",
    unread: "{n} unread messages", newMessage: "New message from {name}", messages: "Messages",
    uploading: "Uploading {name}… {pct}%", uploadFailed: "Upload failed: {error}", you: "You",
    resolved: "This conversation was marked as resolved.", surveyTitle: "How did we do?",
    surveyThanks: "Thank you for your feedback!", surveyComment: "Anything else you want to tell us? (optional)",
    surveySubmit: "Send feedback", rating: "{n} of {max}", newConversation: "Start a new conversation",
    reactionBy: "{emoji} {count}, react", removeReaction: "{emoji} {count}, remove your reaction",
    deleted: "Message deleted", edited: "edited", error: "Something went wrong: {error}", poweredBy: "Powered by QanDu",
    image: "Image", file: "File", download: "Download {name}",
  },
  de: {
    openChat: "Chat öffnen", closeChat: "Chat schließen", title: "Schreib uns", subtitle: "Wir antworten meist in wenigen Minuten",
    placeholder: "Nachricht schreiben…", send: "Senden", emoji: "Emoji einfügen", attach: "Datei anhängen", react: "Reagieren",
    reply: "Antworten", replyingTo: "Antwort auf", cancelReply: "Antwort abbrechen", typing: "{name} schreibt…",
    sent: "Gesendet", delivered: "Zugestellt", read: "Gelesen", queued: "Wartet auf Verbindung", failed: "Nicht gesendet — tippen zum Wiederholen",
    offline: "Du bist offline. Nachrichten werden gesendet, sobald die Verbindung zurück ist.", connecting: "Verbinde…",
    loadingOlder: "Ältere Nachrichten werden geladen…", beginning: "Hier beginnt die Unterhaltung.",
    unread: "{n} ungelesene Nachrichten", newMessage: "Neue Nachricht von {name}", messages: "Nachrichten",
    uploading: "Lade {name} hoch… {pct} %", uploadFailed: "Hochladen fehlgeschlagen: {error}", you: "Du",
    resolved: "Diese Unterhaltung wurde als gelöst markiert.", surveyTitle: "Wie zufrieden warst du?",
    surveyThanks: "Danke für dein Feedback!", surveyComment: "Möchtest du uns noch etwas sagen? (optional)",
    surveySubmit: "Feedback senden", rating: "{n} von {max}", newConversation: "Neue Unterhaltung beginnen",
    reactionBy: "{emoji} {count}, reagieren", removeReaction: "{emoji} {count}, deine Reaktion entfernen",
    deleted: "Nachricht gelöscht", edited: "bearbeitet", error: "Etwas ist schiefgelaufen: {error}", poweredBy: "Bereitgestellt von QanDu",
    image: "Bild", file: "Datei", download: "{name} herunterladen",
  },
};

export const LANGUAGES = Object.keys(TEXTS);

/** The best supported language for `wanted` (e.g. "de-AT"), else the browser's, else English. */
export function pickLanguage(wanted) {
  for (const tag of [wanted, ...(navigator.languages || [navigator.language])]) {
    const base = (tag || "").toLowerCase().split("-")[0];
    if (TEXTS[base]) return base;
  }
  return "en";
}

/** A translate function for `language`: t("typing", {name: "Ada"}). */
export function translator(language) {
  const texts = TEXTS[language] || TEXTS.en;
  return (key, values) => {
    let text = texts[key] || TEXTS.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.replaceAll(`{${name}}`, value);
    return text;
  };
}
