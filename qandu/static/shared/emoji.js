// A small built-in emoji set (no downloads): quick reactions and a picker for the composer.

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

export const EMOJI = [
  ["😀", "grinning"], ["😃", "smiley"], ["😄", "smile"], ["😁", "grin"], ["😅", "sweat smile"], ["😂", "joy"],
  ["🙂", "slightly smiling"], ["😉", "wink"], ["😊", "blush"], ["😍", "heart eyes"], ["🤔", "thinking"], ["😐", "neutral"],
  ["😮", "open mouth"], ["😢", "cry"], ["😭", "sob"], ["😡", "angry"], ["🥳", "party"], ["😎", "cool"],
  ["👍", "thumbs up"], ["👎", "thumbs down"], ["👏", "clap"], ["🙏", "pray thanks"], ["👋", "wave"], ["💪", "muscle"],
  ["❤️", "heart"], ["💔", "broken heart"], ["🔥", "fire"], ["✨", "sparkles"], ["🎉", "tada"], ["✅", "check"],
  ["❌", "cross"], ["⚠️", "warning"], ["❓", "question"], ["💡", "idea"], ["📦", "package"], ["🚚", "truck delivery"],
  ["💳", "card payment"], ["🧾", "receipt invoice"], ["📧", "email"], ["📞", "phone"], ["⏰", "alarm time"], ["☕", "coffee"],
];
