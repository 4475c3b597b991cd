import type { DeviceState } from './lifecycle.js';
import { isReasonCode, reasonText } from './reason-codes.js';
import { REPORT_HEADER, reportCell } from './result-report.js';

/**
 * The report's second writing: once every accepted device of a file has an Autopilot outcome,
 * the outcome column of each row the file accepted holds that device's state, with its reason
 * code. Rows rejected at intake, whole-file verdicts and rows for devices the file did not take
 * stay exactly as they were. The report is read back as written (every cell quoted, CRLF, BOM)
 * and each cell written again as it was, so a cell Excel would evaluate stays neutralised and
 * running the rewrite twice gives the same text.
 */

/** What a row's device came to: its state now and why. */
export interface FinalOutcome {
  readonly state: DeviceState;
  readonly reasons: readonly string[];
  readonly note: string | undefined;
}

const BOM = '\uFEFF';
const CRLF = '\r\n';

/** The report's records as cell texts (quotes and doubling undone; a neutralising `'` kept). */
export function parseReport(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  let started = false;
  const body = text.startsWith(BOM) ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (quoted) {
      if (ch === '"' && body[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') {
      quoted = true;
      started = true;
    } else if (ch === ',') {
      record.push(cell);
      cell = '';
      started = true;
    } else if (ch === '\r' || ch === '\n') {
      if (ch === '\r' && body[i + 1] === '\n') i++;
      if (started || cell !== '') record.push(cell);
      if (record.length > 0) records.push(record);
      record = [];
      cell = '';
      started = false;
    } else {
      cell += ch;
      started = true;
    }
  }
  if (started || cell !== '') record.push(cell);
  if (record.length > 0) records.push(record);
  return records;
}

/** The code and text a device's outcome puts on its row; undefined keeps the row's own (a warning, say). */
function outcomeReason(outcome: FinalOutcome): { code: string; message: string | undefined } | undefined {
  const code = outcome.reasons[0];
  if (code === undefined) return outcome.note === undefined ? undefined : { code: '', message: outcome.note };
  return { code, message: outcome.note ?? (isReasonCode(code) ? reasonText(code) : undefined) };
}

/**
 * The report with the outcome of each accepted row replaced, rows found by their line in the
 * file (`outcomes` holds only the devices this file accepted and still has).
 */
export function settledReport(text: string, outcomes: ReadonlyMap<number, FinalOutcome>): string {
  const [, ...rows] = parseReport(text);
  const lines = rows.map((cells) => {
    const [line = '', serial = '', outcome = '', code = '', message = ''] = cells;
    const found = /^\d+$/.test(line) ? outcomes.get(Number(line)) : undefined;
    if (found === undefined) return [line, serial, outcome, code, message, ...cells.slice(5)];
    const reason = outcomeReason(found);
    return [line, serial, found.state, reason?.code ?? code, reason?.message ?? (reason ? '' : message)];
  });
  return REPORT_HEADER + lines.map((cells) => cells.map((cell) => reportCell(cell === '' ? undefined : cell)).join(',') + CRLF).join('');
}
