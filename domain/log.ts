/**
 * JSON-lines logging: level, time, a constant message, then fields. Callers
 * log ids, never resources, tokens, passwords or other PHI.
 */

/** Fields attached to a log line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A logger that may carry fields into every line (request id, lab). */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

/** Writes JSON lines to stderr; `quiet` drops info lines (tests). */
export function jsonLogger(base: LogFields = {}, quiet = false): Logger {
  const write = (level: string, message: string, fields?: LogFields) => {
    if (quiet && level === "info") return;
    console.error(JSON.stringify({
      level,
      time: new Date().toISOString(),
      message,
      ...base,
      ...fields,
    }));
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    with: (fields) => jsonLogger({ ...base, ...fields }, quiet),
  };
}
