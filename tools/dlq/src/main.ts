import { parseArgs } from 'node:util';
import { isEventTopic, KafkaEventBus, originalValue, type DeadLetterRecord } from '@asc/events';

const USAGE = `asc-dlq: inspect and replay the dead-letter topic (asc.events.deadletter.v1).

Environment: KAFKA_BROKERS (default 127.0.0.1:9092), KAFKA_TOPIC_PREFIX (default '').

Commands:
  list    [--code C] [--group G] [--since MS]        one JSON line per dead letter (reason and position, no payload)
  replay  [--code C] [--group G] [--since MS] [--dry-run]
          writes each original message back to the topic it came from, once per source
          position (a dead letter written twice is replayed once). Consumers are idempotent
          on event id, so replaying a message that was meanwhile delivered is harmless.
          Fix the cause first (a consumer or schema upgrade): a message replayed unchanged
          into an unchanged consumer is dead-lettered again.
`;

type Filter = { code?: string; group?: string; since?: number };

function select(records: DeadLetterRecord[], f: Filter): DeadLetterRecord[] {
  const unique = new Map<string, DeadLetterRecord>();
  for (const r of records) {
    if (f.code && r.code !== f.code) continue;
    if (f.group && r.groupId !== f.group) continue;
    if (f.since !== undefined && r.deadLetteredAtMs < f.since) continue;
    // One per source position and group: the consumer may have written it more than once.
    unique.set(`${r.groupId}#${r.topic}#${r.partition}#${r.offset}`, r);
  }
  return [...unique.values()];
}

/** The Kafka key the original producer used: the tenant id in the envelope, when the bytes parse. */
function keyOf(record: DeadLetterRecord): string {
  try {
    const json = JSON.parse(originalValue(record).toString('utf8')) as { tenantId?: unknown };
    return typeof json.tenantId === 'string' ? json.tenantId : '';
  } catch {
    return '';
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(USAGE);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: { code: { type: 'string' }, group: { type: 'string' }, since: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  });
  const filter: Filter = { code: values.code, group: values.group, since: values.since ? Number(values.since) : undefined };
  const bus = new KafkaEventBus({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((s) => s.trim()).filter(Boolean),
    topicPrefix: process.env.KAFKA_TOPIC_PREFIX ?? '',
    clientId: 'asc-dlq',
  });
  try {
    const records = select(await bus.readDeadLetters(), filter);
    if (command === 'list') {
      for (const { valueBase64: _v, ...r } of records) console.log(JSON.stringify(r));
      console.error(`${records.length} dead letter(s)`);
      return;
    }
    if (command !== 'replay') throw new Error(`unknown command ${command}\n\n${USAGE}`);
    let replayed = 0;
    for (const r of records) {
      if (!isEventTopic(r.topic)) {
        console.error(`skipped: unknown source topic ${r.topic} (${r.groupId} ${r.partition}@${r.offset})`);
        continue;
      }
      if (!values['dry-run']) await bus.sendRaw(r.topic, keyOf(r), originalValue(r));
      replayed++;
    }
    console.error(`${values['dry-run'] ? 'would replay' : 'replayed'} ${replayed} message(s)`);
  } finally {
    await bus.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
