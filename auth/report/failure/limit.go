package failure

import "time"

// limiter holds the per-destination rate limit (RFC 9991 §2 "rate
// limiting"; §5.1 lets a receiver limit reports to any recipient) and the
// merge of like incidents (§2: the aim is to report different failure
// paths, not every failure). Both maps are bounded: a full rate map
// refuses new destinations (never more mail), a full incident map forgets
// (at worst one more report, still rate-limited). Not safe for concurrent
// use: the Sender's worker owns it.
type limiter struct {
	rate    int           // reports per destination per window
	window  time.Duration // the rate's window
	merge   time.Duration // like incidents within this are one
	maxKeys int

	dest map[string]bucket
	seen map[string]time.Time // incident key → first report
}

type bucket struct {
	start time.Time
	n     int
}

func newLimiter(rate int, window, merge time.Duration, maxKeys int) *limiter {
	return &limiter{rate: rate, window: window, merge: merge, maxKeys: maxKeys,
		dest: map[string]bucket{}, seen: map[string]time.Time{}}
}

// duplicate says whether an incident like key was reported within the
// merge window; if not, it is remembered from now on.
func (l *limiter) duplicate(key string, now time.Time) bool {
	if t, ok := l.seen[key]; ok && now.Sub(t) < l.merge && !now.Before(t) {
		return true
	}
	if len(l.seen) >= l.maxKeys {
		for k, t := range l.seen {
			if now.Sub(t) >= l.merge || now.Before(t) {
				delete(l.seen, k)
			}
		}
		if len(l.seen) >= l.maxKeys {
			clear(l.seen)
		}
	}
	l.seen[key] = now
	return false
}

// allow takes one report from dest's allowance in the current window.
func (l *limiter) allow(dest string, now time.Time) bool {
	b, ok := l.dest[dest]
	if !ok || now.Sub(b.start) >= l.window || now.Before(b.start) {
		if !ok && len(l.dest) >= l.maxKeys {
			for k, v := range l.dest {
				if now.Sub(v.start) >= l.window || now.Before(v.start) {
					delete(l.dest, k)
				}
			}
			if len(l.dest) >= l.maxKeys {
				return false
			}
		}
		b = bucket{start: now}
	}
	if b.n >= l.rate {
		return false
	}
	b.n++
	l.dest[dest] = b
	return true
}
