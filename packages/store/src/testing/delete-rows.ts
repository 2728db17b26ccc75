/**
 * Test helper: deletes result rows behind the store's back, the way a lost write looks from
 * outside (the row a result should have produced is not there). Used by the tests that prove the
 * ingest screens such objects again without `--force`. Not part of the store port on purpose: the
 * pipeline never deletes results.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

/** Deletes the rows of `uris` from the store at `url` (same URL forms as openStore); returns how many. */
export async function deleteResultRows(url: string, uris: readonly string[]): Promise<number> {
  if (url.startsWith('sqlite:')) {
    const db = new Database(url.slice('sqlite:'.length));
    try {
      const remove = db.prepare('DELETE FROM results WHERE uri = ?');
      let deleted = 0;
      for (const uri of uris) deleted += remove.run(uri).changes;
      return deleted;
    } finally {
      db.close();
    }
  }
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const client = new pg.Client({
    connectionString: parsed.toString(),
    ...(schema !== null ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    const result = await client.query('DELETE FROM results WHERE uri = ANY($1::text[])', [[...uris]]);
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}
