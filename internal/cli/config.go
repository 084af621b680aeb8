package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// EnvName is the environment variable that sets flag for prog: the
// program's name and the flag's, upper case, dashes as underscores
// (hubd --public-url: HUBD_PUBLIC_URL; bnsd --log-format: BNSD_LOG_FORMAT).
func EnvName(prog, flag string) string {
	return strings.ToUpper(prog + "_" + strings.ReplaceAll(flag, "-", "_"))
}

// envAnnotation marks a root command whose flags [Run] takes from the
// environment; its value says which ones.
const envAnnotation = "cli-env"

// FlagsFromEnv makes [Run] set each flag of the command it runs from its
// environment variable ([EnvName]) when the command line does not give
// it: a flag beats the environment, which beats a config file and the
// default (the rule of every program, docs/operators.md). With global,
// only root's persistent flags are (parley's: the variables it sets for
// a watch's --exec command must not turn into flags of a parley that
// command runs).
func FlagsFromEnv(root *cobra.Command, global bool) {
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[envAnnotation] = map[bool]string{true: "global", false: "all"}[global]
}

// fromEnv sets the flags of the command args name from the environment,
// as [FlagsFromEnv] asked. It runs before cobra parses args, so that a
// flag given on the command line is set again over the environment's
// value, and a required flag may come from the environment. A value the
// flag does not take is a usage error naming the variable.
func fromEnv(root *cobra.Command, prog string, args []string) error {
	which, ok := root.Annotations[envAnnotation]
	if !ok {
		return nil
	}
	flags := root.PersistentFlags()
	if which == "all" {
		cmd, _, err := root.Find(args)
		if err != nil {
			return nil // cobra says what is wrong with args
		}
		cmd.InheritedFlags() // merges the persistent flags into cmd.Flags()
		flags = cmd.Flags()
	}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == "help" || f.Name == "version" {
			return
		}
		name := EnvName(prog, f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if e := flags.Set(f.Name, v); e != nil {
			err = Usage(fmt.Errorf("%s=%q: %v", name, v, e))
		}
	})
	return err
}

// LogFormats are the formats [NewLogger] writes.
const LogFormats = `"json" (one object a line), "text" (key=value) or "auto" (text on a terminal, json otherwise)`

// NewLogger is the programs' one kind of log: slog records on w (standard
// error), as JSON objects (format "json"), key=value text ("text"), or
// text on a terminal and JSON otherwise ("auto" or ""), from level up.
// An unknown format is a usage error.
func NewLogger(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	o := &slog.HandlerOptions{Level: level}
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	}
	return nil, Usage(fmt.Errorf("--log-format %q: want json, text or auto", format))
}

// ParseLevel reads a log level (debug, info, warn or error, any case),
// a usage error naming --log-level otherwise.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, Usage(fmt.Errorf("--log-level %q: want debug, info, warn or error", s))
	}
	return l, nil
}
