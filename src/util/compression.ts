/** How a trace file's name says it is compressed (`.gz`: gzip, `.zst`: zstd). */
export function compressionOf(file: string): 'gzip' | 'zstd' | 'none' {
  if (/\.gz$/i.test(file)) return 'gzip';
  if (/\.zst$/i.test(file)) return 'zstd';
  return 'none';
}
