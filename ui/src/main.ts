// The clerk's window. The home screen shows the station's devices as the
// station core reports them (the same report as `station doctor`).

import { lang, savedLang, setLang, t } from "./i18n.js";
import type { Check, DoctorReport, Failure, Level } from "./types.js";

interface TauriGlobal {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
}

function tauri(): TauriGlobal {
  return (window as unknown as { __TAURI__: TauriGlobal }).__TAURI__;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function problemView(problem: Failure): HTMLElement {
  const texts =
    lang() === "en" ? { cause: problem.message, remedy: problem.remedy } : problem.zh;
  return el(
    "p",
    { class: "problem", "data-code": problem.code },
    el("span", { class: "cause" }, texts.cause),
    " ",
    el("span", { class: "remedy" }, texts.remedy),
  );
}

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
    {
      key: "cameras",
      check: report.cameras,
      items: report.cameras.found.map((c) => c.name),
    },
    {
      key: "microphones",
      check: report.microphones,
      items: report.microphones.found.map(
        (m) => (m.is_default ? `${m.name} (${t("mic.default")})` : m.name),
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

function render(report: DoctorReport): void {
  const list = document.getElementById("devices");
  const summary = document.getElementById("devices-summary");
  if (!list || !summary) return;
  const levels: Level[] = rows(report).map((r) => r.check.status);
  summary.textContent = levels.includes("error")
    ? t("devices.some_errors")
    : levels.includes("warning")
      ? t("devices.some_warnings")
      : t("devices.all_ok");
  list.replaceChildren(
    ...rows(report).map(({ key, check, items }) =>
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
  );
}

let lastReport: DoctorReport | null = null;

async function refresh(): Promise<void> {
  const summary = document.getElementById("devices-summary");
  const button = document.getElementById("refresh") as HTMLButtonElement | null;
  if (summary) summary.textContent = t("devices.checking");
  if (button) button.disabled = true;
  try {
    lastReport = await tauri().core.invoke<DoctorReport>("device_status");
    render(lastReport);
  } catch (e) {
    const failure = e as Partial<Failure>;
    if (summary) summary.textContent = t("devices.failed");
    if (failure.code) {
      document.getElementById("devices")?.replaceChildren(problemView(failure as Failure));
    }
  } finally {
    if (button) button.disabled = false;
  }
}

async function start(): Promise<void> {
  await setLang(savedLang());
  const toggle = document.getElementById("lang-toggle");
  const updateToggle = () => {
    if (toggle) toggle.textContent = t("lang.switch");
  };
  updateToggle();
  toggle?.addEventListener("click", async () => {
    await setLang(lang() === "en" ? "zh-CN" : "en");
    updateToggle();
    if (lastReport) render(lastReport);
  });
  document.getElementById("refresh")?.addEventListener("click", () => void refresh());
  await refresh();
}

void start();
