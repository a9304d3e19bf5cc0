import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countTokens, tokenize } from './tokenizer.util';
import { generate } from './reply.generator';

describe('tokenizer', () => {
  it('splits into at most 4 letters, 3 digits or one symbol per token', () => {
    assert.deepEqual(tokenize('Hello, world 12345!'), ['Hell', 'o', ',', ' worl', 'd', ' 123', '45', '!']);
    assert.equal(countTokens(''), 0);
    assert.equal(countTokens('a  b'), 3);
  });

  it('loses nothing and counts what it splits', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const tokens = tokenize(s);
        assert.equal(tokens.join(''), s);
        assert.equal(countTokens(s), tokens.length);
      }),
      { numRuns: 500 },
    );
  });

  it('is prefix-stable: a text cut at a token boundary re-tokenizes to the same prefix', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.nat(), (s, k) => {
        const tokens = tokenize(s);
        const cut = tokens.slice(0, tokens.length ? k % (tokens.length + 1) : 0);
        assert.deepEqual(tokenize(cut.join('')), cut);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps generated usage equal to the tokens of the text, truncated or not', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.option(fc.integer({ min: 1, max: 40 })), (prompt, max) => {
        const gen = generate({ promptText: prompt, tools: [], toolChoice: { mode: 'auto' }, stop: [], format: { type: 'text' }, maxTokens: max ?? undefined });
        assert.ok(gen.kind === 'text');
        assert.equal(gen.tokens, countTokens(gen.text));
        assert.equal(gen.pieces.join(''), gen.text);
        if (max !== null && gen.finish === 'length') assert.equal(gen.tokens, max);
      }),
      { numRuns: 300 },
    );
  });
});
