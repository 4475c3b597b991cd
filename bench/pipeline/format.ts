/** Plain-text tables and numbers for the benchmark's printout, and the one place it is written. */

export const log = (text: string): void => console.log(text);

export const int = (value: number): string => Math.round(value).toLocaleString('en-GB');
export const fixed = (value: number, digits = 2): string => value.toFixed(digits);
export const seconds = (value: number | undefined): string => (value === undefined ? '—' : `${int(value)} s`);
export const ratio = (value: number | undefined): string => (value === undefined ? '—' : `${fixed(value)}×`);

export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
