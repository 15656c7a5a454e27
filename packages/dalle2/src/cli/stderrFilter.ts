// Drops Dawn's two adapter-enumeration warnings from a text stream, passing everything else through
// at once (progress redraws have no newline, so nothing waits for one unless it may be such a line).
const DAWN_LINE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

export interface TextFilter {
  write(chunk: string): void;
  /** Flushes a held partial line. */
  end(): void;
}

export function dawnNoiseFilter(out: (s: string) => void): TextFilter {
  let held = '';
  return {
    write(chunk: string) {
      let text = held + chunk;
      held = '';
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        const line = text.slice(0, nl);
        if (!DAWN_LINE.test(line)) out(`${line}\n`);
        text = text.slice(nl + 1);
      }
      // a partial line that may still become a Dawn line waits for its end
      if (text.length > 0 && (PREFIX.startsWith(text) || text.startsWith(PREFIX))) held = text;
      else if (text.length > 0) out(text);
    },
    end() {
      if (held) out(held);
      held = '';
    },
  };
}
