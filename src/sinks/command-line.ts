/** A command line as one string, each argument quoted for a POSIX shell where it needs it (as Python's shlex.join): what an analyst can read and paste. */
export function commandLine(args: readonly string[] | undefined, truncated?: boolean): string | undefined {
  if (args === undefined) return undefined;
  const line = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`)).join(' ');
  return truncated === true ? `${line} …` : line;
}
