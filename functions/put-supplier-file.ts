import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { putSupplierFile as receive } from '../shared/http/supplier-files.js';
import { runtime } from '../shared/runtime.js';

// HTTP streams, for the whole app (the setting is app-wide, so it is set once, here): a body
// reaches its handler as it arrives instead of whole in memory, which an upload of hundreds of
// MB needs. Requires Functions host 4.28 or later. Every HTTP function reads its body as a stream.
app.setup({ enableHttpStream: true });

/**
 * PUT /api/suppliers/{supplierId}/files/{fileName}: a supplier's hash file, streamed into its
 * intake folder; answers 202 with the batch id and the validation the intake will apply.
 * Anonymous at the Functions level on purpose: the supplier's own upload key is the
 * authentication (a function key would be one shared secret for every supplier, and name none).
 */
export async function putSupplierFile(request: HttpRequest): Promise<HttpResponseInit> {
  return receive((await runtime()).supplierFilesDeps(), request);
}

export const putSupplierFileOptions: HttpFunctionOptions = {
  methods: ['PUT'],
  route: 'suppliers/{supplierId}/files/{fileName}',
  authLevel: 'anonymous',
  handler: putSupplierFile,
};

app.http('putSupplierFile', putSupplierFileOptions);
