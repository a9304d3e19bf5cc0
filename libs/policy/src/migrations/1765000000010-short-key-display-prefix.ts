import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Display prefixes were the first 10 characters of a key, which is a short imported key
 * whole. Keep `asc_` and at most 4 characters of what was stored (the key itself is gone:
 * only its digest is kept, so the new 8-character rule applies to keys created from now on).
 */
export class ShortKeyDisplayPrefix1765000000010 implements MigrationInterface {
  name = 'ShortKeyDisplayPrefix1765000000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE policy.api_keys
       SET display_prefix = 'asc_' || left(CASE WHEN display_prefix LIKE 'asc\\_%' THEN substr(display_prefix, 5) ELSE display_prefix END, 4)`);
  }

  async down(): Promise<void> {
    // The longer prefixes cannot be recovered (only key digests are stored).
  }
}
