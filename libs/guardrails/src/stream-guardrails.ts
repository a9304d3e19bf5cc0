import type { CanonicalStreamEvent } from '@asc/providers';
import { applySpans, CompiledGuardrails, FindingTally, GuardrailFinding, HoldRule, RedactionSession } from './guardrails';

/** Characters past a match a pattern may look at (look-aheads such as `(?![\d]|\.\d)`). */
const LOOKAHEAD = 2;
/**
 * Released text kept as left context (never re-emitted): for look-behinds, and so that a
 * label released with an earlier match ("SSN: … and SSN …") still precedes its value.
 */
const CONTEXT = 64;
/** The smallest step in which held text is released (characters). */
const MIN_RELEASE = 16;

/**
 * Guardrails over one text that arrives in pieces (a streamed answer's text, or one tool
 * call's arguments). Text is released only once no match can still grow into it: each
 * pattern has a longest match (`HoldRule.maxLength`, bounded in the detectors' sources), so
 * after each piece the scanner holds back, per pattern, the last maxLength characters (or
 * only the tail run of characters the pattern can contain: an e-mail address cannot span a
 * space), scans the held text plus a little released context, and releases everything before
 * the earliest hold with the actions applied. Every match that fits its bound is found exactly
 * as in the whole text; the rest of the text is held until `end()`.
 *
 * To keep the cost per token low, a scan runs only once at least `minRelease` characters
 * could be released (16, or a quarter of the longest fixed hold: 25 with the injection
 * phrasings on); the client then gets the text in pieces of about that size. The first
 * text goes out as soon as any is final.
 */
export class GuardrailsTextStream {
  /** Text received and not released yet (as received). */
  private pending = '';
  /** The last released characters (as received). */
  private context = '';
  /** The hold of the patterns that can contain any character: the longest of them. */
  private readonly fixedHold: number;
  private readonly classRules: HoldRule[];

  constructor(
    private readonly guardrails: CompiledGuardrails,
    private readonly session: RedactionSession = new RedactionSession(),
    minRelease?: number,
    /** Shared by the texts of one answer (its text and tool calls). */
    private readonly tally: FindingTally = new FindingTally(),
  ) {
    const open = guardrails.holdRules.filter((r) => !r.chars);
    this.fixedHold = open.length ? Math.max(...open.map((r) => r.maxLength)) + LOOKAHEAD : 0;
    this.classRules = guardrails.holdRules.filter((r) => r.chars);
    // Each scan re-reads the held tail: releasing in steps of a quarter of it keeps the
    // streamed cost within a few times the whole-text scan (docs/benchmarks.md).
    this.minRelease = minRelease ?? Math.max(MIN_RELEASE, Math.ceil(this.fixedHold / 4));
  }
  private readonly minRelease: number;

  get blockedBy(): string | undefined {
    return this.tally.blockedBy;
  }

  findings(): GuardrailFinding[] {
    return this.tally.findings();
  }

  /** Some text is held (not released yet). */
  get holding(): boolean {
    return this.pending.length > 0;
  }

  /** Adds a piece; returns the text that may be sent now ('' while held, and always once blocked). */
  push(piece: string): string {
    if (this.tally.blockedBy) return '';
    this.pending += piece;
    // The first text goes out as soon as any is final (time to first token); then in steps.
    const step = this.context ? this.minRelease : 1;
    // Most pieces end here: too little past the longest fixed hold to be worth a scan.
    if (this.pending.length < step + this.fixedHold) return '';
    const hold = this.holdFrom(this.pending);
    if (hold < step) return '';
    return this.release(this.context.length + hold);
  }

  /** The text ended: scans and returns what was held. */
  end(): string {
    if (this.tally.blockedBy || !this.pending) return '';
    return this.release(this.context.length + this.pending.length);
  }

  /**
   * Where in `pending` the held tail starts: no pattern can have a match that starts before
   * it and is not complete. A pattern with a character class holds only the tail run of
   * its characters (up to its longest match); the others their longest match.
   */
  private holdFrom(pending: string): number {
    let hold = pending.length - this.fixedHold;
    for (const rule of this.classRules) {
      const table = rule.chars as Uint8Array;
      const stop = Math.max(0, pending.length - rule.maxLength - LOOKAHEAD);
      let i = pending.length;
      while (i > stop && table[pending.charCodeAt(i - 1)] === 1) i--;
      if (i < hold) hold = i;
    }
    return Math.max(0, hold);
  }

  /** Applies the actions of the matches that start before `limit` (in context + pending) and releases the text up to there (or to the end of a match that crosses it). */
  private release(limit: number): string {
    const text = this.context + this.pending;
    const from = this.context.length;
    const spans = [];
    let cut = limit;
    for (const span of this.guardrails.find(text)) {
      if (span.end <= from) continue; // inside the released context: handled when it was released
      if (span.matchStart >= limit) continue; // may still change with the text to come
      // A match reaching back into released text (only one longer than its bound): act on what is left.
      spans.push(span.start < from ? { ...span, start: from } : span);
      if (span.end > cut) cut = span.end;
    }
    const out = spans.length ? applySpans(text, spans, from, cut, this.session, this.tally) : text.slice(from, cut);
    if (this.tally.blockedBy) {
      this.pending = '';
      return '';
    }
    this.context = text.slice(Math.max(0, cut - CONTEXT), cut);
    this.pending = text.slice(cut);
    return out;
  }
}

/**
 * Guardrails over a streamed answer's canonical events, between the upstream's decoder and the
 * client's encoder: text and each tool call's arguments go through a GuardrailsTextStream
 * (sharing the request's placeholders); a tool call's start, the finish and an error release
 * what is held first; usage that arrives while text is held waits behind it. Once a match
 * blocks, nothing more passes (`blockedBy` says which detector: the runner then ends the
 * stream with an in-band error).
 */
export class CanonicalStreamGuardrails {
  private readonly tally = new FindingTally();
  private text?: GuardrailsTextStream;
  private tool?: { index: number; stream: GuardrailsTextStream };
  private deferred: CanonicalStreamEvent[] = [];

  constructor(
    private readonly guardrails: CompiledGuardrails,
    private readonly session: RedactionSession,
    private readonly minRelease?: number,
  ) {}

  get blockedBy(): string | undefined {
    return this.tally.blockedBy;
  }

  /** detector + action + count so far, never the matched text. */
  findings(): GuardrailFinding[] {
    return this.tally.findings();
  }

  push(ev: CanonicalStreamEvent): CanonicalStreamEvent[] {
    if (this.tally.blockedBy) return [];
    const out: CanonicalStreamEvent[] = [];
    switch (ev.type) {
      case 'text_delta': {
        if (this.tool) this.flush(out);
        this.text ??= this.stream();
        const text = this.text.push(ev.text);
        if (text) out.push({ type: 'text_delta', text });
        break;
      }
      case 'tool_call_start':
        this.flush(out);
        out.push(ev);
        this.tool = { index: ev.index, stream: this.stream() };
        break;
      case 'tool_call_delta': {
        if (this.tool?.index !== ev.index) {
          this.flush(out);
          this.tool = { index: ev.index, stream: this.stream() };
        }
        const argumentsDelta = this.tool.stream.push(ev.argumentsDelta);
        if (argumentsDelta) out.push({ ...ev, argumentsDelta });
        break;
      }
      case 'usage':
        if (this.text?.holding || this.tool?.stream.holding) this.deferred.push(ev);
        else out.push(ev);
        break;
      case 'finish':
      case 'error':
        this.flush(out);
        out.push(ev);
        break;
      default:
        out.push(ev);
    }
    return this.tally.blockedBy ? [] : out;
  }

  /** Releases everything held (text, the current tool call's arguments), then the usage that waited. */
  private flush(out: CanonicalStreamEvent[]): void {
    const text = this.text?.end();
    if (text) out.push({ type: 'text_delta', text });
    this.text = undefined;
    if (this.tool) {
      const argumentsDelta = this.tool.stream.end();
      if (argumentsDelta) out.push({ type: 'tool_call_delta', index: this.tool.index, argumentsDelta });
      this.tool = undefined;
    }
    out.push(...this.deferred);
    this.deferred = [];
  }

  private stream(): GuardrailsTextStream {
    return new GuardrailsTextStream(this.guardrails, this.session, this.minRelease, this.tally);
  }
}
