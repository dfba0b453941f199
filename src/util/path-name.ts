/** One name within a directory: not empty, not `.` or `..`, no slash. */
export function isOneName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/');
}

/** `name` in the absolute directory `dir` (the root keeps its single slash). */
export function inDir(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}
