// The station core's calls, one function per Tauri command in
// src-tauri/src/commands.rs. Every type comes from ./bindings, generated
// from the Rust types at build time (scripts/build-ui.sh).

import type { AccessInput } from "./bindings/AccessInput.js";
import type { AudioLevel } from "./bindings/AudioLevel.js";
import type { AuditQuery } from "./bindings/AuditQuery.js";
import type { AuditView } from "./bindings/AuditView.js";
import type { ChallengeText } from "./bindings/ChallengeText.js";
import type { ChipProgress } from "./bindings/ChipProgress.js";
import type { DeskState } from "./bindings/DeskState.js";
import type { DoctorReport } from "./bindings/DoctorReport.js";
import type { DocumentReport } from "./bindings/DocumentReport.js";
import type { FaceProgress } from "./bindings/FaceProgress.js";
import type { FaceReport } from "./bindings/FaceReport.js";
import type { LinkStatus } from "./bindings/LinkStatus.js";
import type { ReaderBoard } from "./bindings/ReaderBoard.js";
import type { Failure } from "./bindings/Failure.js";
import type { MrzCheck } from "./bindings/MrzCheck.js";
import type { MrzFields } from "./bindings/MrzFields.js";
import type { NewStaffRole } from "./bindings/NewStaffRole.js";
import type { PacketRow } from "./bindings/PacketRow.js";
import type { QueueView } from "./bindings/QueueView.js";
import type { ReviewDecision } from "./bindings/ReviewDecision.js";
import type { ReviewOutcome } from "./bindings/ReviewOutcome.js";
import type { SettingsChange } from "./bindings/SettingsChange.js";
import type { SettingsView } from "./bindings/SettingsView.js";
import type { StaffMember } from "./bindings/StaffMember.js";
import type { VoiceReport } from "./bindings/VoiceReport.js";

interface TauriChannel<T> {
  onmessage: (message: T) => void;
}

interface TauriGlobal {
  core: {
    invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
    Channel: new <T>() => TauriChannel<T>;
  };
  event: {
    listen<T>(event: string, handler: (e: { payload: T }) => void): Promise<() => void>;
  };
}

function core(): TauriGlobal["core"] {
  return (window as unknown as { __TAURI__: TauriGlobal }).__TAURI__.core;
}

/// Calls `handler` with every `event` the app emits.
export function listen<T>(event: string, handler: (payload: T) => void): Promise<() => void> {
  return (window as unknown as { __TAURI__: TauriGlobal }).__TAURI__.event.listen<T>(event, (e) =>
    handler(e.payload),
  );
}

function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  return core().invoke<T>(cmd, args);
}

function channel<T>(listener: (message: T) => void): TauriChannel<T> {
  const ch = new (core().Channel)<T>();
  ch.onmessage = listener;
  return ch;
}

/// A rejected call's value: a catalogue failure, or something unexpected.
export function asFailure(e: unknown): Failure | null {
  const f = e as Partial<Failure> | null;
  return f && typeof f === "object" && typeof f.code === "string" ? (f as Failure) : null;
}

export const api = {
  deviceStatus: () => call<DoctorReport>("device_status"),
  deskState: () => call<DeskState>("desk_state"),
  linkStatus: () => call<LinkStatus>("link_status"),
  readerBoard: () => call<ReaderBoard>("reader_board"),
  createAdministrator: (name: string, password: string) =>
    call<StaffMember>("create_administrator", { name, password }),
  signIn: (name: string, password: string) => call<StaffMember>("sign_in", { name, password }),
  signOut: () => call<void>("sign_out"),
  addUser: (name: string, password: string, role: NewStaffRole) =>
    call<StaffMember>("add_user", { name, password, role }),
  queue: () => call<QueueView>("queue"),
  beginEnrollment: () => call<void>("begin_enrollment"),
  cancelEnrollment: () => call<void>("cancel_enrollment"),
  checkMrz: (fields: MrzFields) => call<MrzCheck>("check_mrz", { fields }),
  readDocument: (access: AccessInput, progress: (p: ChipProgress) => void) =>
    call<DocumentReport>("read_document", { access, onProgress: channel(progress) }),
  captureFace: (
    folder: string | null,
    progress: (p: FaceProgress) => void,
    frame: (jpeg: ArrayBuffer) => void,
  ) =>
    call<FaceReport>("capture_face", {
      folder,
      onProgress: channel(progress),
      onFrame: channel(frame),
    }),
  voiceChallenge: () => call<ChallengeText>("voice_challenge"),
  captureVoice: (level: (l: AudioLevel) => void) =>
    call<VoiceReport>("capture_voice", { onLevel: channel(level) }),
  submitEnrollment: () => call<void>("submit_enrollment"),
  review: (supervisor: string, password: string, decision: ReviewDecision) =>
    call<ReviewOutcome>("review", { supervisor, password, decision }),
  cancelStep: () => call<boolean>("cancel_step"),
  resubmitPacket: (packet: string, user: string, password: string) =>
    call<PacketRow>("resubmit_packet", { packet, user, password }),
  auditLog: (query: AuditQuery) => call<AuditView>("audit_log", { query }),
  settings: () => call<SettingsView>("settings"),
  saveSettings: (change: SettingsChange) => call<SettingsView>("save_settings", { change }),
  importTrustFile: (path: string) => call<SettingsView>("import_trust_file", { path }),
  voicePlayback: () => call<ArrayBuffer>("voice_playback"),
};
