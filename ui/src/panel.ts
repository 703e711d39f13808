// Pieces the list and form screens share: a screen of one panel with its
// title and a way home, a table, and a failure shown from the catalogue.

import { asFailure } from "./api.js";
import { button, el, problemView, unexpectedView } from "./dom.js";
import { t } from "./i18n.js";
import { replace, type Screen } from "./shell.js";

/// The catalogue's cause and remedy, or an unexpected error as such.
export function failureView(e: unknown): HTMLElement {
  const f = asFailure(e);
  return f ? problemView(f) : unexpectedView(e);
}

/// A screen of one panel titled `title`, with Home (Escape too); `fill`
/// loads its body and may be run again through `reload`. A failure lands
/// in the body.
export function panelScreen(
  title: string,
  testid: string,
  home: () => void,
  fill: (reload: () => void) => Promise<Node[]>,
): Screen {
  return {
    render() {
      const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("queue.loading")));
      const back = button("nav.home", { "data-testid": "back-home" });
      back.addEventListener("click", home);
      const load = async () => {
        try {
          replace(body, ...(await fill(() => void load())));
        } catch (e) {
          replace(body, failureView(e));
        }
      };
      void load();
      return el(
        "section",
        { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { "data-testid": testid }, t(title)), back),
        body,
      );
    },
    back: home,
  };
}

/// A table with localised headings and the rows given.
export function table(testid: string, headings: string[], rows: HTMLElement[]): HTMLElement {
  return el(
    "table",
    { class: "packets", "data-testid": testid },
    el("thead", {}, el("tr", {}, ...headings.map((k) => el("th", {}, t(k))))),
    el("tbody", {}, ...rows),
  );
}

/// Runs `action` when `form` is submitted (Enter or its button): `submit`
/// is disabled meanwhile and a failure lands in `errors`.
/// Runs `action` from a form: the button is disabled meanwhile and a
/// failure lands in `errors`.
export async function guarded(
  submit: HTMLButtonElement,
  errors: HTMLElement,
  action: () => Promise<void>,
): Promise<void> {
  submit.disabled = true;
  errors.replaceChildren();
  try {
    await action();
  } catch (err) {
    replace(errors, failureView(err));
  } finally {
    submit.disabled = false;
  }
}

export function onSubmit(
  form: HTMLFormElement,
  submit: HTMLButtonElement,
  errors: HTMLElement,
  action: () => Promise<void>,
): void {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void guarded(submit, errors, action);
  });
}
