/**
 * A file that could not be read, in words with the code kept for searching (`no such file
 * (ENOENT)`), for every command that reads a file it was given (serve's TLS files, a client's
 * --tls-ca), rather than a bare errno.
 */

/** What a file error's code means, in words. */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

/** `no such file (ENOENT)`; the error's message for a code not listed, the error itself for one without a code. */
export function fileErrorText(error: unknown): string {
  const errno = (error as NodeJS.ErrnoException).code;
  if (errno === undefined) return String(error);
  return `${FILE_ERRORS[errno] ?? (error as Error).message} (${errno})`;
}
