/**
 * A JSON parser for hostile headers. Unlike JSON.parse it rejects duplicate keys (safetensors forbids them, and
 * JSON.parse would silently keep the last), keeps integers exact as bigint (so an offset past 2^53 is caught, not
 * rounded), and bounds nesting depth.
 */
export type JsonValue = null | boolean | bigint | number | string | JsonValue[] | JsonObject;
/** Objects keep insertion order, which is the header order of tensors. */
export type JsonObject = Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
    /** Set when the problem is a repeated key, so callers can report it as a duplicate. */
    readonly duplicateKey?: string,
  ) {
    super(`${message} at character ${position}`);
  }
}

const MAX_DEPTH = 64;

export function parseStrictJson(text: string): JsonValue {
  let pos = 0;

  const fail = (message: string): never => {
    throw new JsonSyntaxError(message, pos);
  };
  const skipSpace = (): void => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++;
  };
  const expect = (literal: string, value: JsonValue): JsonValue => {
    if (text.startsWith(literal, pos)) {
      pos += literal.length;
      return value;
    }
    return fail('unexpected token');
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let runStart = pos;
    while (true) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(runStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(runStart, pos);
        const e = text[pos + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          pos += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
          out += String.fromCharCode(parseInt(text.slice(pos + 2, pos + 6), 16));
          pos += 6;
        } else fail('invalid escape');
        runStart = pos;
      } else pos++;
    }
  };

  const parseNumber = (): JsonValue => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (!match) return fail('invalid number');
    pos += match[0].length;
    return match[2] === undefined && match[3] === undefined ? BigInt(match[0]) : Number(match[0]);
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    skipSpace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const object: JsonObject = new Map();
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return object;
      }
      while (true) {
        skipSpace();
        if (text[pos] !== '"') fail('expected a string key');
        const keyStart = pos;
        const key = parseString();
        if (object.has(key)) throw new JsonSyntaxError(`duplicate key "${key}"`, keyStart, key);
        skipSpace();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        object.set(key, parseValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return object;
        } else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const array: JsonValue[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return array;
      }
      while (true) {
        array.push(parseValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return array;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return parseString();
    if (c === 't') return expect('true', true);
    if (c === 'f') return expect('false', false);
    if (c === 'n') return expect('null', null);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return parseNumber();
    return fail(c === undefined ? 'unexpected end of input' : 'unexpected character');
  };

  const value = parseValue(0);
  skipSpace();
  if (pos !== text.length) fail('trailing characters after the JSON value');
  return value;
}

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return value instanceof Map;
}
