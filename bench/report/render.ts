/** Renders table sections for the terminal (cli-table3) and as markdown. */
import Table from 'cli-table3';
import type { Section } from './sections.js';

export function terminalTables(sections: readonly Section[]): string {
  return sections.map((section) => {
    const table = new Table({
      head: section.headers,
      style: { head: [], border: [], compact: true },
      // No rule between rows: the tables stay as tall as their rows.
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const row of section.rows) table.push(row);
    return [`\n${section.title}`, table.toString(), ...section.notes].join('\n');
  }).join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTables(sections: readonly Section[], headingLevel = 3): string {
  const hashes = '#'.repeat(headingLevel);
  return sections.map((section) => [
    `${hashes} ${section.title}`,
    '',
    `| ${section.headers.map(cell).join(' | ')} |`,
    `|${section.headers.map(() => '---').join('|')}|`,
    ...section.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    '',
    ...section.notes.flatMap((note) => [note, '']),
  ].join('\n')).join('\n');
}
