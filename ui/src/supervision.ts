// What supervisors and administrators do beside enrollments: the audit
// log (newest first, paged, filtered, with the hash chain's verdict) and
// resubmitting a packet the platform rejected. The core refuses both to
// anyone else; the window only hides the doors.

import { api, asFailure } from "./api.js";
import type { AuditQuery } from "./bindings/AuditQuery.js";
import type { AuditView } from "./bindings/AuditView.js";
import type { PacketRow } from "./bindings/PacketRow.js";
import { button, el, field, problemView, unexpectedView } from "./dom.js";
import { t } from "./i18n.js";
import { openDialog, replace, type Screen } from "./shell.js";

function failureView(e: unknown): HTMLElement {
  const f = asFailure(e);
  return f ? problemView(f) : unexpectedView(e);
}

// --- resubmit ------------------------------------------------------------

/// The supervisor or administrator signs in for this one resubmission;
/// `done` gets the row as it now is.
export function openResubmit(packet: PacketRow, done: (row: PacketRow) => void): void {
  const name = field("approval.supervisor", { "data-testid": "resubmit-user", autocomplete: "off" });
  const password = field("login.password", { type: "password", "data-testid": "resubmit-password" });
  const submit = el(
    "button",
    { type: "submit", class: "primary", "data-testid": "resubmit-confirm" },
    t("queue.resubmit"),
  );
  const errors = el("div", { "aria-live": "assertive" });
  const form = el(
    "form",
    {},
    el("h2", {}, t("resubmit.title")),
    el("p", {}, t("resubmit.explain")),
    el("p", { class: "muted" }, `${t("queue.last_error")}: ${packet.last_error ?? ""}`),
    name.wrap,
    password.wrap,
    errors,
    submit,
  );
  const close = openDialog(form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    errors.replaceChildren();
    try {
      const row = await api.resubmitPacket(packet.id, name.input.value, password.input.value);
      close();
      done(row);
    } catch (err) {
      replace(errors, failureView(err));
      submit.disabled = false;
    }
  });
}

// --- audit log -------------------------------------------------------------

function chainView(view: AuditView): HTMLElement {
  const c = view.chain;
  return c.intact
    ? el("p", { class: "ok-note", "data-testid": "audit-chain", "data-intact": "true" }, `${t("audit.intact")} (${c.entries ?? 0})`)
    : el(
        "p",
        { class: "problem", role: "alert", "data-testid": "audit-chain", "data-intact": "false" },
        `${t("audit.broken")} #${c.broken_at ?? "?"} — ${t(`audit.problem.${c.problem ?? "unknown"}`)}`,
      );
}

function select(testid: string, label: string, all: string, options: [string, string][], value: string | null): HTMLSelectElement {
  const node = el(
    "select",
    { "data-testid": testid, "aria-label": t(label) },
    el("option", { value: "" }, t(all)),
    ...options.map(([v, text]) => el("option", { value: v }, text)),
  );
  node.value = value ?? "";
  return node;
}

export function auditScreen(home: () => void): Screen {
  // The pages seen so far, to go back to newer ones.
  const query: AuditQuery = { before: null, actor: null, action: null };
  const newer: (number | null)[] = [];
  return {
    render() {
      const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("queue.loading")));
      const back = button("nav.home", { "data-testid": "back-home" });
      back.addEventListener("click", home);
      const load = async () => {
        try {
          const view = await api.auditLog(query);
          const actor = select("audit-actor", "audit.actor", "audit.all_actors", view.actors.map((a) => [a, a]), query.actor);
          const action = select(
            "audit-action",
            "audit.action",
            "audit.all_actions",
            view.actions.map((a) => [a, t(`audit.action.${a}`)]),
            query.action,
          );
          const filter = () => {
            query.actor = actor.value || null;
            query.action = action.value || null;
            query.before = null;
            newer.length = 0;
            void load();
          };
          actor.addEventListener("change", filter);
          action.addEventListener("change", filter);
          const newerButton = button("audit.newer", { "data-testid": "audit-newer" });
          newerButton.disabled = newer.length === 0;
          newerButton.addEventListener("click", () => {
            query.before = newer.pop() ?? null;
            void load();
          });
          const olderButton = button("audit.older", { "data-testid": "audit-older" });
          olderButton.disabled = view.next_before === null;
          olderButton.addEventListener("click", () => {
            newer.push(query.before);
            query.before = view.next_before;
            void load();
          });
          replace(
            body,
            chainView(view),
            el("div", { class: "row" }, actor, action),
            view.lines.length
              ? el(
                  "table",
                  { class: "packets", "data-testid": "audit-lines" },
                  el(
                    "thead",
                    {},
                    el(
                      "tr",
                      {},
                      ...["audit.seq", "audit.at", "audit.actor", "audit.action", "audit.subject", "audit.detail"].map((k) =>
                        el("th", {}, t(k)),
                      ),
                    ),
                  ),
                  el(
                    "tbody",
                    {},
                    ...view.lines.map((l) =>
                      el(
                        "tr",
                        { "data-testid": "audit-line", "data-action": l.action, "data-actor": l.actor },
                        el("td", {}, String(l.seq)),
                        el("td", {}, new Date(l.at_unix_ms).toLocaleString()),
                        el("td", {}, l.actor),
                        el("td", {}, t(`audit.action.${l.action}`)),
                        el("td", { class: "mono" }, l.subject ? l.subject.slice(0, 8) : ""),
                        el("td", {}, l.detail),
                      ),
                    ),
                  ),
                )
              : el("p", { class: "muted" }, t("audit.empty")),
            el("div", { class: "row" }, newerButton, olderButton),
          );
        } catch (e) {
          replace(body, failureView(e));
        }
      };
      void load();
      return el(
        "section",
        { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { "data-testid": "audit-title" }, t("audit.title")), back),
        body,
      );
    },
    back: home,
  };
}
