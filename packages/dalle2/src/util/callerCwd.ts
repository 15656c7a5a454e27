// Where relative paths on a command line resolve. `pnpm <script>` runs scripts in the package root and
// passes the caller's directory as INIT_CWD; but every process started under any pnpm script inherits
// INIT_CWD too, so it counts only when this very script is what pnpm ran.
export function callerCwd(script: string): string {
  const init = process.env.INIT_CWD;
  return init && process.env.npm_lifecycle_event === script ? init : process.cwd();
}
