/**
 * Text that came from outside (a rank's error message, bytes of a corrupt file) made safe to show
 * a person on one line: control characters (NUL, escape sequences, line breaks) become visible
 * \xNN escapes, and anything past `max` characters is cut with an ellipsis.
 */
export function printable(text: string, max = 1000): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}
