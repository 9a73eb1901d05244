/**
 * UTF-8 text of a file's bytes, exactly as stored. A leading byte-order mark stays in the text as U+FEFF: TextDecoder
 * drops it by default, which would rename a tensor or let a header that does not start with "{" through.
 */
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });

/** The text, or a thrown TypeError for bytes that are not UTF-8 (callers turn it into their FormatError). */
export function strictUtf8(bytes: Uint8Array): string {
  return strict.decode(bytes);
}

/** The text, with U+FFFD for bytes that are not UTF-8. */
export function lenientUtf8(bytes: Uint8Array): string {
  return lenient.decode(bytes);
}
