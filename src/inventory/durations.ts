import { z } from 'zod';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** Days, hours, minutes and seconds in that order, each at most once: `7d`, `24h`, `1h30m`, `90s`. */
const DURATION_PATTERN = /^(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;
const EXPECTED = 'expected a duration such as "15m", "24h" or "7d"';

/** Text that matched DURATION_PATTERN, read digit by digit: a fleet's inventory holds 40,000 durations. */
function toMilliseconds(text: string): number {
  let total = 0;
  let amount = 0;
  for (let index = 0; index < text.length; index += 1) {
    const digit = text.charCodeAt(index) - 48;
    if (digit >= 0 && digit <= 9) amount = amount * 10 + digit;
    else {
      total += amount * UNIT_MS[text[index] as keyof typeof UNIT_MS];
      amount = 0;
    }
  }
  return total;
}

const durationText = z.string({ error: EXPECTED }).regex(DURATION_PATTERN, EXPECTED);

function inMilliseconds(text: typeof durationText) {
  return text.transform(toMilliseconds).refine(Number.isSafeInteger, 'expected a shorter duration');
}

/** A human duration, normalised to milliseconds: where "none" makes sense (overlap, jitter), `0` and `0s` are accepted. */
export const duration = z.union([z.literal(0), inMilliseconds(durationText)], { error: EXPECTED });

/** A duration where zero makes no sense, such as how often to rotate. */
export const positiveDuration = inMilliseconds(
  durationText.refine(
    // Text that is no duration at all has been reported already.
    (text) => !DURATION_PATTERN.test(text) || /[1-9]/.test(text),
    'expected a duration longer than 0',
  ),
);
