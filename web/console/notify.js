// Background-tab alerts: a count in the tab title and a desktop notification per new visitor
// message while the console tab is hidden. Both reset when the agent comes back to the tab.

export class Notifier {
  constructor() {
    this.baseTitle = document.title;
    this.count = 0;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reset();
    });
  }

  get supported() { return 'Notification' in window; }
  get permission() { return this.supported ? Notification.permission : 'denied'; }

  /** Must run from a user gesture (a click), or browsers ignore it. */
  async requestPermission() {
    if (this.supported && Notification.permission === 'default') await Notification.requestPermission();
    return this.permission;
  }

  /** A new message arrived; alerts only when the tab is in the background. */
  alert({ title, body, tag, onClick }) {
    if (document.visibilityState === 'visible') return;
    this.count += 1;
    document.title = `(${this.count}) ${this.baseTitle}`;
    if (this.permission !== 'granted') return;
    const n = new Notification(title, { body, tag });
    n.addEventListener('click', () => { window.focus(); n.close(); if (onClick) onClick(); });
  }

  reset() {
    this.count = 0;
    document.title = this.baseTitle;
  }
}
