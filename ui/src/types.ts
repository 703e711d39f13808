// The shapes of the station core's answers (crates/station: doctor, failure).

export type Level = "ok" | "warning" | "error";

export interface Texts {
  cause: string;
  remedy: string;
}

export interface Failure {
  code: string;
  message: string;
  remedy: string;
  zh: Texts;
  detail: string;
}

export interface Check<T> {
  status: Level;
  found: T;
  problem: Failure | null;
}

export interface ReaderStatus {
  name: string;
  card_present: boolean;
  atr: string | null;
}

export interface CameraMode {
  format: "mjpeg" | "yuyv" | "nv12" | "gray" | "rgb";
  width: number;
  height: number;
  fps: number;
}

export interface CameraDevice {
  index: number;
  name: string;
  description: string;
  modes: CameraMode[];
  preferred: CameraMode | null;
  error: string | null;
}

export interface InputDevice {
  host: string;
  id: string;
  name: string;
  is_default: boolean;
}

export interface ModelStatus {
  role: string;
  file: string;
  version: string;
  bytes: number;
  verified: boolean;
  problem: string | null;
}

export interface StoreHealth {
  path: string;
  journal_mode: string;
  schema_version: number;
  integrity: string;
}

export interface PlatformState {
  url: string | null;
  reachable: boolean;
  version: string | null;
}

export interface DoctorReport {
  ok: boolean;
  readers: Check<ReaderStatus[]>;
  cameras: Check<CameraDevice[]>;
  microphones: Check<InputDevice[]>;
  models: Check<ModelStatus[]>;
  database: Check<StoreHealth | null>;
  platform: Check<PlatformState>;
}
