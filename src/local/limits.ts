/** Limits the local authority applies to what callers send. */

/** Control characters have no place in identifiers: they forge log lines and blur scopes. */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
