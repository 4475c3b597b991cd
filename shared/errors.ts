/** Named errors, in one place, so callers branch on type rather than on messages. */

/** A setting is missing or invalid; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly setting: string,
    detail: string,
  ) {
    super(`Setting ${setting}: ${detail}`);
  }
}

/** An ETag-guarded write lost a race: someone else changed the entity first. */
export class ConcurrencyConflictError extends Error {
  override readonly name = 'ConcurrencyConflictError';
  constructor(
    readonly table: string,
    readonly partitionKey: string,
    readonly rowKey: string,
  ) {
    super(`Entity ${table}/${partitionKey}/${rowKey} was changed by someone else (ETag mismatch)`);
  }
}

/** An insert found the entity already there. */
export class EntityExistsError extends Error {
  override readonly name = 'EntityExistsError';
  constructor(
    readonly table: string,
    readonly partitionKey: string,
    readonly rowKey: string,
  ) {
    super(`Entity ${table}/${partitionKey}/${rowKey} already exists`);
  }
}
