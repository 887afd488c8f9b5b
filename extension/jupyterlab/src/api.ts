/**
 * The aiex server extension's API (`/aiex/api`, see docs/server.md): REST calls and
 * the chat websocket, which reconnects by itself (the panel then resumes the session
 * from the event log) and keeps what is sent while it is down.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API = 'aiex/api';

/** One event of a turn, as the server sends it (see aiex_kernel/core/events.py). */
export interface IEventMessage {
  event?: string;
  ref?: string;
  id?: number;
  session?: string;
  turn?: string;
  text?: string;
  prompt?: string;
  command?: string;
  model?: string;
  error?: string;
  message?: string;
  partial?: string;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cost_usd?: number | null;
  latency_s?: number | null;
  tokens?: number;
  budget?: number;
  files?: string[];
  sources?: { path: string; start_line: number; end_line: number; name?: string }[];
}

export interface ITurn {
  turn: string;
  command: string;
  model: string;
  status: string;
  prompt: string;
  answer: string;
  error: string;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  latency_s: number | null;
  sources: { path: string; start_line: number }[];
}

export interface ISession {
  name: string;
  position: number;
  turns: ITurn[];
}

export interface IModels {
  providers: { provider: string; status: string; models: string[] }[];
  default: { model: string | null; reason: string };
}

/** A JSON call to the API (the server's token and XSRF cookie go with it); an Error with the server's message. */
export async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, API, path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new Error(`the Jupyter server did not answer (${error})`);
  }
  const text = await response.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    throw new Error(data.message || `${response.status} ${response.statusText}`);
  }
  return data as T;
}

const RETRY_MS = [250, 500, 1000, 2000, 5000];

export class ChatConnection {
  /** every message from the server */
  onMessage: (message: IEventMessage) => void = () => undefined;
  /** (re)connected: the place to follow the session again from the last event seen */
  onOpen: (reconnected: boolean) => void = () => undefined;
  /** the connection dropped (it is being retried) */
  onDrop: () => void = () => undefined;

  private socket: WebSocket | null = null;
  private queue: string[] = [];
  private attempts = 0;
  private opened = false;
  private disposed = false;

  connect(): void {
    if (this.disposed) {
      return;
    }
    const settings = ServerConnection.makeSettings();
    let url = URLExt.join(settings.wsUrl, API, 'chat');
    if (settings.token && settings.appendToken) {
      url += `?token=${encodeURIComponent(settings.token)}`;
    }
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.opened;
      this.opened = true;
      this.attempts = 0;
      this.onOpen(reconnected);
      for (const raw of this.queue.splice(0)) {
        socket.send(raw);
      }
    };
    socket.onmessage = event => {
      try {
        this.onMessage(JSON.parse(event.data));
      } catch (error) {
        console.error('aiex: a message from the server could not be read', error);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.disposed) {
        return;
      }
      this.socket = null;
      this.onDrop();
      const wait = RETRY_MS[Math.min(this.attempts, RETRY_MS.length - 1)];
      this.attempts += 1;
      window.setTimeout(() => this.connect(), wait);
    };
  }

  get connected(): boolean {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Send now, or as soon as the connection is back (never dropped). */
  send(message: object): void {
    const raw = JSON.stringify(message);
    if (this.connected) {
      this.socket!.send(raw);
    } else {
      this.queue.push(raw);
    }
  }

  /** Close the socket as a network failure would (tests and the benchmark use it); it reconnects. */
  drop(): void {
    this.socket?.close();
  }

  dispose(): void {
    this.disposed = true;
    this.socket?.close();
    this.socket = null;
  }
}
