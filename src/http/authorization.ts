/**
 * The credentials of an `Authorization` header in `scheme` (`bearer` or `basic`), or undefined when
 * it has none or another scheme. The scheme is matched without regard to case (RFC 7235 §2.1:
 * `bearer abc` is `Bearer abc`); the credentials are returned as sent.
 */
export function credentialsOf(
  header: string | undefined,
  scheme: 'bearer' | 'basic',
): string | undefined {
  const match = /^\s*([A-Za-z]+)[ \t]+(\S+)\s*$/.exec(header ?? '');
  return match && match[1]!.toLowerCase() === scheme ? match[2] : undefined;
}
