/**
 * Code from the assistant into the notebook, and onto the clipboard.
 *
 * The `aiex:insert-cell` command puts code into a notebook as a new cell below a
 * given cell, tagged with the cell it came from (`metadata.aiex.origin`): when the
 * same cell asks again (a re-run, Run All), the tagged cell is replaced instead of a
 * copy being added. `mode: "replace"` replaces the given (or active) cell instead.
 * Without an origin (the chat panel) it inserts a plain cell below the active one.
 *
 * The kernel asks for it with an output of type `application/vnd.aiex.insert+json`
 * (`{code, origin, nonce, mode}`): its renderer runs the command once per nonce (the
 * nonce is remembered in the origin cell's metadata, so reopening a notebook inserts
 * nothing again) and shows one line saying what it did. A kernel-side
 * `set_next_input` cannot do this: it lands on whatever cell is active.
 *
 * An output of type `application/vnd.aiex.copy+json` (`{code, nonce, time}`) puts
 * the code on the clipboard (the chat widget's Copy button): once per nonce, and
 * only while fresh (`time`, seconds since the epoch, within COPY_FRESH_S), so that
 * reopening a notebook copies nothing.
 */

import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

export const INSERT_MIME = 'application/vnd.aiex.insert+json';
export const INSERT_COMMAND = 'aiex:insert-cell';
export const COPY_MIME = 'application/vnd.aiex.copy+json';
const APPLIED_KEPT = 50;
const COPY_FRESH_S = 120;
const copied = new Set<string>();

export interface IInsertArgs {
  code: string;
  origin?: string;
  nonce?: string;
  mode?: 'below' | 'replace';
}

type Meta = { [key: string]: any };

function aiexMeta(model: any): Meta {
  const meta = model.getMetadata ? model.getMetadata('aiex') : undefined;
  return meta && typeof meta === 'object' ? { ...meta } : {};
}

/** The notebook holding the cell `origin` (or the current one), and that cell's index. */
function locate(tracker: INotebookTracker, origin?: string): { panel: NotebookPanel; index: number } | null {
  const panels: NotebookPanel[] = [];
  tracker.forEach(panel => panels.push(panel));
  if (origin) {
    for (const panel of panels) {
      const index = panel.content.widgets.findIndex(cell => cell.model.id === origin);
      if (index >= 0) {
        return { panel, index };
      }
    }
  }
  const panel = tracker.currentWidget;
  if (!panel) {
    return null;
  }
  return { panel, index: panel.content.activeCellIndex };
}

/** Insert (or replace) the code; returns what was done, or null when there is no notebook. */
export function insertCell(tracker: INotebookTracker, args: IInsertArgs): string | null {
  const found = locate(tracker, args.origin);
  if (!found) {
    return null;
  }
  const { panel, index } = found;
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return null;
  }
  const shared = model.sharedModel;
  const originCell = notebook.widgets[index];
  const originId = originCell ? originCell.model.id : '';
  if (originCell && args.nonce) {
    const meta = aiexMeta(originCell.model);
    const applied: string[] = Array.isArray(meta.applied) ? meta.applied : [];
    if (applied.includes(args.nonce)) {
      return 'already inserted';
    }
    meta.applied = [...applied, args.nonce].slice(-APPLIED_KEPT);
    originCell.model.setMetadata('aiex', meta);
  }
  if (args.mode === 'replace' && originCell) {
    originCell.model.sharedModel.setSource(args.code);
    return 'replaced the cell';
  }
  if (!args.origin) {
    // from the chat panel: a plain new cell below the active one, which it becomes (the next goes below it)
    shared.insertCell(index + 1, { cell_type: 'code', source: args.code, metadata: {} });
    notebook.activeCellIndex = index + 1;
    return 'inserted below';
  }
  // a cell this origin inserted before is replaced: a re-run does not add a copy
  const previous = notebook.widgets.findIndex(
    cell => cell !== originCell && aiexMeta(cell.model).origin === originId && originId !== ''
  );
  if (previous >= 0) {
    notebook.widgets[previous].model.sharedModel.setSource(args.code);
    return 'replaced the cell it inserted before';
  }
  shared.insertCell(index + 1, {
    cell_type: 'code',
    source: args.code,
    metadata: { aiex: { origin: originId } }
  });
  return 'inserted below';
}

export class InsertRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private tracker: INotebookTracker) {
    super();
    this.addClass('aiex-insert');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[INSERT_MIME] as unknown as IInsertArgs;
    if (!data || typeof data.code !== 'string') {
      this.node.textContent = 'aiex: nothing to insert';
      return;
    }
    // wait for the output to be attached, so the notebook holding it is the current one
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    const done = insertCell(this.tracker, data);
    this.node.textContent = done ? `aiex: ${done}` : 'aiex: no notebook to insert into';
  }
}

/** Put text on the clipboard: the Clipboard API, or a selected textarea where that is refused. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

export class CopyRenderer extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('aiex-copy');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[COPY_MIME] as unknown as { code?: string; nonce?: string; time?: number };
    if (!data || typeof data.code !== 'string') {
      this.node.textContent = 'aiex: nothing to copy';
      return;
    }
    const fresh = typeof data.time !== 'number' || Math.abs(Date.now() / 1000 - data.time) < COPY_FRESH_S;
    if (!fresh || (data.nonce && copied.has(data.nonce))) {
      this.node.textContent = '';
      return;
    }
    if (data.nonce) {
      copied.add(data.nonce);
    }
    const ok = await copyText(data.code);
    this.node.textContent = ok
      ? `aiex: copied ${data.code.split('\n').length} lines to the clipboard`
      : 'aiex: the browser refused the clipboard; select the code in the reply and copy it';
  }
}

