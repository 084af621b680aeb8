package node

import (
	"context"
	"fmt"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// CometLogger adapts l to CometBFT's logger, so that a node's CometBFT
// logs and its application's are one slog stream. CometBFT's key-value
// pairs become attributes ("module" among them, which CometBFT's
// per-module level filter reads before a record reaches l); each record
// is logged at l's level for it, so l's handler decides what is shown.
func CometLogger(l *slog.Logger) cmtlog.Logger { return cometLogger{l} }

type cometLogger struct{ l *slog.Logger }

func (c cometLogger) Debug(msg string, kv ...any) { c.log(slog.LevelDebug, msg, kv) }
func (c cometLogger) Info(msg string, kv ...any)  { c.log(slog.LevelInfo, msg, kv) }
func (c cometLogger) Error(msg string, kv ...any) { c.log(slog.LevelError, msg, kv) }

func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{c.l.With(attrs(kv)...)}
}

func (c cometLogger) log(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if c.l.Enabled(ctx, level) {
		c.l.Log(ctx, level, msg, attrs(kv)...)
	}
}

// attrs turns CometBFT's alternating keys and values into slog attributes;
// a key that is not a string is printed as one, a missing value is
// "(MISSING)" as in CometBFT's own loggers.
func attrs(kv []any) []any {
	out := make([]any, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		var v any = "(MISSING)"
		if i+1 < len(kv) {
			v = kv[i+1]
			if s, ok := v.(fmt.Stringer); ok {
				v = stringer{s}
			}
		}
		out = append(out, slog.Any(key, v))
	}
	return out
}

// stringer defers String to when a handler prints the value (CometBFT
// passes block IDs, peers and the like that way).
type stringer struct{ s fmt.Stringer }

func (s stringer) LogValue() slog.Value { return slog.StringValue(s.s.String()) }
