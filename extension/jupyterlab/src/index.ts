/**
 * aiex in JupyterLab: the insert-cell command and the renderers the kernel uses
 * (insert.ts), and the chat panel in the right sidebar (panel.ts).
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { COPY_MIME, CopyRenderer, IInsertArgs, INSERT_COMMAND, INSERT_MIME, insertCell, InsertRenderer } from './insert';
import { ChatPanel } from './panel';

export const CHAT_COMMAND = 'aiex:open-chat';

const chatIcon = new LabIcon({
  name: 'aiex:chat',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 5v2h2V9H7zm4 0v2h2V9h-2zm4 ' +
    '0v2h2V9h-2z"/></svg>'
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'aiex-jupyterlab:insert-cell',
  description: 'The aiex insert-cell command, and the renderer that lets the kernel use it.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, rendermime: IRenderMimeRegistry) => {
    app.commands.addCommand(INSERT_COMMAND, {
      label: 'aiex: Insert Code Below',
      execute: args => insertCell(tracker, args as unknown as IInsertArgs)
    });
    rendermime.addFactory(
      {
        safe: true,
        mimeTypes: [INSERT_MIME],
        defaultRank: 10,
        createRenderer: () => new InsertRenderer(tracker)
      },
      10
    );
    rendermime.addFactory(
      { safe: true, mimeTypes: [COPY_MIME], defaultRank: 10, createRenderer: () => new CopyRenderer() },
      10
    );
  }
};

const chat: JupyterFrontEndPlugin<void> = {
  id: 'aiex-jupyterlab:chat',
  description: 'The aiex chat panel, on the sessions of the event log.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    let panel: ChatPanel | null = null;
    const create = () => {
      if (!panel || panel.isDisposed) {
        panel = new ChatPanel({ app, tracker, rendermime });
        panel.title.icon = chatIcon;
        app.shell.add(panel, 'right', { rank: 900 });
        restorer?.add(panel, 'aiex-chat');
      }
      return panel;
    };
    app.commands.addCommand(CHAT_COMMAND, {
      label: 'aiex: Open Chat',
      icon: chatIcon,
      execute: () => {
        const p = create();
        app.shell.activateById(p.id);
        p.begin();
        return p.ready;
      }
    });
    palette?.addItem({ command: CHAT_COMMAND, category: 'aiex' });
    // the panel's tab is in the sidebar from the start; it connects when first shown
    app.restored.then(() => create()).catch(() => undefined);
  }
};

export default [plugin, chat];
