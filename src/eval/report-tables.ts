// The report's Tables 1-6 (seed/, section 4), transcribed cell by cell from the seed text, where
// the OCR renders √ as "√", "V", "$\sqrt{}$" or "\checkmark". Two cells are blank in the seed
// text (lost in extraction); they are kept blank here (null) and said so, not guessed.

/** true = √ (succeeded), false = × (failed), null = blank in the seed text. */
export type ReportMark = boolean | null;

export interface ReportTable {
  /** As the report captions it. */
  caption: string;
  replicas: number;
  writeQuorum: number;
  readQuorum: number;
  /** Indexed by the number of corrupted / crashed servers, 0..N. */
  corruptWrite: ReportMark[];
  corruptRead: ReportMark[];
  crashWrite: ReportMark[];
  crashRead: ReportMark[];
}

const Y = true;
const X = false;

export const REPORT_TABLES: ReportTable[] = [
  {
    caption: 'Table.1', replicas: 1, writeQuorum: 1, readQuorum: 1,
    corruptWrite: [Y, Y], corruptRead: [Y, X],
    crashWrite: [Y, X], crashRead: [Y, X],
  },
  {
    caption: 'Table.2', replicas: 5, writeQuorum: 5, readQuorum: 5,
    corruptWrite: [Y, Y, Y, Y, Y, Y], corruptRead: [Y, X, X, X, X, X],
    crashWrite: [Y, X, X, X, X, X], crashRead: [Y, X, X, X, X, X],
  },
  {
    caption: 'Table.3', replicas: 5, writeQuorum: 5, readQuorum: 4,
    corruptWrite: [Y, Y, Y, Y, Y, Y], corruptRead: [Y, Y, X, X, X, X],
    crashWrite: [Y, X, X, X, X, X], crashRead: [Y, Y, X, X, X, X],
  },
  {
    caption: 'Table.4', replicas: 5, writeQuorum: 5, readQuorum: 3,
    corruptWrite: [Y, Y, Y, Y, Y, Y], corruptRead: [Y, Y, Y, X, X, X],
    crashWrite: [Y, X, X, X, X, X], crashRead: [Y, Y, Y, X, X, X],
  },
  {
    caption: 'Table.5', replicas: 5, writeQuorum: 5, readQuorum: 2,
    corruptWrite: [Y, Y, Y, Y, Y, Y], corruptRead: [Y, Y, Y, Y, X, X],
    crashWrite: [Y, X, X, X, X, X], crashRead: [Y, Y, Y, Y, X, X],
  },
  {
    // Seed text: the corruption "Result of Write" row starts with an empty cell, and the crash
    // "Result of Read" row reads "√ | (empty) | V | √ | √ | ×".
    caption: 'Table.6', replicas: 5, writeQuorum: 5, readQuorum: 1,
    corruptWrite: [null, Y, Y, Y, Y, Y], corruptRead: [Y, Y, Y, Y, Y, X],
    crashWrite: [Y, X, X, X, X, X], crashRead: [Y, null, Y, Y, Y, X],
  },
];

export const BLANK_CELL_NOTE = 'blank in the seed text (lost in extraction), not compared';

/**
 * Cells where this system's outcome is the report's, reached differently. The report's single
 * server handed back whatever bytes it had; here every copy is checked against its name.
 */
export function reportCellNote(caption: string, fault: 'corrupt' | 'crash', k: number, op: 'write' | 'read'): string | undefined {
  if (caption === 'Table.1' && fault === 'corrupt' && k === 1 && op === 'read') {
    return 'EIO, not garbage: the report\'s read returned the corrupted bytes; here the copy fails its checksum and the read fails with EIO';
  }
  return undefined;
}
