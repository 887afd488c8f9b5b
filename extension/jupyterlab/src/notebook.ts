/**
 * What the chat panel takes from the notebook in front of you: the active cell or its
 * selection (to attach to a message), and the kernel's last error (for /fix).
 */

import { INotebookTracker } from '@jupyterlab/notebook';

export interface IAttachment {
  label: string;
  text: string;
  code: string;
}

export interface ILastError {
  summary: string;
  traceback: string;
  source: string;
}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** The active cell's selection, or the whole cell when nothing is selected; null without a notebook. */
export function activeCellAttachment(tracker: INotebookTracker): IAttachment | null {
  const panel = tracker.currentWidget;
  const cell = tracker.activeCell;
  if (!panel || !cell) {
    return null;
  }
  const source = cell.model.sharedModel.getSource();
  const index = panel.content.activeCellIndex + 1;
  const editor = cell.editor;
  let code = source;
  let label = `cell ${index}`;
  if (editor) {
    const selection = editor.getSelection();
    const start = editor.getOffsetAt(selection.start);
    const end = editor.getOffsetAt(selection.end);
    if (end !== start) {
      code = source.slice(Math.min(start, end), Math.max(start, end));
      label = `selection in cell ${index} (${code.split('\n').length} lines)`;
    }
  }
  const name = panel.context.path;
  return { label, code, text: `From the notebook ${name}, ${label}:\n\`\`\`python\n${code}\n\`\`\`` };
}

/** The error of the cell run last (highest execution count) in the current notebook, or null. */
export function lastError(tracker: INotebookTracker): ILastError | null {
  const panel = tracker.currentWidget;
  if (!panel) {
    return null;
  }
  let best: ILastError | null = null;
  let bestCount = -1;
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code') {
      continue;
    }
    const json = cell.model.toJSON() as any;
    for (const output of json.outputs || []) {
      if (output.output_type !== 'error') {
        continue;
      }
      const count = typeof json.execution_count === 'number' ? json.execution_count : 0;
      if (count >= bestCount) {
        bestCount = count;
        const traceback = (output.traceback || []).join('\n').replace(ANSI, '');
        const source = Array.isArray(json.source) ? json.source.join('') : String(json.source ?? '');
        best = { summary: `${output.ename}: ${output.evalue}`, traceback, source };
      }
    }
  }
  return best;
}
