// The clerk's window: sign-in, home, the enrollment wizard and the queue.
// Every visible text comes from public/locales/<lang>.json; every call goes
// through api.ts to the station core.

import { route, updateUserBar } from "./home.js";
import { lang, savedLang, setLang, t } from "./i18n.js";
import { startLive } from "./live.js";
import { installKeys, rerender } from "./shell.js";

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
    updateUserBar();
    rerender();
  });
  installKeys();
  await startLive();
  await route();
}

void start();
