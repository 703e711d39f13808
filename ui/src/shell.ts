// The window's frame: one screen at a time in <main>, keyboard shortcuts
// (Alt+→ next, Alt+← back, Escape closes a dialog or goes back), and the
// modal dialog the supervisor signs in with.

import { focusFirst } from "./dom.js";

export interface Screen {
  /// Builds the screen's content; called again when the language changes.
  render(): HTMLElement;
  next?: () => void;
  back?: () => void;
  /// Lets go of what the screen holds (blob URLs) when another replaces it.
  leave?: () => void;
}

let current: Screen | null = null;
let dialog: { node: HTMLElement; close: () => void; opener: HTMLElement | null } | null = null;

export function show(screen: Screen): void {
  if (current !== screen) current?.leave?.();
  current = screen;
  rerender();
}

export function rerender(): void {
  const main = document.getElementById("screen");
  if (!main || !current) return;
  const content = current.render();
  main.replaceChildren(content);
  focusFirst(content);
}

/// Replaces one part of the current screen without moving the focus
/// unless the focused element was inside it.
export function replace(target: HTMLElement, ...nodes: Node[]): void {
  const hadFocus = target.contains(document.activeElement);
  target.replaceChildren(...nodes);
  if (hadFocus) focusFirst(target);
}

/// Opens a modal dialog; Escape or `close` ends it and the focus returns
/// to where it was. Tab stays inside.
export function openDialog(content: HTMLElement, onClose: () => void = () => {}): () => void {
  closeDialog();
  const backdrop = document.createElement("div");
  backdrop.className = "backdrop";
  const box = document.createElement("div");
  box.className = "dialog";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-modal", "true");
  box.append(content);
  backdrop.append(box);
  document.body.append(backdrop);
  const opener = document.activeElement as HTMLElement | null;
  const close = () => {
    if (dialog?.node !== backdrop) return;
    dialog = null;
    backdrop.remove();
    onClose();
    opener?.focus();
  };
  dialog = { node: backdrop, close, opener };
  focusFirst(box);
  return close;
}

export function closeDialog(): void {
  dialog?.close();
}

function trapTab(e: KeyboardEvent): void {
  if (!dialog || e.key !== "Tab") return;
  const focusable = Array.from(
    dialog.node.querySelectorAll<HTMLElement>("input, button, select, textarea"),
  ).filter((n) => !(n as HTMLButtonElement).disabled);
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (!first || !last) return;
  if (e.shiftKey && document.activeElement === first) {
    last.focus();
    e.preventDefault();
  } else if (!e.shiftKey && document.activeElement === last) {
    first.focus();
    e.preventDefault();
  }
}

export function installKeys(): void {
  document.addEventListener("keydown", (e) => {
    trapTab(e);
    if (e.key === "Escape") {
      if (dialog) {
        dialog.close();
      } else {
        current?.back?.();
      }
      e.preventDefault();
    } else if (e.altKey && e.key === "ArrowRight" && !dialog) {
      current?.next?.();
      e.preventDefault();
    } else if (e.altKey && e.key === "ArrowLeft" && !dialog) {
      current?.back?.();
      e.preventDefault();
    }
  });
}
