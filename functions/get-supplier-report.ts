import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { getSupplierReport as report } from '../shared/http/supplier-files.js';
import { runtime } from '../shared/runtime.js';

/**
 * GET /api/suppliers/{supplierId}/files/{fileName}/report: the file's current report (CSV),
 * streamed; 404 until the intake has written one. Anonymous at the Functions level: the
 * supplier's upload key is the authentication, as for the upload.
 */
export async function getSupplierReport(request: HttpRequest): Promise<HttpResponseInit> {
  return report((await runtime()).supplierFilesDeps(), request);
}

export const getSupplierReportOptions: HttpFunctionOptions = {
  methods: ['GET'],
  route: 'suppliers/{supplierId}/files/{fileName}/report',
  authLevel: 'anonymous',
  handler: getSupplierReport,
};

app.http('getSupplierReport', getSupplierReportOptions);
