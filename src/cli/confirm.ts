/**
 * Asking a person before something that cannot be undone (`eventbus delete`). The answer comes
 * from stdin, so a question is asked only when stdin is a terminal; it is shown on stderr, or on
 * the terminal itself (/dev/tty) when stderr goes elsewhere (`2>/dev/null`), so the person sees
 * what they answer. With stdin not a terminal (a script) there is no one to ask, and the command
 * goes ahead as with `--yes` (stream-commands.ts).
 */
import { openSync } from 'node:fs';
import readline from 'node:readline/promises';
import tty from 'node:tty';

/**
 * True when the answer is yes (y, yes; anything else, an empty line, end of input (Ctrl-D) or
 * Ctrl-C is no). Only when {@link canAsk}.
 */
export async function confirm(question: string): Promise<boolean> {
  const { output, done } = questionOutput();
  const prompt = readline.createInterface({ input: process.stdin, output });
  let typed = false;
  try {
    const answer = await new Promise<string>((resolve) => {
      prompt.once('close', () => resolve(''));
      // Ctrl-C at the question: no (without a listener readline would only pause).
      prompt.once('SIGINT', () => prompt.close());
      void prompt.question(`${question} [y/N] `).then((line) => {
        typed = true;
        resolve(line);
      }, () => resolve(''));
    });
    // Ended with Ctrl-D or Ctrl-C, not Enter: end the prompt's line, so that what is printed next starts a line.
    if (!typed) output.write('\n');
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    prompt.close();
    done();
  }
}

/** Whether a question can be asked here at all: stdin, where the answer comes from, is a terminal. */
export function canAsk(): boolean {
  return process.stdin.isTTY === true;
}

/** Where the question is shown: stderr on a terminal, else the terminal itself. */
function questionOutput(): { output: NodeJS.WritableStream; done: () => void } {
  if (process.stderr.isTTY === true) return { output: process.stderr, done: () => {} };
  try {
    const terminal = new tty.WriteStream(openSync('/dev/tty', 'w'));
    return { output: terminal, done: () => terminal.destroy() };
  } catch {
    // No controlling terminal (stdin a terminal of another session): stderr, wherever it goes.
    return { output: process.stderr, done: () => {} };
  }
}
