import picomatch from 'picomatch';
import { z } from 'zod';

/** A path glob: absolute ("/etc/shadow") or any-depth (starting with two stars and a slash), and one picomatch can compile. */
export const PathGlob = z
  .string()
  .min(1)
  .refine((g) => g.startsWith('/') || g.startsWith('**/'), { message: 'expected an absolute glob (/…) or an any-depth glob (**/…)' })
  .refine(
    (g) => {
      try {
        picomatch.makeRe(g, { dot: true, strictBrackets: true });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'not a valid glob' },
  );

export const DataClass = z
  .object({
    /** Why objects of this class are sensitive: shown in findings and reviews. */
    why: z.string().min(1),
    paths: z.array(PathGlob).min(1),
    /** Paths matched by `paths` that are not of this class after all (public certificate bundles under *.pem, say). */
    except: z.array(PathGlob).optional(),
    /**
     * A server reads objects of this class to serve (its own TLS key): data it
     * sends on connections it accepted does not count as this class leaving,
     * except in the tasks named in `sensitive_for_tasks` (globs). Sending it
     * on a connection the process opened still does.
     */
    read_to_serve: z.boolean().optional(),
    sensitive_for_tasks: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const DataClassFile = z
  .object({
    version: z.literal(1),
    classes: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase class name like secret or user-data'), DataClass),
  })
  .strict();
export type DataClassFile = z.infer<typeof DataClassFile>;
