// What supervisors and administrators do beside enrollments: the audit
// log (newest first, paged, filtered, with the hash chain's verdict) and
// resubmitting a packet the platform rejected. The core refuses both to
// anyone else; the window only hides the doors.

import { api } from "./api.js";
import type { AuditQuery } from "./bindings/AuditQuery.js";
import type { AuditView } from "./bindings/AuditView.js";
import type { PacketRow } from "./bindings/PacketRow.js";
import { button, el, field } from "./dom.js";
import { t } from "./i18n.js";
import { onSubmit, panelScreen, table } from "./panel.js";
import { openDialog, type Screen } from "./shell.js";

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
  onSubmit(form, submit, errors, async () => {
    const row = await api.resubmitPacket(packet.id, name.input.value, password.input.value);
    close();
    done(row);
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
  return panelScreen("audit.title", "audit-title", home, async (reload) => {
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
      reload();
    };
    actor.addEventListener("change", filter);
    action.addEventListener("change", filter);
    const newerButton = button("audit.newer", { "data-testid": "audit-newer" });
    newerButton.disabled = newer.length === 0;
    newerButton.addEventListener("click", () => {
      query.before = newer.pop() ?? null;
      reload();
    });
    const olderButton = button("audit.older", { "data-testid": "audit-older" });
    olderButton.disabled = view.next_before === null;
    olderButton.addEventListener("click", () => {
      newer.push(query.before);
      query.before = view.next_before;
      reload();
    });
    const rows = view.lines.map((l) =>
      el(
        "tr",
        { "data-testid": "audit-line", "data-action": l.action, "data-actor": l.actor },
        el("td", {}, String(l.seq)),
        el("td", {}, new Date(l.at_unix_ms).toLocaleString()),
        el("td", {}, l.actor),
        el("td", { class: "nowrap" }, t(`audit.action.${l.action}`)),
        el("td", { class: "mono" }, l.subject ? l.subject.slice(0, 8) : ""),
        el("td", {}, l.detail),
      ),
    );
    return [
      chainView(view),
      el("div", { class: "row" }, actor, action),
      rows.length
        ? table("audit-lines", ["audit.seq", "audit.at", "audit.actor", "audit.action", "audit.subject", "audit.detail"], rows)
        : el("p", { class: "muted" }, t("audit.empty")),
      el("div", { class: "row" }, newerButton, olderButton),
    ];
  });
}
