// The administrator's settings: the platform's address, the decision
// thresholds, the trust store (CSCA certificates and CRLs added by path)
// and the devices the counter uses. The core checks every value and
// refuses anyone but an administrator; nothing is decided here.

import { api } from "./api.js";
import type { DoctorReport } from "./bindings/DoctorReport.js";
import type { SettingsView } from "./bindings/SettingsView.js";
import type { StationSettings } from "./bindings/StationSettings.js";
import { el, field } from "./dom.js";
import { t } from "./i18n.js";
import { onSubmit, panelScreen } from "./panel.js";
import { replace, type Screen } from "./shell.js";

type Threshold = "face_match_threshold" | "liveness_live_threshold" | "liveness_spoof_threshold" | "voice_min_speech_seconds" | "voice_min_snr_db";
// The core's ranges (crates/station/src/settings.rs), for the inputs' arrows.
const THRESHOLDS: { key: Threshold; step: string; min: string; max: string }[] = [
  { key: "face_match_threshold", step: "0.01", min: "0.2", max: "0.9" },
  { key: "liveness_live_threshold", step: "0.01", min: "0", max: "1" },
  { key: "liveness_spoof_threshold", step: "0.01", min: "0", max: "1" },
  { key: "voice_min_speech_seconds", step: "0.1", min: "0.5", max: "5" },
  { key: "voice_min_snr_db", step: "1", min: "1", max: "40" },
];

type Device = "reader" | "camera" | "microphone";

/// A device choice: automatic, or one of what the doctor found (a saved
/// choice that is not attached now stays listed).
function deviceSelect(key: Device, options: [string, string][], value: string | null): HTMLSelectElement {
  if (value && !options.some(([v]) => v === value)) options.push([value, value]);
  const node = el(
    "select",
    { "data-testid": `setting-${key}` },
    el("option", { value: "" }, t("settings.automatic")),
    ...options.map(([v, text]) => el("option", { value: v }, text)),
  );
  node.value = value ?? "";
  return node;
}

type Done = "saved" | "trust_added";

function form(view: SettingsView, devices: DoctorReport | null, reload: (done: Done) => void): HTMLElement {
  const s = view.settings;
  const url = field("settings.platform_url", { "data-testid": "setting-platform_url", autocomplete: "off" });
  url.input.value = view.platform_url ?? "";
  url.input.disabled = view.platform_url === null;
  const numbers = THRESHOLDS.map(({ key, step, min, max }) => {
    const f = field(`settings.${key}`, { type: "number", step, min, max, "data-testid": `setting-${key}` });
    f.input.value = String(s[key]);
    return { key, f };
  });
  const reader = deviceSelect("reader", devices?.readers.found.map((r) => [r.name, r.name]) ?? [], s.reader);
  const camera = deviceSelect(
    "camera",
    devices?.cameras.found.map((c) => [`device:${c.index}`, c.name]) ?? [],
    s.camera,
  );
  const microphone = deviceSelect(
    "microphone",
    devices?.microphones.found.map((m) => [m.id, m.name]) ?? [],
    s.microphone,
  );
  const labelled = (key: string, node: HTMLElement) => el("label", { class: "field" }, el("span", {}, t(key)), node);
  const save = el("button", { type: "submit", class: "primary", "data-testid": "settings-save" }, t("settings.save"));
  const result = el("div", { "aria-live": "assertive" });
  const settingsForm = el(
    "form",
    { class: "panel" },
    el("h2", {}, t("settings.platform")),
    url.wrap,
    ...(view.platform_url === null ? [el("p", { class: "muted" }, t("settings.not_registered"))] : []),
    el("h2", {}, t("settings.thresholds")),
    el("div", { class: "row" }, ...numbers.map(({ f }) => f.wrap)),
    el("h2", {}, t("settings.devices")),
    el(
      "div",
      { class: "row" },
      labelled("settings.reader", reader),
      labelled("settings.camera", camera),
      labelled("settings.microphone", microphone),
    ),
    result,
    save,
  );
  onSubmit(settingsForm, save, result, async () => {
    const settings: StationSettings = {
      ...s,
      reader: reader.value || null,
      camera: camera.value || null,
      microphone: microphone.value || null,
    };
    // An emptied field would be Number("") = 0: refused here, naming the
    // field (its label gives the range), before the core sees anything.
    for (const { key, f } of numbers) {
      const text = f.input.value.trim();
      const value = Number(text);
      if (text === "" || !Number.isFinite(value)) {
        replace(
          result,
          el("p", { class: "problem", role: "alert", "data-testid": "setting-not-a-number", "data-setting": key }, `${t("settings.number_needed")} ${t(`settings.${key}`)}`),
        );
        f.input.focus();
        return;
      }
      settings[key] = value;
    }
    await api.saveSettings({ settings, platform_url: view.platform_url === null ? null : url.input.value });
    reload("saved");
  });

  const path = field("settings.trust_path", { "data-testid": "trust-path", autocomplete: "off" });
  const add = el("button", { type: "submit", "data-testid": "trust-import" }, t("settings.trust_import"));
  const trustResult = el("div", { "aria-live": "assertive" });
  const trustForm = el(
    "form",
    { class: "panel" },
    el("h2", {}, t("settings.trust")),
    view.trust_files.length
      ? el("ul", { class: "found", "data-testid": "trust-files" }, ...view.trust_files.map((f) => el("li", { "data-testid": "trust-file" }, f)))
      : el("p", { class: "muted", "data-testid": "trust-files" }, t("settings.trust_empty")),
    el("p", { class: "muted" }, t("settings.trust_explain")),
    path.wrap,
    trustResult,
    add,
  );
  onSubmit(trustForm, add, trustResult, async () => {
    await api.importTrustFile(path.input.value);
    reload("trust_added");
  });
  return el("div", { class: "stack" }, settingsForm, trustForm);
}

export function settingsScreen(home: () => void): Screen {
  // What the last action did, said above the form once it is reloaded.
  let done: Done | null = null;
  return panelScreen("settings.title", "settings-title", home, async (reload) => {
    const [view, devices] = await Promise.all([api.settings(), api.deviceStatus().catch(() => null)]);
    const after = (what: Done) => {
      done = what;
      reload();
    };
    return [
      ...(done ? [el("p", { class: "ok-note", "data-testid": `settings-${done}` }, t(`settings.${done}`))] : []),
      form(view, devices, after),
    ];
  });
}
