/** The files bundle.ts embeds: path under the kvr root -> text. */
declare module 'kvr-embedded-files' {
  const files: Record<string, string>;
  export default files;
}
