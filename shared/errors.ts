/**
 * Named errors, in one place and under one base, so callers branch with `instanceof` rather
 * than on messages or names. Expected Graph failures are not here: they are typed results.
 */

/** Every error the product raises on purpose. */
export abstract class ZtpError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A setting is missing or invalid; the message names it. */
export class ConfigError extends ZtpError {
  constructor(
    readonly setting: string,
    detail: string,
  ) {
    super(`Setting ${setting}: ${detail}`);
  }
}

/** The supplier policy (ZTP_SUPPLIERS) is not valid JSON or not a valid supplier list. */
export class SupplierConfigError extends ZtpError {}

/** An ETag-guarded write lost a race: someone else changed the entity first. */
export class ConcurrencyConflictError extends ZtpError {
  constructor(
    readonly table: string,
    readonly partitionKey: string,
    readonly rowKey: string,
  ) {
    super(`Entity ${table}/${partitionKey}/${rowKey} was changed by someone else (ETag mismatch)`);
  }
}

/** An insert found the entity already there. */
export class EntityExistsError extends ZtpError {
  constructor(
    readonly table: string,
    readonly partitionKey: string,
    readonly rowKey: string,
  ) {
    super(`Entity ${table}/${partitionKey}/${rowKey} already exists`);
  }
}

/** A transition the lifecycle does not allow: a late or repeated message would move a device backwards. */
export class IllegalTransitionError extends ZtpError {
  constructor(
    readonly serialNumber: string,
    readonly from: string | undefined,
    readonly to: string,
  ) {
    super(`Device ${serialNumber} cannot go from ${from ?? '(new)'} to ${to}`);
  }
}

/** Table Storage refused a write because a value or the entity is too large (it holds 64 KiB per property, 1 MiB per entity). */
export class StorageRefusedError extends ZtpError {
  constructor(
    readonly table: string,
    readonly code: string,
  ) {
    super(`Table ${table} refused the write: ${code}`);
  }
}

/** Two reads of one ETag-pinned blob disagreed: the blob changed under a pinned read, which storage rules out. */
export class IntakeInconsistencyError extends ZtpError {}

/** A Graph request got no answer in time, or its connection failed; the adapter reports it as a transient result. */
export class GraphTransportError extends ZtpError {
  constructor(
    readonly failure: 'timeout' | 'network',
    message: string,
  ) {
    super(message);
  }
}

/** Something the app waited on did not answer in time (start-up, a health check). */
export class TimeoutError extends ZtpError {}

/** The app could not use its storage account at start: the account refused its credential or key, or did not answer. */
export class StorageAccessError extends ZtpError {}
