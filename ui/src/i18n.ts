// Every visible text comes from public/locales/<lang>.json; Chinese first.

export type Lang = "zh-CN" | "en";

const STORAGE_KEY = "station.lang";
let current: Lang = "zh-CN";
let table: Record<string, string> = {};

export function lang(): Lang {
  return current;
}

export async function setLang(next: Lang): Promise<void> {
  const response = await fetch(`locales/${next}.json`);
  table = (await response.json()) as Record<string, string>;
  current = next;
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  for (const el of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    const key = el.dataset["i18n"];
    if (key) el.textContent = t(key);
  }
}

export function savedLang(): Lang {
  return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "zh-CN";
}

export function t(key: string): string {
  return table[key] ?? key;
}
