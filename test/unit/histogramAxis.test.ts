import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decades } from '../../webview/views/histogram';

test('log-|x| ticks are whole decades, never repeated, at most the asked number', () => {
  assert.deepEqual(decades(-6.2, 1.3, 7), [-6, -4, -2, 0]);
  assert.deepEqual(decades(-2.5, -1.1, 7), [-2]);
  assert.deepEqual(decades(-2.6, -2.4, 7), [-2]);
  const many = decades(-40, 38, 7);
  assert.ok(many.length <= 7 && new Set(many).size === many.length);
});
