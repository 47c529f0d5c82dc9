// The FUSE bindings a mount can use, by name: kept apart from mount.ts so the CLI can check a
// --binding flag without loading either binding.

/** `kernel`: /dev/fuse spoken directly (src/fuse/kernel); `libfuse`: @cocalc/fuse-native. */
export type BindingName = 'kernel' | 'libfuse';
export const BINDING_NAMES: readonly BindingName[] = ['kernel', 'libfuse'];
/** The binding when neither the caller nor QUORUMFS_FUSE_BINDING chooses one (kernel needs root; without it the libfuse one is used). */
export const DEFAULT_BINDING: BindingName = 'kernel';

/** A binding name from user input (flag or environment); throws a one-line error for others. */
export function parseBindingName(raw: string, from = '--binding'): BindingName {
  if ((BINDING_NAMES as readonly string[]).includes(raw)) return raw as BindingName;
  throw new Error(`${from} must be one of ${BINDING_NAMES.join(', ')}, got "${raw}"`);
}
