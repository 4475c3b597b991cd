import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { batchIdOf } from '../../../shared/domain/batch.js';

const content = createHash('sha256').update('Device Serial Number,Windows Product ID,Hardware Hash\r\n').digest('hex');

describe('batchIdOf', () => {
  it('is 32 hexadecimal digits, the same for the same supplier and content', () => {
    expect(batchIdOf('contoso', content)).toMatch(/^[0-9a-f]{32}$/);
    expect(batchIdOf('contoso', content)).toBe(batchIdOf('contoso', content));
  });

  it('differs for the same content from another supplier, and for other content from the same one', () => {
    const other = createHash('sha256').update('other bytes').digest('hex');
    expect(batchIdOf('fabrikam', content)).not.toBe(batchIdOf('contoso', content));
    expect(batchIdOf('contoso', other)).not.toBe(batchIdOf('contoso', content));
  });

  it('is not the content hash itself', () => {
    expect(content.startsWith(batchIdOf('contoso', content))).toBe(false);
  });
});
