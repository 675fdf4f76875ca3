/** Keyboard shortcuts for the common moves; ignored while typing in a field. */
export interface Shortcuts {
  next?: () => void; // j
  prev?: () => void; // k
  reply?: () => void; // r
  assign?: () => void; // a
  close?: () => void; // e
  help?: () => void; // ?
}

export const SHORTCUT_HELP: [string, string][] = [
  ["j", "next conversation"],
  ["k", "previous conversation"],
  ["r", "reply (focus the composer)"],
  ["a", "assign"],
  ["e", "close the conversation"],
  ["?", "show this help"],
  ["Esc", "close a dialog"],
];

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function shortcutHandler(shortcuts: Shortcuts): (event: KeyboardEvent) => void {
  const map: Record<string, (() => void) | undefined> = {
    j: shortcuts.next,
    k: shortcuts.prev,
    r: shortcuts.reply,
    a: shortcuts.assign,
    e: shortcuts.close,
    "?": shortcuts.help,
  };
  return (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const run = map[event.key];
    if (run) {
      event.preventDefault();
      run();
    }
  };
}
