// Package handoff passes a running Herald's listening sockets to a new
// process (a binary upgrade without dropping connections, as nginx does on
// SIGUSR2) and runs the two-step handshake between them:
//
//  1. The old process starts the new binary with its listening sockets
//     inherited (Start). The new process takes them (FromEnv), builds its
//     server and says it is ready (Parent.Ready), but does not accept yet.
//  2. The old process stops accepting and tells the new one to go, with
//     the newest Unix second its message ids used (Child.Go). The new
//     process numbers its messages after that second (so a subscriber that
//     resumes on it with an id from the old process misses nothing) and
//     starts accepting. Connections that arrive in between wait in the
//     socket's backlog: none is refused.
//
// The old process then closes its subscribers over a spread-out period and
// exits. Socket inheritance needs a Unix system; elsewhere Start says so.
package handoff

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// env is the variable a new process finds its inheritance in.
const env = "HERALD_HANDOFF"

// inheritance is what a new process inherits, as descriptor numbers.
type inheritance struct {
	Listeners map[string]int `json:"listeners"` // configured listen address → fd
	Ready     int            `json:"ready"`     // written "ready\n" by the new process
	Go        int            `json:"go"`        // written "go <second>\n" by the old process
}

// ErrUnsupported is returned where sockets cannot be inherited.
var ErrUnsupported = errors.New("binary upgrade needs a Unix system")

// Child is a new process started by Start.
type Child struct {
	cmd   *exec.Cmd
	ready *os.File // read end
	gow   *os.File // write end
	exit  chan error
}

// Start starts the running executable again with the same arguments, its
// standard output and error going to stdout and stderr, inheriting the
// listening sockets in files (by configured listen address).
func Start(files map[string]*os.File, stdout, stderr io.Writer) (*Child, error) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil, ErrUnsupported
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("handoff: find the executable: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, fmt.Errorf("handoff: %w", err)
	}
	in := inheritance{Listeners: map[string]int{}}
	var extra []*os.File
	for addr, f := range files {
		in.Listeners[addr] = 3 + len(extra)
		extra = append(extra, f)
	}
	in.Ready, in.Go = 3+len(extra), 4+len(extra)
	extra = append(extra, readyW, goR)
	desc, _ := json.Marshal(in)
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(withoutEnv(os.Environ()), env+"="+string(desc))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = extra
	err = cmd.Start()
	readyW.Close() // the child holds its own copies
	goR.Close()
	if err != nil {
		readyR.Close()
		goW.Close()
		return nil, fmt.Errorf("handoff: start %s: %w", exe, err)
	}
	c := &Child{cmd: cmd, ready: readyR, gow: goW, exit: make(chan error, 1)}
	go func() { c.exit <- cmd.Wait() }()
	return c, nil
}

// Pid returns the new process's id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// WaitReady waits until the new process is ready to accept, has exited, or
// ctx ends.
func (c *Child) WaitReady(ctx context.Context) error {
	got := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(c.ready).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected %q", line)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			select {
			case werr := <-c.exit:
				return fmt.Errorf("handoff: the new process exited before it was ready: %v", werr)
			case <-time.After(time.Second):
			}
			return fmt.Errorf("handoff: the new process did not say it was ready: %w", err)
		}
		return nil
	case err := <-c.exit:
		return fmt.Errorf("handoff: the new process exited before it was ready: %v", err)
	case <-ctx.Done():
		return fmt.Errorf("handoff: the new process was not ready in time: %w", ctx.Err())
	}
}

// Go tells the new process to start accepting, numbering its messages
// after Unix second idsAfter.
func (c *Child) Go(idsAfter int64) error {
	_, err := fmt.Fprintf(c.gow, "go %d\n", idsAfter)
	c.gow.Close()
	c.ready.Close()
	if err != nil {
		return fmt.Errorf("handoff: tell the new process to go: %w", err)
	}
	return nil
}

// Abandon stops a new process that will not take over.
func (c *Child) Abandon() {
	c.cmd.Process.Kill()
	c.gow.Close()
	c.ready.Close()
}

// Parent is the old process, seen from the new one.
type Parent struct {
	ready *os.File
	gor   *os.File
}

// FromEnv returns the listeners this process inherited, by configured
// listen address, and its parent; nil and nil when it was not started by
// Start.
func FromEnv() (map[string]net.Listener, *Parent, error) {
	desc, ok := os.LookupEnv(env)
	if !ok {
		return nil, nil, nil
	}
	os.Unsetenv(env) // not for this process's own children
	var in inheritance
	if err := json.Unmarshal([]byte(desc), &in); err != nil {
		return nil, nil, fmt.Errorf("handoff: %s: %w", env, err)
	}
	lns := map[string]net.Listener{}
	for addr, fd := range in.Listeners {
		f := os.NewFile(uintptr(fd), "listener "+addr)
		if f == nil {
			return nil, nil, fmt.Errorf("handoff: listener %s: no descriptor %d", addr, fd)
		}
		ln, err := net.FileListener(f)
		f.Close() // FileListener holds its own copy
		if err != nil {
			return nil, nil, fmt.Errorf("handoff: listener %s: %w", addr, err)
		}
		lns[addr] = ln
	}
	p := &Parent{ready: os.NewFile(uintptr(in.Ready), "handoff ready"), gor: os.NewFile(uintptr(in.Go), "handoff go")}
	if p.ready == nil || p.gor == nil {
		return nil, nil, errors.New("handoff: no handshake descriptors")
	}
	return lns, p, nil
}

// Ready tells the old process this one is ready, and waits until the old
// one stopped accepting. It returns the Unix second the old process's
// message ids reached; if the old process is gone without saying (it was
// killed), ctx's end or a closed pipe returns the current second.
func (p *Parent) Ready(ctx context.Context) (int64, error) {
	defer p.gor.Close()
	_, err := p.ready.WriteString("ready\n")
	p.ready.Close()
	if err != nil {
		return time.Now().Unix(), fmt.Errorf("handoff: say ready: %w", err)
	}
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(p.gor).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		sec, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "go ")), 10, 64)
		if err != nil || !strings.HasPrefix(line, "go ") {
			return time.Now().Unix(), fmt.Errorf("handoff: the old process did not say go (%q)", line)
		}
		return sec, nil
	case <-ctx.Done():
		return time.Now().Unix(), fmt.Errorf("handoff: no word from the old process: %w", ctx.Err())
	}
}

func withoutEnv(environ []string) []string {
	out := environ[:0:0]
	for _, kv := range environ {
		if !strings.HasPrefix(kv, env+"=") {
			out = append(out, kv)
		}
	}
	return out
}
