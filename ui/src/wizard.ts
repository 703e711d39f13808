// The enrollment wizard: Document → Face → Voice → Review, then the
// supervisor's approval in a dialog. Each step calls one station-core
// command; long ones report progress over a channel while they run.

import { api } from "./api.js";
import type { ChallengeReport } from "./bindings/ChallengeReport.js";
import type { ChallengeText } from "./bindings/ChallengeText.js";
import type { DeskState } from "./bindings/DeskState.js";
import type { DocumentReport } from "./bindings/DocumentReport.js";
import type { FaceProgress } from "./bindings/FaceProgress.js";
import type { FaceReport } from "./bindings/FaceReport.js";
import type { FieldState } from "./bindings/FieldState.js";
import type { MrzCheck } from "./bindings/MrzCheck.js";
import type { MrzFields } from "./bindings/MrzFields.js";
import type { SealedReport } from "./bindings/SealedReport.js";
import type { Verification } from "./bindings/Verification.js";
import type { VoiceReport } from "./bindings/VoiceReport.js";
import { button, el, field } from "./dom.js";
import { t } from "./i18n.js";
import { onReaders, readerBoard } from "./live.js";
import { failureView } from "./panel.js";
import { openDialog, replace, show, type Screen } from "./shell.js";

type Step = "document" | "face" | "voice" | "review" | "done";
const STEPS: Step[] = ["document", "face", "voice", "review"];

interface Wizard {
  step: Step;
  demo: boolean;
  demoCan: string | null;
  access: "mrz" | "can";
  mrz: MrzFields;
  can: string;
  folder: string;
  busy: boolean;
  document: DocumentReport | null;
  face: FaceReport | null;
  /// Preview frames the window received during the face capture.
  previewFrames: number;
  /// The head-turn prompts the face step showed, in order, each once.
  turnPrompts: string[];
  /// Milliseconds from capture to display of each preview frame shown,
  /// and the seconds from the first preview frame to the last: the
  /// preview's latency and rate.
  previewLatencies: number[];
  previewSeconds: number;
  challenge: ChallengeText | null;
  voice: VoiceReport | null;
  sealed: SealedReport | null;
  rejected: boolean;
  problem: unknown;
  home: () => void;
}

let w: Wizard | null = null;


export function startEnrollment(desk: DeskState | null, home: () => void): void {
  w = {
    step: "document",
    demo: desk?.demo ?? false,
    demoCan: desk?.demo_can ?? null,
    access: "mrz",
    mrz: {
      document_number: "",
      document_check: "",
      date_of_birth: "",
      birth_check: "",
      date_of_expiry: "",
      expiry_check: "",
    },
    can: "",
    folder: "",
    busy: false,
    document: null,
    face: null,
    previewFrames: 0,
    turnPrompts: [],
    previewLatencies: [],
    previewSeconds: 0,
    challenge: null,
    voice: null,
    sealed: null,
    rejected: false,
    problem: null,
    home,
  };
  show(wizardScreen());
}

function go(step: Step): void {
  if (!w) return;
  w.step = step;
  w.problem = null;
  show(wizardScreen());
}

function stepDone(step: Step): boolean {
  if (!w) return false;
  switch (step) {
    case "document":
      return w.document !== null;
    case "face":
      return w.face !== null;
    case "voice":
      return w.voice !== null;
    default:
      return false;
  }
}

function nextStep(): void {
  if (!w || w.busy || !stepDone(w.step)) return;
  const i = STEPS.indexOf(w.step);
  const next = STEPS[i + 1];
  if (next) go(next);
}

function previousStep(): void {
  if (!w || w.busy) return;
  const i = STEPS.indexOf(w.step);
  const prev = STEPS[i - 1];
  if (prev) go(prev);
}

async function abandon(): Promise<void> {
  if (!w || w.busy) return;
  const home = w.home;
  await api.cancelEnrollment();
  w = null;
  home();
}

function wizardScreen(): Screen {
  return {
    render() {
      // A fresh render drops the player that held the sample's URL.
      releasePlayback();
      if (!w) return el("div");
      if (w.step === "done") return doneView(w);
      const steps = el(
        "ol",
        { class: "steps", "aria-label": t("wizard.steps") },
        ...STEPS.map((s) =>
          el(
            "li",
            {
              class: s === w?.step ? "current" : stepDone(s) ? "done" : "",
              ...(s === w?.step ? { "aria-current": "step" } : {}),
            },
            t(`step.${s}`),
          ),
        ),
      );
      const body =
        w.step === "document"
          ? documentStep(w)
          : w.step === "face"
            ? faceStep(w)
            : w.step === "voice"
              ? voiceStep(w)
              : reviewStep(w);
      return el("div", { class: "stack" }, steps, body, navBar(w));
    },
    next: nextStep,
    // Escape and Alt+← go back a step, or stop the chip read, face capture
    // or recording under way; leaving the enrollment is only ever the
    // explicit Cancel button.
    back: () => (w?.busy ? void stopStep() : previousStep()),
    leave: releasePlayback,
  };
}

function navBar(wz: Wizard): HTMLElement {
  const cancel = button("wizard.cancel", { "data-testid": "cancel-enrollment" });
  cancel.addEventListener("click", () => void abandon());
  const back = button("wizard.back", { "data-testid": "back", title: "Alt+←" });
  back.disabled = wz.step === "document";
  back.addEventListener("click", previousStep);
  const parts: HTMLElement[] = [cancel, back];
  if (wz.step !== "review") {
    const next = button("wizard.next", { class: "primary", "data-testid": "next", title: "Alt+→" });
    next.disabled = !stepDone(wz.step);
    next.addEventListener("click", nextStep);
    parts.push(next);
  }
  return el(
    "nav",
    { class: "wizard-nav" },
    ...parts,
    el("span", { class: "muted keys" }, t("wizard.keys")),
  );
}

/// Stops the chip read, face capture or recording under way (Escape does
/// the same); the step then fails with the catalogue's CANCELLED and
/// starts over. Once
/// the step reports progress, `running` marks the button (the core has it
/// for sure).
function stopButton(): { stop: HTMLButtonElement; running: () => void } {
  const stop = button("wizard.stop", { "data-testid": "cancel-step", title: "Esc" });
  stop.addEventListener("click", () => void stopStep());
  return { stop, running: () => (stop.dataset["running"] = "true") };
}

/// Asks the core to stop the step under way. Pressed while the step's call
/// is still on its way to the core, nothing stops: Stop stays usable.
async function stopStep(): Promise<void> {
  const stop = document.querySelector<HTMLButtonElement>("[data-testid=cancel-step]");
  if (stop?.disabled) return;
  if (stop) stop.disabled = true;
  const stopped = await api.cancelStep().catch(() => false);
  if (!stopped && stop?.isConnected) stop.disabled = false;
}

// --- Document ----------------------------------------------------------

const MRZ_ROWS: { value: keyof MrzFields; check: keyof MrzFields; state: keyof MrzCheck; size: string }[] =
  [
    { value: "document_number", check: "document_check", state: "document_number", size: "9" },
    { value: "date_of_birth", check: "birth_check", state: "date_of_birth", size: "6" },
    { value: "date_of_expiry", check: "expiry_check", state: "date_of_expiry", size: "6" },
  ];

function verdictBadge(check: "passive" | "active" | "chip", v: Verification): HTMLElement {
  return el(
    "div",
    { class: `badge ${v.verdict}`, "data-testid": `badge-${check}`, "data-verdict": v.verdict },
    el("strong", {}, `${t(`check.${check}`)}: ${t(`verdict.${v.verdict}`)}`),
    el("p", {}, t(`verdict.${check}.${v.verdict}`)),
    el("p", { class: "muted small" }, v.reason),
  );
}

function documentCard(r: DocumentReport): HTMLElement {
  const d = r.document;
  const rows: [string, string][] = [
    ["doc.surname", d.surname],
    ["doc.given_names", d.given_names],
    ["doc.national_name", d.national_name ?? "—"],
    ["doc.document_number", d.document_number],
    ["doc.issuing_state", d.issuing_state],
    ["doc.nationality", d.nationality],
    ["doc.date_of_birth", d.date_of_birth],
    ["doc.sex", d.sex],
    ["doc.date_of_expiry", d.date_of_expiry],
  ];
  return el(
    "div",
    { class: "result-card", "data-testid": "document-result" },
    el("img", { class: "portrait", src: r.portrait, alt: t("doc.portrait") }),
    el(
      "dl",
      { class: "data" },
      ...rows.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", { "data-testid": k }, v)]),
    ),
    el(
      "div",
      { class: "badges" },
      verdictBadge("passive", r.verification.passive),
      verdictBadge("active", r.verification.active),
      verdictBadge("chip", r.verification.chip),
    ),
  );
}

function documentStep(wz: Wizard): HTMLElement {
  const result = el("div", { "aria-live": "polite" });
  if (wz.document) {
    result.append(documentCard(wz.document));
    return el(
      "section",
      { class: "panel" },
      el("h2", {}, t("step.document")),
      el("p", { class: "ok-note" }, t("doc.read_done")),
      result,
    );
  }
  const read = button("doc.read", { class: "primary", "data-testid": "read-chip" });
  const card = cardPrompt(wz, read);
  const setKeyReady = card.setKeyReady;
  const mrzBox = el("div", { class: "mrz-grid" });
  const states = new Map<string, HTMLElement>();
  const refreshCheck = async () => {
    const check = await api.checkMrz(wz.mrz);
    for (const row of MRZ_ROWS) {
      const state = check[row.state] as FieldState;
      const label = states.get(row.state);
      if (label) {
        label.textContent = t(`mrz.${state}`);
        label.dataset["state"] = state;
      }
    }
    if (wz.access === "mrz") setKeyReady(check.complete);
  };
  for (const row of MRZ_ROWS) {
    const value = field(`mrz.${row.value}`, {
      "data-testid": `mrz-${row.value}`,
      maxlength: row.size,
      autocomplete: "off",
      spellcheck: "false",
      value: wz.mrz[row.value],
    });
    const check = field("mrz.check_digit", {
      "data-testid": `mrz-${row.check}`,
      maxlength: "1",
      class: "check-digit",
      autocomplete: "off",
      value: wz.mrz[row.check],
    });
    const state = el("span", { class: "field-state", "data-testid": `mrz-state-${row.state}`, "aria-live": "polite" });
    states.set(row.state, state);
    for (const [input, key] of [
      [value.input, row.value],
      [check.input, row.check],
    ] as const) {
      input.addEventListener("input", () => {
        input.value = input.value.toUpperCase();
        wz.mrz[key] = input.value;
        void refreshCheck();
      });
    }
    mrzBox.append(value.wrap, check.wrap, state);
  }
  const can = field("doc.can", {
    "data-testid": "can",
    maxlength: "6",
    inputmode: "numeric",
    autocomplete: "off",
    value: wz.can,
  });
  can.input.addEventListener("input", () => {
    wz.can = can.input.value;
    if (wz.access === "can") setKeyReady(/^\d{6}$/.test(wz.can));
  });
  const canBox = el(
    "div",
    {},
    can.wrap,
    ...(wz.demoCan ? [el("p", { class: "muted" }, `${t("demo.can_hint")} ${wz.demoCan}`)] : []),
  );
  const choose = (kind: "mrz" | "can") => {
    wz.access = kind;
    mrzBox.hidden = kind !== "mrz";
    canBox.hidden = kind !== "can";
    if (kind === "can") setKeyReady(/^\d{6}$/.test(wz.can));
    else void refreshCheck();
  };
  const radio = (kind: "mrz" | "can") => {
    const input = el("input", { type: "radio", name: "access", value: kind, "data-testid": `access-${kind}` });
    input.checked = wz.access === kind;
    input.addEventListener("change", () => choose(kind));
    return el("label", { class: "choice" }, input, t(`doc.access_${kind}`));
  };
  const progress = el("div", { class: "progress", "aria-live": "polite" });
  read.addEventListener("click", async () => {
    if (read.disabled) return;
    read.disabled = true;
    wz.busy = true;
    result.replaceChildren();
    const bar = el("progress", { max: "1", value: "0" });
    const text = el("span", { "data-testid": "chip-progress" }, t("doc.waiting"));
    const { stop, running } = stopButton();
    progress.replaceChildren(bar, text, stop);
    stop.focus();
    try {
      const access =
        wz.access === "mrz" ? { kind: "mrz" as const, ...wz.mrz } : { kind: "can" as const, can: wz.can };
      wz.document = await api.readDocument(access, (p) => {
        running();
        bar.value = p.total > 0 ? p.read / p.total : 0;
        text.textContent = `${t("doc.reading")} ${p.file} ${p.read} / ${p.total} B`;
      });
      wz.busy = false;
      show(wizardScreen());
    } catch (e) {
      wz.busy = false;
      progress.replaceChildren();
      replace(result, failureView(e));
      // The cause and remedy may sit below the fold of a counter screen.
      result.scrollIntoView({ block: "nearest" });
      card.update();
    }
  });
  const section = el(
    "section",
    { class: "panel" },
    el("h2", {}, t("step.document")),
    el("div", { class: "choices", role: "radiogroup" }, radio("mrz"), radio("can")),
    mrzBox,
    canBox,
    card.root,
    read,
    progress,
    result,
  );
  choose(wz.access);
  return section;
}

/// Whether a document is on the reader, as the core's reader watch says:
/// "insert the document" until one is, and the read starts by itself when
/// it arrives with the access key already typed. In demo mode the station
/// puts the demo document on the virtual reader itself.
function cardPrompt(
  wz: Wizard,
  read: HTMLButtonElement,
): { root: HTMLElement; setKeyReady: (ready: boolean) => void; update: () => void } {
  const root = el("p", { class: "card-prompt", "data-testid": "card-prompt", "aria-live": "polite" });
  let keyReady = false;
  // The core says whether the reader documents are read from holds one.
  const present = () => wz.demo || (readerBoard()?.document_ready ?? false);
  const update = () => {
    const onReader = present();
    root.hidden = wz.demo;
    root.dataset["card"] = onReader ? "present" : "absent";
    root.textContent = t(onReader ? "doc.card_present" : "doc.insert_card");
    if (!wz.busy) read.disabled = !(keyReady && onReader);
  };
  let before = present();
  onReaders(root, () => {
    const now = present();
    update();
    if (now && !before && !read.disabled) read.click();
    before = now;
  });
  update();
  return {
    root,
    setKeyReady: (ready) => {
      keyReady = ready;
      update();
    },
    update,
  };
}

// --- Face --------------------------------------------------------------

/// The live preview: JPEG frames as they arrive (bytes, shown through blob
/// URLs), with the face box and one hint from the analysis laid over them.
function livePreview(shown: (latencyMs: number) => void): {
  root: HTMLElement;
  frame: (message: ArrayBuffer) => void;
  progress: (p: FaceProgress) => void;
} {
  const img = el("img", { alt: t("face.preview"), "data-testid": "face-preview" }) as HTMLImageElement;
  const box = el("div", { class: "face-box" });
  box.hidden = true;
  const hint = el("p", { class: "hint", "data-testid": "face-hint" }, t("face.starting"));
  const turn = el("p", { class: "turn-prompt", "data-testid": "head-turn", "aria-live": "assertive" });
  turn.hidden = true;
  const count = el("p", { class: "muted" });
  const root = el("div", { class: "live", "aria-live": "polite" }, el("div", { class: "preview" }, img, box), turn, hint, count);
  let url: string | null = null;
  return {
    root,
    frame: (message) => {
      // The capture time (Unix ms, little-endian f64), then the JPEG.
      const captured = new DataView(message, 0, 8).getFloat64(0, true);
      const next = URL.createObjectURL(new Blob([message.slice(8)], { type: "image/jpeg" }));
      img.src = next;
      // Shown once decoded and painted; a frame replaced first never is.
      img.decode().then(
        () => requestAnimationFrame(() => shown(Date.now() - captured)),
        () => {},
      );
      if (url) URL.revokeObjectURL(url);
      url = next;
    },
    progress: (p) => {
      box.hidden = !p.face_box;
      if (p.face_box) {
        const [x, y, bw, bh] = p.face_box;
        // Styles through the CSSOM: the content security policy refuses inline style attributes.
        box.style.left = `${x * 100}%`;
        box.style.top = `${y * 100}%`;
        box.style.width = `${bw * 100}%`;
        box.style.height = `${bh * 100}%`;
      }
      hint.textContent = p.hint ? t(`quality.${p.hint}`) : t("face.hint_ok");
      // The head-turn challenge, in large type: what to do now.
      turn.hidden = !p.challenge;
      if (p.challenge) {
        const c = p.challenge;
        turn.dataset["state"] = c.state;
        turn.dataset["direction"] = c.direction;
        turn.textContent = turnPrompt(c);
      }
      count.textContent = p.frames > 0 ? `${t("face.frame")} ${p.frame} / ${p.frames}` : `${t("face.frame")} ${p.frame}`;
    },
  };
}

/// What the citizen is asked to do now for the head-turn challenge.
function turnPrompt(c: ChallengeReport): string {
  return t(c.state === "turn" ? `face.turn.turn.${c.direction}` : `face.turn.${c.state}`);
}

function faceResult(r: FaceReport): HTMLElement {
  return el(
    "div",
    { class: "face-result", "data-testid": "face-result" },
    el(
      "figure",
      {},
      el("img", { src: r.live_frame, alt: t("face.live") }),
      el("figcaption", {}, t("face.live")),
    ),
    el(
      "figure",
      {},
      el("img", { src: r.portrait, alt: t("doc.portrait") }),
      el("figcaption", {}, t("doc.portrait")),
    ),
    el(
      "dl",
      { class: "data" },
      el("dt", {}, t("face.liveness")),
      el("dd", { "data-testid": "liveness" }, `${t(`liveness.${r.liveness.decision}`)} (${r.liveness.score.toFixed(2)})`),
      el("dt", {}, t("face.challenge")),
      el(
        "dd",
        {
          "data-testid": "challenge-result",
          "data-state": r.challenge?.state ?? "none",
          "data-direction": r.challenge?.direction ?? "",
        },
        r.challenge
          ? `${t(r.challenge.state === "passed" ? "face.challenge.passed" : "face.challenge.failed")} — ${t(`face.direction.${r.challenge.direction}`)}, ${r.challenge.peak_yaw_deg.toFixed(0)}°`
          : t("face.challenge_none"),
      ),
      el("dt", {}, t("face.match")),
      el(
        "dd",
        { "data-testid": "match-score" },
        `${t(`match.${r.matching.decision}`)} — ${r.matching.score.toFixed(2)} (${t("face.threshold")} ${r.matching.threshold.toFixed(2)})`,
      ),
    ),
  );
}

function faceStep(wz: Wizard): HTMLElement {
  const result = el("div", { "aria-live": "polite" });
  if (wz.face) {
    const shown = faceResult(wz.face);
    shown.dataset.previewFrames = String(wz.previewFrames);
    shown.dataset.previewSeconds = wz.previewSeconds.toFixed(2);
    shown.dataset.previewLatencies = wz.previewLatencies.map((ms) => ms.toFixed(0)).join(",");
    shown.dataset.turnPrompts = JSON.stringify(wz.turnPrompts);
    result.append(shown);
    return el("section", { class: "panel" }, el("h2", {}, t("step.face")), result);
  }
  const folder = field("face.folder", {
    "data-testid": "face-folder",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: wz.demo ? t("face.demo_camera") : "",
    value: wz.folder,
  });
  folder.input.addEventListener("input", () => (wz.folder = folder.input.value));
  const start = button("face.start", { class: "primary", "data-testid": "capture-face" });
  const live = el("div");
  start.addEventListener("click", async () => {
    wz.folder = folder.input.value;
    start.disabled = true;
    wz.busy = true;
    result.replaceChildren();
    wz.previewLatencies = [];
    const view = livePreview((ms) => wz.previewLatencies.push(ms));
    const { stop, running } = stopButton();
    live.replaceChildren(view.root, stop);
    stop.focus();
    wz.previewFrames = 0;
    let first = 0;
    wz.turnPrompts = [];
    const progress: typeof view.progress = (p) => {
      running();
      view.progress(p);
      const prompt = p.challenge ? turnPrompt(p.challenge) : null;
      if (prompt && wz.turnPrompts.at(-1) !== prompt) wz.turnPrompts.push(prompt);
    };
    try {
      wz.face = await api.captureFace(wz.folder.trim() || null, progress, (jpeg) => {
        if (wz.previewFrames === 0) first = performance.now();
        else wz.previewSeconds = (performance.now() - first) / 1000;
        wz.previewFrames += 1;
        view.frame(jpeg);
      });
      wz.busy = false;
      show(wizardScreen());
    } catch (e) {
      wz.busy = false;
      stop.remove();
      replace(result, failureView(e));
      start.disabled = false;
      start.focus();
    }
  });
  return el(
    "section",
    { class: "panel" },
    el("h2", {}, t("step.face")),
    el("p", { class: "muted" }, t("face.explain")),
    folder.wrap,
    start,
    result,
    live,
  );
}

// --- Voice -------------------------------------------------------------

function voiceResult(r: VoiceReport): HTMLElement {
  return el(
    "dl",
    { class: "data", "data-testid": "voice-result" },
    el("dt", {}, t("voice.digits")),
    el("dd", {}, r.challenge),
    el("dt", {}, t("voice.speech")),
    el("dd", {}, `${r.speech_seconds.toFixed(1)} s / ${r.duration_seconds.toFixed(1)} s`),
    el("dt", {}, t("voice.level")),
    el("dd", {}, `${r.speech_dbfs.toFixed(1)} dBFS`),
    el("dt", {}, t("voice.snr")),
    el("dd", {}, `${r.snr_db.toFixed(1)} dB`),
  );
}

/// The blob URL of the voice sample played back, while its player shows.
let playbackUrl: string | null = null;

/// Frees the played-back sample's bytes: the step or screen is left, or
/// a new copy replaces them.
function releasePlayback(): void {
  if (playbackUrl) URL.revokeObjectURL(playbackUrl);
  playbackUrl = null;
}

/// Plays the recorded sample back: its WAV bytes come from the core's
/// memory into a blob URL, never a file.
function playback(): HTMLElement {
  const play = button("voice.play", { "data-testid": "play-voice" });
  const audio = el("audio", { controls: "", "data-testid": "voice-audio" });
  audio.hidden = true;
  const errors = el("div", { "aria-live": "assertive" });
  play.addEventListener("click", async () => {
    play.disabled = true;
    errors.replaceChildren();
    try {
      const wav = await api.voicePlayback();
      releasePlayback();
      playbackUrl = URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
      audio.src = playbackUrl;
      audio.hidden = false;
      await audio.play().catch(() => undefined);
    } catch (e) {
      replace(errors, failureView(e));
    } finally {
      play.disabled = false;
    }
  });
  return el("div", { class: "row" }, play, audio, errors);
}

function voiceStep(wz: Wizard): HTMLElement {
  const result = el("div", { "aria-live": "polite" });
  if (wz.voice) {
    result.append(el("p", { class: "ok-note" }, t("voice.accepted")), voiceResult(wz.voice));
    return el("section", { class: "panel" }, el("h2", {}, t("step.voice")), result, playback());
  }
  const digits = el("p", { class: "challenge", "data-testid": "challenge" }, wz.challenge?.digits ?? "");
  const spoken = el("p", { class: "muted" }, wz.challenge?.zh ?? "");
  const record = button("voice.record", { class: "primary", "data-testid": "record-voice" });
  record.disabled = !wz.challenge;
  const meter = el("div", { class: "meter", role: "meter", "aria-label": t("voice.level") }, el("div", { class: "meter-fill" }));
  const status = el("p", { class: "muted", "data-testid": "voice-status" });
  const fetchChallenge = async () => {
    try {
      wz.challenge = await api.voiceChallenge();
      digits.textContent = wz.challenge.digits;
      spoken.textContent = wz.challenge.zh;
      record.disabled = false;
    } catch (e) {
      replace(result, failureView(e));
    }
  };
  if (!wz.challenge) void fetchChallenge();
  record.addEventListener("click", async () => {
    record.disabled = true;
    wz.busy = true;
    result.replaceChildren();
    status.textContent = t("voice.recording");
    const { stop, running } = stopButton();
    status.after(stop);
    stop.focus();
    const fill = meter.firstElementChild as HTMLElement;
    // The meter starts empty: its first reading says the microphone is open.
    fill.style.width = "0%";
    meter.removeAttribute("aria-valuenow");
    try {
      wz.voice = await api.captureVoice((level) => {
        running();
        // -60 dBFS (silence) to 0 dBFS (full scale).
        const share = Math.min(1, Math.max(0, (level.rms_dbfs + 60) / 60));
        fill.style.width = `${share * 100}%`;
        meter.setAttribute("aria-valuenow", level.rms_dbfs.toFixed(0));
      });
      wz.busy = false;
      show(wizardScreen());
    } catch (e) {
      wz.busy = false;
      status.textContent = "";
      stop.remove();
      replace(result, failureView(e));
      // A new challenge for the next try: a replay of the old one proves nothing.
      await fetchChallenge();
      record.focus();
    }
  });
  return el(
    "section",
    { class: "panel" },
    el("h2", {}, t("step.voice")),
    el("p", {}, t("voice.explain")),
    digits,
    spoken,
    record,
    meter,
    status,
    result,
  );
}

// --- Review and approval -------------------------------------------------

function reviewStep(wz: Wizard): HTMLElement {
  const errors = el("div", { "aria-live": "assertive" });
  const submit = button("review.submit", { class: "primary", "data-testid": "submit-review" });
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    errors.replaceChildren();
    try {
      await api.submitEnrollment();
      openApproval(wz);
    } catch (e) {
      replace(errors, failureView(e));
    } finally {
      submit.disabled = false;
    }
  });
  return el(
    "section",
    { class: "panel", "data-testid": "review" },
    el("h2", {}, t("step.review")),
    ...(wz.document ? [documentCard(wz.document)] : []),
    ...(wz.face ? [faceResult(wz.face)] : []),
    ...(wz.voice ? [voiceResult(wz.voice)] : []),
    errors,
    submit,
  );
}

function openApproval(wz: Wizard): void {
  const name = field("approval.supervisor", { "data-testid": "supervisor-name", autocomplete: "off" });
  const password = field("login.password", { type: "password", "data-testid": "supervisor-password" });
  const reason = el("textarea", { "data-testid": "reject-reason", rows: "2", maxlength: "200" });
  const approve = el("button", { type: "submit", class: "primary", "data-testid": "approve" }, t("approval.approve"));
  const reject = button("approval.reject", { class: "danger", "data-testid": "reject" });
  const errors = el("div", { "aria-live": "assertive", "data-testid": "approval-errors" });
  const form = el(
    "form",
    { class: "approval" },
    el("h2", {}, t("approval.title")),
    el("p", { class: "muted" }, t("approval.explain")),
    name.wrap,
    password.wrap,
    el("label", { class: "field" }, el("span", {}, t("approval.reason")), reason),
    errors,
    el("div", { class: "row" }, approve, reject),
  );
  let close = () => {};
  const decide = async (decision: { decision: "approve" } | { decision: "reject"; reason: string }) => {
    approve.disabled = reject.disabled = true;
    errors.replaceChildren();
    try {
      const outcome = await api.review(name.input.value, password.input.value, decision);
      wz.sealed = outcome.sealed;
      wz.rejected = decision.decision === "reject";
      close();
      go("done");
    } catch (e) {
      password.input.value = "";
      replace(errors, failureView(e));
    } finally {
      approve.disabled = reject.disabled = false;
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void decide({ decision: "approve" });
  });
  reject.addEventListener("click", () => {
    if (!reason.value.trim()) {
      replace(errors, el("p", { class: "problem" }, t("approval.reason_needed")));
      reason.focus();
      return;
    }
    void decide({ decision: "reject", reason: reason.value });
  });
  close = openDialog(form);
}

function doneView(wz: Wizard): HTMLElement {
  const queueButton = button("queue.open", { class: "primary", "data-testid": "done-queue" });
  queueButton.addEventListener("click", async () => {
    const { queueScreen } = await import("./home.js");
    show(queueScreen());
  });
  const home = button("nav.home", { "data-testid": "done-home" });
  home.addEventListener("click", () => wz.home());
  return el(
    "section",
    { class: "panel", "data-testid": "done" },
    el("h2", {}, t(wz.rejected ? "done.rejected" : "done.sealed")),
    ...(wz.sealed
      ? [
          el("p", {}, t("done.sealed_explain")),
          el("p", { class: "mono", "data-testid": "packet-id" }, wz.sealed.packet_id),
        ]
      : []),
    el("div", { class: "row" }, queueButton, home),
  );
}
