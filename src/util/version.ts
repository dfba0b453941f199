/** chainwatch's version (package.json), stamped into traces and findings. */
export const VERSION = '0.1.0';
