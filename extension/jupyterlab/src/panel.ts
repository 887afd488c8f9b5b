/**
 * The aiex chat panel: a conversation beside the notebooks, on a session of the event
 * log (the same one `aiex chat --session NAME` and the notebooks use).
 *
 * Nothing is stored here: the view is built from the session's turns
 * (`GET sessions/NAME`) and kept current by following the log over the websocket, so
 * a `%%aiex` cell, another tab or the terminal show up as they happen, and a socket
 * that drops mid-reply resumes from the last event seen. Replies stream in rendered as
 * Markdown (JupyterLab's own renderer, sanitized); each code block has Copy, Insert
 * below and Replace cell; each reply says its model, tokens, cost and sources.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { call, ChatConnection, IEventMessage, IModels, ISession, ITurn } from './api';
import { copyText, INSERT_COMMAND } from './insert';
import { activeCellAttachment, IAttachment, lastError } from './notebook';

const SESSION_KEY = 'aiex-chat:session';
/** at most one Markdown render of a streaming reply per this many ms */
const RENDER_MS = 120;
/** history replies rendered as Markdown at once; older ones when scrolled into view */
const EAGER_TURNS = 20;
const COMPLETE_MS = 120;
const MENTION = /(?:^|\s)@([\w./-]+)/g;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

function button(label: string, title: string, onClick: () => void, cls = ''): HTMLButtonElement {
  const b = el('button', `jp-Button aiex-chat-button ${cls}`.trim(), label);
  b.title = title;
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "model · 120 in / 40 out tokens · $0.00012 · 1.3 s · 4 sources" */
export function footText(m: {
  model?: string;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cost_usd?: number | null;
  latency_s?: number | null;
  sources?: unknown[];
}): string {
  const parts: string[] = [];
  if (m.model) {
    parts.push(m.model);
  }
  if (m.input_tokens != null && m.output_tokens != null) {
    parts.push(`${m.input_tokens} in / ${m.output_tokens} out tokens`);
  }
  if (m.cost_usd) {
    parts.push(`$${m.cost_usd.toFixed(5)}`);
  }
  if (m.latency_s != null) {
    parts.push(`${m.latency_s.toFixed(1)} s`);
  }
  if (m.sources && m.sources.length) {
    parts.push(plural(m.sources.length, 'source'));
  }
  return parts.join(' · ');
}

/** One exchange: what was asked, and the reply as it comes. */
class TurnView {
  readonly node = el('div', 'aiex-chat-turn');
  readonly user = el('div', 'aiex-chat-user');
  readonly body = el('div', 'aiex-chat-reply');
  readonly notes = el('div', 'aiex-chat-notes');
  readonly foot = el('div', 'aiex-chat-foot');
  turn: string | null = null;
  ref: string | null = null;
  live = false; //: its events stream on this connection
  done = false;
  liveText = '';
  logText = ''; //: the text the log holds (what another tab, or a reconnect, sees)
  text = '';
  rendering = false;
  dirty = false;
  lastRender = 0;
  sources: unknown[] = [];
  model = '';

  constructor(prompt: string, chips: string[] = []) {
    this.user.textContent = prompt;
    for (const chip of chips) {
      this.user.appendChild(el('span', 'aiex-chat-chip', chip));
    }
    this.node.append(this.user, this.body, this.notes, this.foot);
    this.body.textContent = '…';
    this.body.classList.add('aiex-chat-waiting');
  }

  note(text: string, error = false): void {
    const line = el('div', error ? 'aiex-chat-error' : 'aiex-chat-note', text);
    this.notes.appendChild(line);
  }
}

export interface IChatPanelOptions {
  app: JupyterFrontEnd;
  tracker: INotebookTracker;
  rendermime: IRenderMimeRegistry;
}

export class ChatPanel extends Widget {
  /** resolves when the session's history is on screen (the benchmark and the tests wait on it) */
  readonly ready: Promise<void>;
  readonly connection = new ChatConnection();
  private resolveReady: () => void = () => undefined;
  private started = false;

  private app: JupyterFrontEnd;
  private tracker: INotebookTracker;
  private rendermime: IRenderMimeRegistry;
  private session = '';
  private lastId = 0;
  private turns = new Map<string, TurnView>();
  private pending = new Map<string, TurnView>(); //: sent, by ref, until their TurnStarted
  private refs = 0;
  private attachments: IAttachment[] = [];
  private mentions = new Set<string>();
  private observer: IntersectionObserver | null = null;
  private completeTimer = 0;
  private completion: string[] = [];
  private completionIndex = 0;

  private sessions = el('select', 'aiex-chat-sessions');
  private status = el('span', 'aiex-chat-status');
  private modelSelect = el('select', 'aiex-chat-model');
  private useContext = el('input');
  private budget = el('input', 'aiex-chat-budget');
  private log = el('div', 'aiex-chat-log');
  private chips = el('div', 'aiex-chat-chips');
  private input = el('textarea', 'aiex-chat-input');
  private completions = el('ul', 'aiex-chat-completions');
  private sendButton: HTMLButtonElement;
  private stopButton: HTMLButtonElement;

  constructor(options: IChatPanelOptions) {
    super();
    this.app = options.app;
    this.tracker = options.tracker;
    this.rendermime = options.rendermime;
    this.id = 'aiex-chat';
    this.title.caption = 'aiex chat';
    this.addClass('aiex-chat');
    this.sendButton = button('Send', 'Send (Enter; Shift+Enter is a new line)', () => this.send(), 'aiex-chat-send');
    this.stopButton = button('Stop', 'Stop the reply', () => this.stop(), 'aiex-chat-stop');
    this.stopButton.disabled = true;
    this.build();
    this.connection.onMessage = message => this.received(message);
    this.connection.onOpen = reconnected => this.opened(reconnected);
    this.connection.onDrop = () => this.setStatus('connection lost; reconnecting…');
    this.ready = new Promise<void>(resolve => (this.resolveReady = resolve));
  }

  /** Connect and load, the first time the panel is shown (a JupyterLab that never opens it pays nothing). */
  begin(): void {
    if (this.started) {
      return;
    }
    this.started = true;
    this.connection.connect();
    void this.start().finally(() => this.resolveReady());
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.begin();
  }

  // -- layout -----------------------------------------------------------------------------------

  private build(): void {
    const head = el('div', 'aiex-chat-head');
    this.sessions.title = 'Session';
    this.sessions.addEventListener('change', () => void this.open(this.sessions.value));
    head.append(el('b', '', 'aiex'), this.sessions, button('New', 'Start a new session', () => void this.newSession()),
      this.status);
    const controls = el('div', 'aiex-chat-controls');
    this.modelSelect.title = 'Model for the next messages';
    this.modelSelect.appendChild(new Option('default model', ''));
    this.useContext.type = 'checkbox';
    this.useContext.checked = true;
    this.useContext.title = "Send the project's relevant code with each message";
    this.budget.type = 'number';
    this.budget.min = '0';
    this.budget.step = '256';
    this.budget.placeholder = 'budget';
    this.budget.title = 'Tokens of project context (empty: the settings)';
    const contextLabel = el('label', 'aiex-chat-context');
    contextLabel.append(this.useContext, document.createTextNode(' context '));
    controls.append(this.modelSelect, contextLabel, this.budget);
    const composer = el('div', 'aiex-chat-composer');
    this.input.rows = 3;
    this.input.placeholder = 'Ask aiex… (@ names a project file; Enter sends)';
    this.input.addEventListener('keydown', event => this.keydown(event));
    this.input.addEventListener('input', () => this.scheduleCompletion());
    const actions = el('div', 'aiex-chat-actions');
    actions.append(
      button('Attach cell', 'Attach the active cell, or its selection', () => this.attachCell()),
      button('Fix last error', "Explain the notebook's last error and propose a fix (/fix)", () => this.fixLastError()),
      this.sendButton,
      this.stopButton
    );
    composer.append(this.chips, this.completions, this.input, actions);
    this.node.append(head, controls, this.log, composer);
  }

  private setStatus(text: string): void {
    this.status.textContent = text;
  }

  // -- loading ------------------------------------------------------------------------------------

  private async start(): Promise<void> {
    void this.loadModels();
    let listed: { sessions: { name: string; turns: number }[] };
    try {
      listed = await call('sessions');
    } catch (error) {
      this.setStatus(`aiex server extension: ${error}`);
      this.node.dataset.aiexReady = 'error';
      return;
    }
    const names = listed.sessions.map(s => s.name);
    let name = window.localStorage.getItem(SESSION_KEY) || '';
    if (!names.includes(name)) {
      name = names[0] || '';
    }
    if (!name) {
      name = (await call<{ name: string }>('sessions', { method: 'POST', body: '{}' })).name;
      listed.sessions.unshift({ name, turns: 0 });
    }
    this.fillSessions(listed.sessions, name);
    await this.open(name);
  }

  private fillSessions(rows: { name: string; turns: number }[], current: string): void {
    this.sessions.replaceChildren(...rows.map(s => new Option(`${s.name} (${s.turns})`, s.name)));
    this.sessions.value = current;
  }

  private async loadModels(): Promise<void> {
    try {
      const data = await call<IModels>('models');
      const first = this.modelSelect.options[0];
      first.textContent = data.default.model ? `default (${data.default.model})` : 'default model';
      for (const p of data.providers) {
        if (p.status !== 'ok') {
          continue;
        }
        for (const m of p.models) {
          this.modelSelect.appendChild(new Option(`${p.provider}:${m}`, `${p.provider}:${m}`));
        }
      }
    } catch (error) {
      this.setStatus(`models: ${error}`);
    }
  }

  /** Show session ``name``: its turns from the log, then follow it. */
  async open(name: string): Promise<void> {
    delete this.node.dataset.aiexReady;
    const data = await call<ISession>(`sessions/${encodeURIComponent(name)}`);
    if (this.session && this.session !== name) {
      this.connection.send({ action: 'unfollow', ref: `follow:${this.session}` });
    }
    this.session = name;
    window.localStorage.setItem(SESSION_KEY, name);
    this.turns.clear();
    this.pending.clear();
    this.observer?.disconnect();
    this.observer = new IntersectionObserver(entries => this.revealed(entries), { root: this.log });
    const views = data.turns.map((t, i) => this.historyTurn(t, i >= data.turns.length - EAGER_TURNS));
    this.log.replaceChildren(...views.map(v => v.node));
    this.lastId = data.position;
    this.scrollDown();
    this.setStatus(plural(data.turns.length, 'turn'));
    this.follow();
    this.node.dataset.aiexReady = 'true';
  }

  private historyTurn(t: ITurn, eager: boolean): TurnView {
    const view = new TurnView(t.prompt);
    view.turn = t.turn;
    view.done = t.status !== 'running';
    view.model = t.model;
    view.text = view.logText = t.answer || '';
    this.turns.set(t.turn, view);
    view.body.classList.remove('aiex-chat-waiting');
    view.body.textContent = view.text; // at once; Markdown replaces it
    if (t.status === 'failed') {
      view.body.textContent = '';
      view.note(t.error || 'failed', true);
    } else if (t.status === 'running') {
      void this.render(view, false); // still being answered (elsewhere): the log brings the rest
    } else if (eager) {
      void this.render(view, true);
    } else {
      view.body.classList.add('aiex-chat-plain');
      this.observer?.observe(view.body);
    }
    view.foot.textContent = footText(t) + (t.status === 'cancelled' ? ' · stopped' : '');
    return view;
  }

  private revealed(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      if (!entry.isIntersecting) {
        continue;
      }
      this.observer?.unobserve(entry.target);
      for (const view of this.turns.values()) {
        if (view.body === entry.target) {
          view.body.classList.remove('aiex-chat-plain');
          void this.render(view, true);
        }
      }
    }
  }

  private follow(): void {
    this.connection.send({ action: 'follow', ref: `follow:${this.session}`, session: this.session, after: this.lastId });
  }

  private opened(reconnected: boolean): void {
    this.setStatus(reconnected ? 'reconnected' : '');
    if (!reconnected || !this.session) {
      return;
    }
    // the replies that were streaming on the lost connection continue from the log
    for (const view of this.turns.values()) {
      if (view.live && !view.done) {
        view.live = false;
        view.text = view.logText;
        void this.render(view, false);
      }
    }
    for (const [ref, view] of this.pending) {
      view.note('sent again after the connection dropped');
      this.pending.delete(ref);
    }
    this.follow();
  }

  private async newSession(): Promise<void> {
    const { name } = await call<{ name: string }>('sessions', { method: 'POST', body: '{}' });
    const listed = await call<{ sessions: { name: string; turns: number }[] }>('sessions');
    this.fillSessions(listed.sessions, name);
    await this.open(name);
  }

  // -- sending ------------------------------------------------------------------------------------

  private keydown(event: KeyboardEvent): void {
    if (this.completion.length && ['ArrowDown', 'ArrowUp', 'Enter', 'Tab', 'Escape'].includes(event.key)) {
      event.preventDefault();
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        const step = event.key === 'ArrowDown' ? 1 : -1;
        this.completionIndex = (this.completionIndex + step + this.completion.length) % this.completion.length;
        this.showCompletion();
      } else if (event.key === 'Escape') {
        this.closeCompletion();
      } else {
        this.choose(this.completion[this.completionIndex]);
      }
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      this.send();
    }
  }

  send(): void {
    const text = this.input.value.trim();
    if (!text) {
      return;
    }
    const mentions = [...text.matchAll(MENTION)].map(m => m[1]).filter(m => this.mentions.has(m) || /[./]/.test(m));
    const chips = this.attachments.map(a => a.label);
    this.submit(text, { mentions, attachments: this.attachments.map(a => a.text).join('\n\n'),
      focus: this.attachments.map(a => a.code).join('\n') }, chips);
    this.input.value = '';
    this.attachments = [];
    this.chips.replaceChildren();
    this.closeCompletion();
  }

  private submit(prompt: string, extra: { mentions?: string[]; attachments?: string; focus?: string;
    command?: string; error_text?: string; error_source?: string; }, chips: string[] = []): void {
    const ref = `m${++this.refs}`;
    const view = new TurnView(prompt, chips);
    view.ref = ref;
    view.live = true;
    this.pending.set(ref, view);
    this.log.appendChild(view.node);
    this.scrollDown();
    const budget = this.budget.value.trim();
    this.connection.send({
      action: 'chat', ref, session: this.session, command: extra.command || 'chat',
      prompt: extra.command === 'fix' ? '' : prompt, model: this.modelSelect.value || null,
      context: { enabled: this.useContext.checked, budget: budget ? Number(budget) : null,
        mentions: extra.mentions || [], focus: extra.focus || '' },
      attachments: extra.attachments || '', error_text: extra.error_text, error_source: extra.error_source
    });
    this.busy();
  }

  stop(): void {
    for (const view of [...this.pending.values(), ...this.turns.values()]) {
      if (!view.live || view.done) {
        continue;
      }
      if (view.ref) {
        this.connection.send({ action: 'cancel', ref: view.ref });
      }
      if (view.turn) {
        void call(`turns/${view.turn}/cancel`, { method: 'POST', body: '{}' }).catch(() => undefined);
      }
    }
  }

  private busy(): void {
    const running = [...this.pending.values(), ...this.turns.values()].some(v => v.live && !v.done);
    this.stopButton.disabled = !running;
  }

  private attachCell(): void {
    const found = activeCellAttachment(this.tracker);
    if (!found) {
      this.setStatus('no active notebook cell to attach');
      return;
    }
    this.attachments.push(found);
    const chip = el('span', 'aiex-chat-chip', found.label);
    const remove = button('×', 'Remove', () => {
      this.attachments = this.attachments.filter(a => a !== found);
      chip.remove();
    }, 'aiex-chat-chip-remove');
    chip.appendChild(remove);
    this.chips.appendChild(chip);
    this.input.focus();
  }

  private fixLastError(): void {
    const error = lastError(this.tracker);
    if (!error) {
      this.setStatus('no error in the current notebook');
      return;
    }
    this.submit(`/fix ${error.summary}`, { command: 'fix', error_text: error.traceback, error_source: error.source,
      focus: error.source });
  }

  // -- @file completion ---------------------------------------------------------------------------

  private mentionAtCaret(): string | null {
    const before = this.input.value.slice(0, this.input.selectionStart ?? this.input.value.length);
    const m = /(?:^|\s)@([\w./-]*)$/.exec(before);
    return m ? m[1] : null;
  }

  private scheduleCompletion(): void {
    window.clearTimeout(this.completeTimer);
    const query = this.mentionAtCaret();
    if (query === null) {
      this.closeCompletion();
      return;
    }
    this.completeTimer = window.setTimeout(async () => {
      try {
        const data = await call<{ files: string[] }>(`context/files?q=${encodeURIComponent(query)}`);
        if (this.mentionAtCaret() !== query) {
          return;
        }
        this.completion = data.files;
        this.completionIndex = 0;
        this.showCompletion();
      } catch (error) {
        this.setStatus(`@ completion: ${error}`);
      }
    }, COMPLETE_MS);
  }

  private showCompletion(): void {
    this.completions.replaceChildren(...this.completion.map((path, i) => {
      const item = el('li', i === this.completionIndex ? 'aiex-chat-completion aiex-active' : 'aiex-chat-completion',
        path);
      item.addEventListener('mousedown', event => {
        event.preventDefault();
        this.choose(path);
      });
      return item;
    }));
    this.completions.style.display = this.completion.length ? 'block' : 'none';
  }

  private closeCompletion(): void {
    this.completion = [];
    this.completions.replaceChildren();
    this.completions.style.display = 'none';
  }

  private choose(path: string): void {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret).replace(/@([\w./-]*)$/, `@${path} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.selectionStart = this.input.selectionEnd = before.length;
    this.mentions.add(path);
    this.closeCompletion();
    this.input.focus();
  }

  // -- events -------------------------------------------------------------------------------------

  private received(m: IEventMessage): void {
    if (m.ref && m.ref.startsWith('follow:')) {
      if (m.ref !== `follow:${this.session}`) {
        return;
      }
      if (typeof m.id === 'number') {
        this.lastId = Math.max(this.lastId, m.id);
      }
      this.fromLog(m);
      return;
    }
    const view = m.ref ? this.pending.get(m.ref) || this.byRef(m.ref) : undefined;
    if (!view) {
      if (m.error) {
        this.setStatus(`${m.error}: ${m.message}`);
      }
      return;
    }
    this.fromStream(view, m);
  }

  private byRef(ref: string): TurnView | undefined {
    for (const view of this.turns.values()) {
      if (view.ref === ref) {
        return view;
      }
    }
    return undefined;
  }

  /** An event of a turn sent from this panel, on its own connection. */
  private fromStream(view: TurnView, m: IEventMessage): void {
    if (m.error && !m.event) {
      this.finish(view, null, `${m.error}: ${m.message}`);
      return;
    }
    switch (m.event) {
      case 'TurnStarted':
        view.turn = m.turn!;
        view.model = m.model || '';
        this.pending.delete(view.ref!);
        this.turns.set(view.turn, view);
        break;
      case 'Noted':
        view.note(m.text || '');
        break;
      case 'ContextChosen':
        view.sources = m.sources || [];
        break;
      case 'Delta':
        if (view.live) {
          view.liveText += m.text || '';
          view.text = view.liveText;
          void this.render(view, false);
        }
        break;
      case 'Answered':
        this.finish(view, m);
        break;
      case 'Failed':
        this.finish(view, null, `${m.error}: ${m.message}`);
        break;
      case 'Cancelled':
        this.finish(view, null, 'stopped');
        break;
    }
  }

  /** An event of the session from the log: another tab or surface, or this panel's own turns again. */
  private fromLog(m: IEventMessage): void {
    const known = m.turn ? this.turns.get(m.turn) : undefined;
    if (m.event === 'TurnStarted') {
      if (known) {
        return;
      }
      for (const [ref, view] of this.pending) {
        if (view.turn === null && m.prompt !== undefined && sameTurn(view, m)) {
          this.pending.delete(ref);
          view.turn = m.turn!;
          this.turns.set(view.turn, view);
          return;
        }
      }
      if (m.command === 'compare') {
        return;
      }
      const view = new TurnView(m.prompt || '', ['from elsewhere']);
      view.turn = m.turn!;
      view.model = m.model || '';
      this.turns.set(view.turn, view);
      this.log.appendChild(view.node);
      this.scrollDown();
      return;
    }
    if (!known) {
      return;
    }
    switch (m.event) {
      case 'Delta':
        known.logText += m.text || '';
        if (!known.live && !known.done) {
          known.text = known.logText;
          void this.render(known, false);
        }
        break;
      case 'ContextChosen':
        known.sources = m.sources || [];
        break;
      case 'Answered':
        if (!known.done) {
          this.finish(known, m);
        }
        break;
      case 'Failed':
        if (!known.done) {
          this.finish(known, null, `${m.error}: ${m.message}`);
        }
        break;
      case 'Cancelled':
        if (!known.done) {
          known.text = m.partial || known.text;
          this.finish(known, null, 'stopped');
        }
        break;
    }
  }

  private finish(view: TurnView, answer: IEventMessage | null, error: string | null = null): void {
    view.done = true;
    view.live = false;
    if (view.ref) {
      this.pending.delete(view.ref);
    }
    if (answer) {
      view.text = answer.text || '';
      view.foot.textContent = footText({ ...answer, model: view.model || answer.model, sources: view.sources });
    } else if (error === 'stopped') {
      view.foot.textContent = `${view.model ? view.model + ' · ' : ''}stopped`;
    } else if (error) {
      view.note(error, true);
    }
    if (answer || view.text) {
      void this.render(view, true);
    } else {
      view.body.textContent = '';
      view.body.classList.remove('aiex-chat-waiting');
    }
    this.busy();
  }

  // -- rendering ----------------------------------------------------------------------------------

  /** Markdown of the reply so far (throttled while it streams), with a toolbar under each code block at the end. */
  private async render(view: TurnView, final: boolean): Promise<void> {
    if (view.rendering) {
      view.dirty = true;
      return;
    }
    const now = performance.now();
    if (!final && view.lastRender && now - view.lastRender < RENDER_MS) {
      if (!view.dirty) {
        view.dirty = true;
        window.setTimeout(() => {
          if (view.dirty && !view.done) {
            view.dirty = false;
            void this.render(view, false);
          }
        }, RENDER_MS);
      }
      return;
    }
    if (!view.lastRender && !final) {
      // the first words at once, as text; Markdown follows
      view.body.classList.remove('aiex-chat-waiting');
      view.body.textContent = view.text;
    }
    view.rendering = true;
    view.lastRender = now;
    const text = view.text;
    try {
      const renderer = this.rendermime.createRenderer('text/markdown');
      await renderer.renderModel(new MimeModel({ data: { 'text/markdown': text } }));
      view.body.classList.remove('aiex-chat-waiting', 'aiex-chat-plain');
      view.body.replaceChildren(renderer.node);
      if (final) {
        this.addToolbars(view);
      }
    } finally {
      view.rendering = false;
    }
    const follows = view.dirty || (final && view.text !== text);
    view.dirty = false;
    if (follows) {
      void this.render(view, final || view.done);
    }
    if (!final) {
      this.scrollDown();
    }
  }

  private addToolbars(view: TurnView): void {
    view.body.querySelectorAll('pre').forEach(pre => {
      if (pre.parentElement?.closest('pre')) {
        return; // highlighted code can nest a pre
      }
      const code = (pre.textContent || '').replace(/\n$/, '');
      const bar = el('div', 'aiex-chat-codebar');
      const say = (text: string) => {
        bar.dataset.said = text;
        this.setStatus(text);
      };
      bar.append(
        button('Copy', 'Copy the code', async () => say((await copyText(code)) ? 'copied' : 'the browser refused the clipboard')),
        button('Insert below', 'Insert the code as a new cell below the active cell', async () =>
          say((await this.app.commands.execute(INSERT_COMMAND, { code, mode: 'below' })) || 'open a notebook first')),
        button('Replace cell', 'Replace the active cell with the code', async () =>
          say((await this.app.commands.execute(INSERT_COMMAND, { code, mode: 'replace' })) || 'open a notebook first'))
      );
      pre.after(bar);
    });
  }

  private scrollDown(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  dispose(): void {
    this.connection.dispose();
    this.observer?.disconnect();
    super.dispose();
  }
}

function sameTurn(view: TurnView, m: IEventMessage): boolean {
  const asked = view.user.firstChild?.textContent || '';
  return m.prompt === asked || (m.command === 'fix' && asked.startsWith('/fix'));
}
