package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/heraldpush/herald/internal/config"
)

// reloadCmd signals the server whose process id is in a pid file to
// re-read its configuration, as `nginx -s reload` does.
func reloadCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "the server's configuration file: its pid_file names the process")
	fs.StringVar(file, "config", "", "same as -c")
	pidFile := fs.String("pid-file", "", "the server's pid file (instead of -c)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "herald reload: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if *pidFile == "" {
		if *file == "" {
			fmt.Fprintln(stderr, "herald reload: give -c FILE (whose pid_file names the server) or --pid-file FILE")
			return ExitUsage
		}
		cfg, err := config.Load(*file)
		if err != nil {
			// The server would refuse it too: say so before signalling.
			fmt.Fprintf(stderr, "herald reload: %v\n", err)
			return ExitUsage
		}
		if cfg.PIDFile == "" {
			fmt.Fprintf(stderr, "herald reload: %s sets no pid_file; give --pid-file FILE\n", *file)
			return ExitUsage
		}
		*pidFile = cfg.PIDFile
	}
	pid, err := readPIDFile(*pidFile)
	if err != nil {
		fmt.Fprintf(stderr, "herald reload: %v\n", err)
		return ExitFailure
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.SIGHUP)
	}
	if err != nil {
		fmt.Fprintf(stderr, "herald reload: signal process %d: %v\n", pid, err)
		return ExitFailure
	}
	fmt.Fprintf(stdout, "reload requested (process %d); the server logs whether it took the configuration\n", pid)
	return ExitOK
}

// writePIDFile writes this process's id to path, replacing the file whole
// so a reader never sees half of it.
func writePIDFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".herald-pid-*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	_, err = tmp.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// removePIDFile removes path if it still names this process (a newer
// server may have written its own).
func removePIDFile(path string) {
	if pid, err := readPIDFile(path); err == nil && pid == os.Getpid() {
		os.Remove(path)
	}
}

// readPIDFile reads a process id written by writePIDFile.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errors.New("pid file " + path + ": no process id in it")
	}
	return pid, nil
}
