import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';

/** The few HTML pages Folio serves itself (the LTI pages): escaping, content negotiation, and inline code a CSP allows by hash. */

/** Text safe in HTML content and in a quoted attribute. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Whether the caller prefers JSON to HTML (a script, a test); a browser's navigation asks for text/html first. */
export function prefersJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  const json = accept.indexOf('application/json');
  if (json < 0) return false;
  const html = accept.indexOf('text/html');
  return html < 0 || json < html;
}

/** A CSP source allowing exactly this inline `<script>` or `<style>` text (CSP Level 2 hash source), so no 'unsafe-inline' is needed. */
export const cspHash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
