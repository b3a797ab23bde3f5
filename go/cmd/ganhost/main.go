// Command ganhost hosts a GAN exported as a TensorFlow SavedModel: it generates images and keeps
// training the model through the SavedModel's signatures, saving each state as a new version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// subcommands in the order `ganhost -help` lists them.
var subcommands = []struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}{
	{"serve", "serve generation, training and versions over HTTP (TF Serving compatible)", runServe},
	{"generate", "write a PNG grid of generated images", runGenerate},
	{"train", "train the served model on a dataset and optionally save a new version", runTrain},
	{"healthcheck", "exit 0 when a ganhost server answers /healthz (for container health checks)", runHealthcheck},
}

func main() {
	// The TF C library logs every graph optimisation pass at INFO; keep warnings and errors.
	if os.Getenv("TF_CPP_MIN_LOG_LEVEL") == "" {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "2")
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 on success, 2 for usage
// errors, 1 for anything else.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, sc := range subcommands {
		if sc.name != args[0] {
			continue
		}
		err := sc.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "ganhost %s: %v\n", sc.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "ganhost %s: %v\n", sc.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "ganhost: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ganhost <command> [flags]\n\nCommands:")
	for _, sc := range subcommands {
		fmt.Fprintf(w, "  %-10s %s\n", sc.name, sc.summary)
	}
	fmt.Fprintln(w, "\nRun 'ganhost <command> -help' for a command's flags.")
}

// usageError marks a bad flag or argument (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ganhost "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	return nil
}
