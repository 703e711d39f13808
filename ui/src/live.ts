// What the station core pushes without being asked, as Tauri events: the
// platform link with the queue counts ("link-status") and the readers with
// their cards ("reader-board"). A panel subscribes with the element it
// lives in; once that element has left the page its listener is dropped.

import { api, listen } from "./api.js";
import type { LinkStatus } from "./bindings/LinkStatus.js";
import type { ReaderBoard } from "./bindings/ReaderBoard.js";

type Listener<T> = { node: Node; fn: (value: T) => void };

class Feed<T> {
  value: T | null = null;
  private listeners = new Set<Listener<T>>();

  publish(value: T): void {
    this.value = value;
    for (const l of [...this.listeners]) {
      if (l.node.isConnected) l.fn(value);
      else this.listeners.delete(l);
    }
  }

  /// Calls `fn` with the value now (if known) and with every change while
  /// `node` is on the page.
  subscribe(node: Node, fn: (value: T) => void): void {
    this.listeners.add({ node, fn });
    if (this.value !== null) fn(this.value);
  }
}

const link = new Feed<LinkStatus>();
const readers = new Feed<ReaderBoard>();

export const onLink = (node: Node, fn: (s: LinkStatus) => void): void => link.subscribe(node, fn);
export const onReaders = (node: Node, fn: (b: ReaderBoard) => void): void => readers.subscribe(node, fn);
export const readerBoard = (): ReaderBoard | null => readers.value;

/// Listens first, then asks for the current values, so no change is lost
/// in between.
export async function startLive(): Promise<void> {
  await listen<LinkStatus>("link-status", (s) => link.publish(s));
  await listen<ReaderBoard>("reader-board", (b) => readers.publish(b));
  // A later start of the app brought this window to the front.
  let shown = 0;
  await listen<null>("shown-again", () => {
    shown += 1;
    document.body.dataset["shownAgain"] = String(shown);
  });
  const [l, r] = await Promise.all([api.linkStatus(), api.readerBoard()]);
  if (link.value === null) link.publish(l);
  if (readers.value === null) readers.publish(r);
}
