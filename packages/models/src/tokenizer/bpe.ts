// Byte-pair encoding of one pre-token, as CLIP's `SimpleTokenizer.bpe`.

/** End-of-word marker glued to a word's last symbol. */
export const END_OF_WORD = '</w>';

/** Merge ranks keyed by `first + ' ' + second` (symbols never contain a space: bytes are mapped). */
export type MergeRanks = ReadonlyMap<string, number>;

/**
 * Splits a byte-encoded token into vocabulary symbols: start from single characters (the last
 * one carrying `</w>`), then repeatedly merge every occurrence of the lowest-ranked adjacent
 * pair, left to right, until no pair has a rank.
 */
export function bytePairEncode(token: string, ranks: MergeRanks): string[] {
  if (token.length === 0) return [];
  let word = Array.from(token);
  word[word.length - 1] += END_OF_WORD;
  while (word.length > 1) {
    const best = lowestRankedPair(word, ranks);
    if (best === undefined) break;
    word = mergePair(word, best[0], best[1]);
  }
  return word;
}

function lowestRankedPair(word: readonly string[], ranks: MergeRanks): [string, string] | undefined {
  let best: [string, string] | undefined;
  let bestRank = Infinity;
  for (let i = 0; i + 1 < word.length; i++) {
    const rank = ranks.get(`${word[i]} ${word[i + 1]}`);
    if (rank !== undefined && rank < bestRank) {
      bestRank = rank;
      best = [word[i], word[i + 1]];
    }
  }
  return best;
}

/** Non-overlapping left-to-right merge: `a a a` with (a, a) gives `aa a`. */
function mergePair(word: readonly string[], first: string, second: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < word.length; i++) {
    if (word[i] === first && i + 1 < word.length && word[i + 1] === second) {
      out.push(first + second);
      i++;
    } else {
      out.push(word[i]);
    }
  }
  return out;
}
