/**
 * Every bound on a stored value, in one place, beside Table Storage's own: a value the product
 * stores is checked against these before it is stored, so the storage never refuses a row
 * (and one bad row never takes its file down).
 */

/** Table Storage: a string property holds 64 KiB, i.e. 32K UTF-16 code units; an entity 1 MiB. */
export const TABLE_PROPERTY_MAX_CHARS = 32 * 1024;
export const TABLE_ENTITY_MAX_BYTES = 1024 * 1024;

/** The product's contract (product.md, row validation rules). */
export const MAX_SERIAL_LENGTH = 128;
export const MAX_PRODUCT_KEY_LENGTH = 64;
export const MAX_GROUP_TAG_LENGTH = 128;
export const MAX_UPN_LENGTH = 256;

/**
 * A hardware hash is roughly 4 KB of base64 (graph-autopilot.md); four times that leaves room
 * for unusual hardware and stays well inside one property.
 */
export const MAX_HARDWARE_HASH_LENGTH = 16 * 1024;

/** Manufacturer and model are for people: longer values are dropped with a warning, not stored. */
export const MAX_INFORMATIONAL_LENGTH = 256;
