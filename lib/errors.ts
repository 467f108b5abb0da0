import Type from 'typebox';

/** The one error shape of the API: the HTTP status, a stable machine-readable code, and plain words. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    error: Type.String({ description: 'stable machine-readable code', examples: ['invalid_request'] }),
    message: Type.String({ examples: ['body/code must be string'] }),
  },
  { $id: 'ErrorBody', title: 'Error' },
);

/** An error a route or hook throws to answer with a given status and code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Headers the reply must carry (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const defaultCodes: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  411: 'length_required',
  413: 'body_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  431: 'headers_too_large',
};

/** Fastify's own error codes that deserve a clearer code of ours. */
const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
  FST_ERR_VALIDATION: 'invalid_request',
};

export function errorCodeFor(statusCode: number, fastifyCode?: string): string {
  return (fastifyCode && fastifyCodes[fastifyCode]) ?? defaultCodes[statusCode] ?? (statusCode >= 500 ? 'internal_error' : 'client_error');
}
