// Small DOM helpers shared by the screens.

import { lang, t } from "./i18n.js";
import type { Failure } from "./bindings/Failure.js";

type Child = Node | string;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/// A button with a localised label.
export function button(key: string, attrs: Record<string, string> = {}): HTMLButtonElement {
  return el("button", { type: "button", ...attrs }, t(key));
}

/// A labelled input; the label's text is localised.
export function field(
  key: string,
  input: Record<string, string>,
): { wrap: HTMLLabelElement; input: HTMLInputElement } {
  const node = el("input", input);
  return { wrap: el("label", { class: "field" }, el("span", {}, t(key)), node), input: node };
}

/// The catalogue's cause and remedy in the window's language.
export function problemView(problem: Failure): HTMLElement {
  const texts = lang() === "en" ? { cause: problem.message, remedy: problem.remedy } : problem.zh;
  return el(
    "div",
    { class: "problem", role: "alert", "data-testid": "problem", "data-code": problem.code },
    el("p", { class: "cause" }, texts.cause),
    el("p", { class: "remedy" }, texts.remedy),
  );
}

/// A failure that is not from the catalogue (a bug): shown as such.
export function unexpectedView(e: unknown): HTMLElement {
  return el(
    "div",
    { class: "problem", role: "alert", "data-testid": "problem", "data-code": "UNEXPECTED" },
    el("p", { class: "cause" }, t("error.unexpected")),
    el("p", { class: "remedy" }, String(e)),
  );
}

/// Focuses the first control of `root` that wants it.
export function focusFirst(root: ParentNode): void {
  const target = root.querySelector<HTMLElement>(
    "[data-autofocus], input:not([disabled]), button.primary:not([disabled])",
  );
  target?.focus();
}
