/** Each byte as the character of the same code (ISO 8859-1; unlike the WHATWG "latin1" label, not windows-1252). */
export function latin1(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let at = 0; at < bytes.length; at += 8192) parts.push(String.fromCharCode(...bytes.subarray(at, at + 8192)));
  return parts.join('');
}
