// Sign-in, the home screen (device status, queue counts, staff for
// administrators) and the queue view.

import { api } from "./api.js";
import type { Check } from "./bindings/Check.js";
import type { DeskState } from "./bindings/DeskState.js";
import type { DoctorReport } from "./bindings/DoctorReport.js";
import type { Level } from "./bindings/Level.js";
import type { LinkStatus } from "./bindings/LinkStatus.js";
import type { OutboxCounts } from "./bindings/OutboxCounts.js";
import type { NewStaffRole } from "./bindings/NewStaffRole.js";
import type { PacketRow } from "./bindings/PacketRow.js";
import { button, el, field, problemView } from "./dom.js";
import { lang, t } from "./i18n.js";
import { onLink, onReaders } from "./live.js";
import { replace, show, type Screen } from "./shell.js";
import { failureView, guarded, table } from "./panel.js";
import { settingsScreen } from "./settings.js";
import { auditScreen, openResubmit } from "./supervision.js";
import { startEnrollment } from "./wizard.js";

let desk: DeskState | null = null;

export function deskState(): DeskState | null {
  return desk;
}

/// Asks the core where we are and shows the matching screen.
export async function route(): Promise<void> {
  desk = await api.deskState();
  updateUserBar();
  if (desk.first_run) show(firstRunScreen());
  else if (!desk.signed_in) show(loginScreen());
  else show(homeScreen());
}

export function updateUserBar(): void {
  const bar = document.getElementById("user");
  if (!bar) return;
  const who = desk?.signed_in;
  if (!who) {
    bar.replaceChildren();
    return;
  }
  const out = button("login.sign_out", { "data-testid": "sign-out" });
  out.addEventListener("click", async () => {
    await api.signOut();
    await route();
  });
  bar.replaceChildren(
    el("span", { "data-testid": "signed-in" }, `${who.name} · ${t(`role.${who.role}`)}`),
    out,
  );
}

/// A name-and-password form: the first administrator, or signing in.
function credentialsScreen(options: {
  title: string;
  explain: string | null;
  prefix: "admin" | "login";
  passwordLabel: string;
  submitLabel: string;
  submitId: string;
  action: (name: string, password: string) => Promise<void>;
}): Screen {
  return {
    render() {
      const name = field("login.name", {
        "data-testid": `${options.prefix}-name`,
        autocomplete: "username",
      });
      const password = field(options.passwordLabel, {
        type: "password",
        "data-testid": `${options.prefix}-password`,
      });
      const submit = el(
        "button",
        { type: "submit", class: "primary", "data-testid": options.submitId },
        t(options.submitLabel),
      );
      const errors = el("div", { "aria-live": "assertive" });
      const form = el(
        "form",
        { class: "panel narrow" },
        el("h2", {}, t(options.title)),
        ...(options.explain ? [el("p", { class: "muted" }, t(options.explain))] : []),
        name.wrap,
        password.wrap,
        errors,
        submit,
      );
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        void guarded(submit, errors, () => options.action(name.input.value, password.input.value));
      });
      return form;
    },
  };
}

function firstRunScreen(): Screen {
  return credentialsScreen({
    title: "first_run.title",
    explain: "first_run.explain",
    prefix: "admin",
    passwordLabel: "login.new_password",
    submitLabel: "first_run.create",
    submitId: "create-admin",
    action: async (name, password) => {
      await api.createAdministrator(name, password);
      await api.signIn(name, password);
      await route();
    },
  });
}

function loginScreen(): Screen {
  return credentialsScreen({
    title: "login.title",
    explain: null,
    prefix: "login",
    passwordLabel: "login.password",
    submitLabel: "login.submit",
    submitId: "login-submit",
    action: async (name, password) => {
      await api.signIn(name, password);
      await route();
    },
  });
}

// --- home --------------------------------------------------------------

type Row = { key: string; check: Check<unknown>; items: string[] };

function rows(report: DoctorReport): Row[] {
  const db = report.database.found;
  const platform = report.platform.found;
  return [
    {
      key: "readers",
      check: report.readers,
      items: report.readers.found.map(
        (r) => `${r.name} — ${t(r.card_present ? "reader.card_present" : "reader.no_card")}`,
      ),
    },
    { key: "cameras", check: report.cameras, items: report.cameras.found.map((c) => c.name) },
    {
      key: "microphones",
      check: report.microphones,
      items: report.microphones.found.map((m) =>
        m.is_default ? `${m.name} (${t("mic.default")})` : m.name,
      ),
    },
    {
      key: "models",
      check: report.models,
      items: report.models.found.map(
        (m) => `${m.role}: ${m.version} — ${t(m.verified ? "model.verified" : "model.unverified")}`,
      ),
    },
    {
      key: "database",
      check: report.database,
      items: db ? [`${t("database.mode")} ${db.journal_mode}, schema ${db.schema_version}`] : [],
    },
    {
      key: "platform",
      check: report.platform,
      items: platform.url
        ? [`${platform.url}${platform.reachable ? ` — ${t("platform.reachable")}` : ""}`]
        : [t("platform.not_configured")],
    },
  ];
}

let lastReport: DoctorReport | null = null;

function devicesList(report: DoctorReport): HTMLElement[] {
  const all = rows(report);
  const levels: Level[] = all.map((r) => r.check.status);
  const summary = levels.includes("error")
    ? t("devices.some_errors")
    : levels.includes("warning")
      ? t("devices.some_warnings")
      : t("devices.all_ok");
  return [
    el("p", { class: "summary", "data-testid": "devices-summary" }, summary),
    el(
      "ul",
      { class: "checks", "data-testid": "devices" },
      ...all.map(({ key, check, items }) =>
        el(
          "li",
          { class: "check", "data-testid": `check-${key}`, "data-status": check.status },
          el("span", { class: "check-name" }, t(`check.${key}`)),
          el("span", { class: `pill ${check.status}` }, t(`status.${check.status}`)),
          el(
            "div",
            {},
            items.length
              ? el(
                  "ul",
                  { class: "found" },
                  ...items.map((text) => el("li", { "data-testid": `${key}-item` }, text)),
                )
              : el("span", { class: "muted" }, t("found.none")),
            ...(check.problem ? [problemView(check.problem)] : []),
          ),
        ),
      ),
    ),
  ];
}

function devicesPanel(): HTMLElement {
  const body = el("div", { "aria-live": "polite" });
  const refresh = button("devices.refresh", { "data-testid": "refresh" });
  const load = async () => {
    refresh.disabled = true;
    body.replaceChildren(el("p", { class: "summary" }, t("devices.checking")));
    try {
      lastReport = await api.deviceStatus();
      replace(body, ...devicesList(lastReport));
    } catch (e) {
      replace(body, el("p", { class: "summary" }, t("devices.failed")), failureView(e));
    } finally {
      refresh.disabled = false;
    }
  };
  refresh.addEventListener("click", () => void load());
  if (lastReport) body.replaceChildren(...devicesList(lastReport));
  else void load();
  // Readers and cards change as they are plugged in: the core says so.
  onReaders(body, (board) => {
    if (!lastReport) return;
    lastReport = { ...lastReport, readers: board.readers };
    replace(body, ...devicesList(lastReport));
  });
  return el(
    "section",
    { class: "panel", "aria-labelledby": "devices-title" },
    el(
      "div",
      { class: "panel-head" },
      el("h2", { id: "devices-title" }, t("devices.title")),
      refresh,
    ),
    body,
  );
}

function countsView(c: OutboxCounts): HTMLElement {
  return el(
    "dl",
    { class: "counts", "data-testid": "queue-counts" },
    ...(["queued", "uploading", "acknowledged", "rejected"] as const).flatMap((k) => [
      el("dt", {}, t(`queue.state.${k}`)),
      el("dd", { "data-testid": `count-${k}` }, String(c[k])),
    ]),
  );
}

function queuePanel(): HTMLElement {
  const body = el("div", {}, el("p", { class: "muted" }, t("queue.loading")));
  const open = button("queue.open", { "data-testid": "open-queue" });
  open.addEventListener("click", () => show(queueScreen()));
  api.queue().then(
    (view) => replace(body, countsView(view.counts)),
    (e) => replace(body, failureView(e)),
  );
  // While the uplink runs its counts are the newest.
  onLink(body, (link) => {
    if (uplinkRuns(link)) replace(body, countsView(link.counts));
  });
  return el(
    "section",
    { class: "panel" },
    el("div", { class: "panel-head" }, el("h2", {}, t("queue.title")), open),
    body,
  );
}

function uplinkRuns(link: LinkStatus): boolean {
  return link.state !== "not_registered" && link.state !== "stopped";
}

const LINK_LEVEL: Record<LinkStatus["state"], Level> = {
  not_registered: "warning",
  connecting: "warning",
  online: "ok",
  degraded: "warning",
  offline: "error",
  stopped: "error",
};

function linkView(link: LinkStatus): HTMLElement[] {
  const contact = link.last_contact_unix_ms
    ? new Date(link.last_contact_unix_ms).toLocaleString(lang())
    : t("link.never");
  return [
    el(
      "p",
      { class: "summary" },
      el(
        "span",
        { class: `pill ${LINK_LEVEL[link.state]}`, "data-testid": "link-state", "data-state": link.state },
        t(`link.state.${link.state}`),
      ),
      ...(link.uploading ? [" ", el("span", { class: "muted", "data-testid": "link-uploading" }, t("link.uploading"))] : []),
    ),
    el(
      "dl",
      { class: "data" },
      el("dt", {}, t("link.platform")),
      el("dd", { "data-testid": "link-hub" }, link.hub_url ?? t("platform.not_configured")),
      el("dt", {}, t("link.last_contact")),
      el("dd", { "data-testid": "link-last-contact" }, contact),
    ),
    ...(link.problem && link.state !== "online" ? [problemView(link.problem)] : []),
  ];
}

/// The platform link as the uplink sees it, updated as it changes.
function linkPanel(): HTMLElement {
  const body = el("div", { "aria-live": "polite" }, el("p", { class: "muted" }, t("link.starting")));
  onLink(body, (link) => replace(body, ...linkView(link)));
  return el(
    "section",
    { class: "panel", "data-testid": "link-panel", "aria-labelledby": "link-title" },
    el("div", { class: "panel-head" }, el("h2", { id: "link-title" }, t("link.title"))),
    body,
  );
}

function staffPanel(): HTMLElement {
  const name = field("login.name", { "data-testid": "staff-name", autocomplete: "off" });
  const password = field("login.new_password", { type: "password", "data-testid": "staff-password" });
  const role = el(
    "select",
    { "data-testid": "staff-role" },
    el("option", { value: "clerk" }, t("role.clerk")),
    el("option", { value: "supervisor" }, t("role.supervisor")),
  );
  const submit = el(
    "button",
    { type: "submit", "data-testid": "staff-add" },
    t("staff.add"),
  );
  const result = el("div", { "aria-live": "polite" });
  const form = el(
    "form",
    { class: "panel" },
    el("h2", {}, t("staff.title")),
    el("div", { class: "row" }, name.wrap, password.wrap, el("label", { class: "field" }, el("span", {}, t("staff.role")), role)),
    result,
    submit,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void guarded(submit, result, async () => {
      const added = await api.addUser(name.input.value, password.input.value, role.value as NewStaffRole);
      name.input.value = "";
      password.input.value = "";
      replace(
        result,
        el("p", { class: "ok-note", "data-testid": "staff-added" }, `${t("staff.added")} ${added.name} · ${t(`role.${added.role}`)}`),
      );
    });
  });
  return form;
}

export function homeScreen(): Screen {
  return {
    render() {
      const who = desk?.signed_in;
      const parts: HTMLElement[] = [];
      if (desk?.demo) parts.push(el("p", { class: "demo-note", "data-testid": "demo-note" }, t("demo.note")));
      if (who && who.role !== "administrator") {
        const start = button("home.new_enrollment", { class: "primary big", "data-testid": "new-enrollment" });
        const errors = el("div", { "aria-live": "assertive" });
        start.addEventListener("click", () => {
          void guarded(start, errors, async () => {
            await api.beginEnrollment();
            startEnrollment(desk, () => void route());
          });
        });
        parts.push(el("section", { class: "panel" }, start, errors));
      }
      if (who?.role === "administrator") parts.push(staffPanel(), settingsPanel());
      if (who && who.role !== "clerk") parts.push(auditPanel());
      parts.push(linkPanel(), queuePanel(), devicesPanel());
      return el("div", { class: "stack" }, ...parts);
    },
    next: () => (document.querySelector<HTMLButtonElement>("[data-testid=new-enrollment]"))?.click(),
  };
}

/// Resubmit, for a packet the platform rejected: a supervisor or
/// administrator signs in for it; the queue is shown again after.
function resubmitButton(p: PacketRow): HTMLButtonElement {
  const b = button("queue.resubmit", { "data-testid": "resubmit" });
  b.addEventListener("click", () => openResubmit(p, () => show(queueScreen())));
  return b;
}

function settingsPanel(): HTMLElement {
  const open = button("settings.open", { "data-testid": "open-settings" });
  open.addEventListener("click", () => show(settingsScreen(() => void route())));
  return el("section", { class: "panel" }, el("div", { class: "panel-head" }, el("h2", {}, t("settings.title")), open));
}

function auditPanel(): HTMLElement {
  const open = button("audit.open", { "data-testid": "open-audit" });
  open.addEventListener("click", () => show(auditScreen(() => void route())));
  return el("section", { class: "panel" }, el("div", { class: "panel-head" }, el("h2", {}, t("audit.title")), open));
}

export function queueScreen(): Screen {
  const screen: Screen = {
    render() {
      const body = el("div", {}, el("p", { class: "muted" }, t("queue.loading")));
      const back = button("nav.home", { "data-testid": "back-home" });
      back.addEventListener("click", () => void route());
      api.queue().then(
        (view) =>
          replace(
            body,
            countsView(view.counts),
            view.packets.length
              ? table(
                  "packets",
                  ["queue.packet", "queue.state", "queue.attempts", "queue.queued_at", "queue.last_error", "queue.action"],
                  view.packets.map((p) =>
                    el(
                      "tr",
                      { "data-testid": "packet-row", "data-packet": p.id, "data-state": p.state },
                      el("td", { class: "mono" }, p.id.slice(0, 8)),
                      el("td", {}, t(`queue.state.${p.state}`)),
                      el("td", {}, String(p.attempts)),
                      el("td", {}, new Date(p.queued_at_unix_ms).toLocaleString()),
                      el("td", {}, p.last_error ?? ""),
                      el("td", {}, ...(p.state === "rejected" ? [resubmitButton(p)] : [])),
                    ),
                  ),
                )
              : el("p", { class: "muted" }, t("queue.empty")),
          ),
        (e) => replace(body, failureView(e)),
      );
      return el(
        "section",
        { class: "panel" },
        el("div", { class: "panel-head" }, el("h2", { "data-testid": "queue-title" }, t("queue.title")), back),
        body,
      );
    },
    back: () => void route(),
  };
  return screen;
}
