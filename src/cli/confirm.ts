/**
 * Asking a person before something that cannot be undone (`eventbus delete`): only when stdin
 * and stderr are terminals; a script (no terminal) is not asked, and `--yes` skips the question.
 */
import readline from 'node:readline/promises';

/** True when the answer is yes (y, yes; anything else, an empty line or end of input is no). */
export async function confirm(question: string): Promise<boolean> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => {
      prompt.once('close', () => resolve(''));
      void prompt.question(`${question} [y/N] `).then(resolve, () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    prompt.close();
  }
}

/** Whether a question can be asked here at all. */
export function canAsk(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}
