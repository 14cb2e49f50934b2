// Package redistest runs real redis-server processes for tests: single
// servers and Redis Clusters, on free loopback ports, owned by the test that
// starts them and killed when it ends. A test fails, saying what to
// install, when redis-server is not installed, and skips when the
// developer opted out of the Redis tests (HERALD_TEST_SKIP=redis, see
// internal/testenv).
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// Binary returns the path of redis-server, or "" when it is not installed.
func Binary() string {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return p
}

// Require ends the test when redis-server (or redis-cli, when cli is
// set) is not installed: it fails, saying what to install, unless the
// developer opted out of the Redis tests, when it skips (testenv.Missing).
// Opted out, it skips whatever is installed.
func Require(t testing.TB, cli bool) {
	t.Helper()
	testenv.SkipIfOptedOut(t, "redis")
	if Binary() == "" {
		testenv.Missing(t, "redis", "redis-server is not installed (apt-get install -y redis-server)")
	}
	if cli {
		if _, err := exec.LookPath("redis-cli"); err != nil {
			testenv.Missing(t, "redis", "redis-cli is not installed (apt-get install -y redis-server installs it)")
		}
	}
}

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	Port int
	Addr string // 127.0.0.1:port
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a redis-server with no persistence on a free loopback port;
// extra arguments are added to its command line. It is killed when the test
// ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	Require(t, false)
	dir := t.TempDir()
	var lastErr error
	for range 5 {
		port := freePort(t, false)
		s := &Server{t: t, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
		s.args = append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--protected-mode", "no", "--daemonize", "no",
			"--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
			"--repl-diskless-sync-delay", "0",
		}, extra...)
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

func (s *Server) start() error {
	cmd := exec.Command(Binary(), s.args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s", s.Port, s.logTail())
		default:
		}
		if r, err := s.Do("PING"); err == nil && r == "+PONG" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server on port %d did not answer: %s", s.Port, s.logTail())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.Port)))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Kill kills the process (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port (after Kill). Without
// persistence it comes back empty, as a crashed Redis does.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

// Running reports whether the process runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Do sends one command and returns its reply, in RESP: "+OK", ":1",
// "$<bulk text>", "-ERR ...". Arrays are flattened to their elements' text,
// one per line.
func (s *Server) Do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "$", nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(r, buf); err != nil {
			return "", err
		}
		return "$" + string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		var parts []string
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, strings.TrimPrefix(p, "$"))
		}
		return strings.Join(parts, "\n"), nil
	}
	return line, nil
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// MustDo is Do that fails the test on an error or an error reply.
func (s *Server) MustDo(args ...string) string {
	s.t.Helper()
	r, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redis %v on %s: %v", args, s.Addr, err)
	}
	if strings.HasPrefix(r, "-") {
		s.t.Fatalf("redis %v on %s: %s", args, s.Addr, r)
	}
	return r
}

var portMu sync.Mutex

// freePort returns a loopback port that is free now (and, for cluster
// nodes, whose bus port +10000 is free too). Ports stay below Linux's
// ephemeral range (32768 and up), where outgoing connections could take
// them before the server binds.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := 10000 + rand.IntN(22000)
		if bus {
			p = 12000 + rand.IntN(10000)
		}
		if !portFree(p) || (bus && !portFree(p+10000)) {
			continue
		}
		return p
	}
	t.Fatal("no free port")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Cluster is a Redis Cluster of masters with replicas.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster creates a cluster of masters masters with replicas replicas
// each (redis-cli --cluster create), with a 1 s node timeout so failovers
// are quick, and waits until every node reports cluster_state:ok and every
// replica is in sync.
func StartCluster(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	Require(t, true)
	c := &Cluster{t: t}
	dir := t.TempDir()
	n := masters * (1 + replicas)
	for i := range n {
		var s *Server
		var lastErr error
		for range 5 {
			port := freePort(t, true)
			s = &Server{t: t, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
			s.args = []string{
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
				"--dir", dir, "--protected-mode", "no", "--daemonize", "no",
				"--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
				"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d-%d.conf", i, port),
				"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
				"--cluster-require-full-coverage", "no", "--cluster-allow-replica-migration", "no",
				"--repl-diskless-sync-delay", "0",
			}
			if lastErr = s.start(); lastErr == nil {
				break
			}
			s = nil
		}
		if s == nil {
			t.Fatalf("cluster node did not start: %v", lastErr)
		}
		t.Cleanup(s.Kill)
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, s := range c.Nodes {
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs returns every node's address (seeds for a cluster client).
func (c *Cluster) Addrs() []string {
	var a []string
	for _, s := range c.Nodes {
		a = append(a, s.Addr)
	}
	return a
}

// node is a line of CLUSTER NODES.
type node struct {
	id, addr, flags, master string
	slots                   []string
}

// nodesView returns CLUSTER NODES as seen by s.
func (c *Cluster) nodesView(s *Server) ([]node, error) {
	r, err := s.Do("CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r, "-") {
		return nil, fmt.Errorf("%s", r)
	}
	var out []node
	for line := range strings.SplitSeq(strings.TrimPrefix(r, "$"), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		out = append(out, node{id: f[0], addr: addr, flags: f[2], master: f[3], slots: f[8:]})
	}
	return out, nil
}

func (c *Cluster) server(addr string) *Server {
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// Masters returns the running masters that serve slots (as the first
// running node sees them; a node still joining as a replica may call
// itself a master for a moment, with no slots).
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		view, err := c.nodesView(s)
		if err != nil {
			continue
		}
		var out []*Server
		for _, n := range view {
			if strings.Contains(n.flags, "master") && !strings.Contains(n.flags, "fail") && len(n.slots) > 0 {
				if srv := c.server(n.addr); srv != nil && srv.Running() {
					out = append(out, srv)
				}
			}
		}
		return out
	}
	return nil
}

// ReplicaOf returns a running replica of master.
func (c *Cluster) ReplicaOf(master *Server) *Server {
	c.t.Helper()
	view, err := c.nodesView(master)
	if err != nil {
		c.t.Fatalf("cluster nodes: %v", err)
	}
	var id string
	for _, n := range view {
		if n.addr == master.Addr {
			id = n.id
		}
	}
	for _, n := range view {
		if n.master == id && strings.Contains(n.flags, "slave") {
			if srv := c.server(n.addr); srv != nil && srv.Running() {
				return srv
			}
		}
	}
	c.t.Fatalf("master %s has no running replica", master.Addr)
	return nil
}

// MasterFor returns the master serving key's slot.
func (c *Cluster) MasterFor(key string) *Server {
	c.t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		r, err := s.Do("CLUSTER", "KEYSLOT", key)
		if err != nil || !strings.HasPrefix(r, ":") {
			continue
		}
		slot, _ := strconv.Atoi(r[1:])
		view, err := c.nodesView(s)
		if err != nil {
			continue
		}
		for _, n := range view {
			if !strings.Contains(n.flags, "master") || strings.Contains(n.flags, "fail") {
				continue
			}
			for _, rg := range n.slots {
				a, b, ok := strings.Cut(rg, "-")
				if !ok {
					b = a
				}
				lo, err1 := strconv.Atoi(a)
				hi, err2 := strconv.Atoi(b)
				if err1 == nil && err2 == nil && slot >= lo && slot <= hi {
					return c.server(n.addr)
				}
			}
		}
	}
	c.t.Fatalf("no master for %q", key)
	return nil
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all slots served by live masters, and every running replica is in sync.
func (c *Cluster) WaitHealthy(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var why string
	for time.Now().Before(deadline) {
		if why = c.unhealthy(); why == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("cluster not healthy after %v: %s", within, why)
}

func (c *Cluster) unhealthy() string {
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		info, err := s.Do("CLUSTER", "INFO")
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
			return s.Addr + ": " + strings.ReplaceAll(info, "\r\n", " ")
		}
		view, err := c.nodesView(s)
		if err != nil {
			return err.Error()
		}
		for _, n := range view {
			srv := c.server(n.addr)
			if strings.Contains(n.flags, "master") && len(n.slots) > 0 && (srv == nil || !srv.Running() || strings.Contains(n.flags, "fail")) {
				return s.Addr + " sees slots on dead master " + n.addr
			}
		}
		repl, err := s.Do("INFO", "replication")
		if err != nil {
			return err.Error()
		}
		if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
			return s.Addr + ": replica link down"
		}
	}
	return ""
}

// Failover makes replica take over from its master (CLUSTER FAILOVER, the
// manual, lossless kind) and waits until it is master.
func (c *Cluster) Failover(replica *Server) {
	c.t.Helper()
	replica.MustDo("CLUSTER", "FAILOVER")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r, err := replica.Do("INFO", "replication")
		if err == nil && strings.Contains(r, "role:master") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("replica %s did not become master", replica.Addr)
}

// WaitMaster waits until s is a master (after its master was killed).
func (c *Cluster) WaitMaster(s *Server, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r, err := s.Do("INFO", "replication")
		if err == nil && strings.Contains(r, "role:master") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s did not become master within %v", s.Addr, within)
}

// NodeID returns the cluster node id of s.
func (c *Cluster) NodeID(s *Server) string {
	c.t.Helper()
	view, err := c.nodesView(s)
	if err != nil {
		c.t.Fatalf("cluster nodes: %v", err)
	}
	for _, n := range view {
		if strings.Contains(n.flags, "myself") {
			return n.id
		}
	}
	c.t.Fatalf("%s does not know itself", s.Addr)
	return ""
}

// KeySlot returns the hash slot of key, as the cluster computes it.
func (c *Cluster) KeySlot(key string) int {
	c.t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if r, err := s.Do("CLUSTER", "KEYSLOT", key); err == nil && strings.HasPrefix(r, ":") {
			n, _ := strconv.Atoi(r[1:])
			return n
		}
	}
	c.t.Fatalf("no node answers CLUSTER KEYSLOT")
	return 0
}

// MigrateSlot moves slot from its master to master to, keys and all, the
// way redis-cli --cluster reshard does: IMPORTING on the target, MIGRATING
// on the source, MIGRATE of every key, then the new owner announced to
// every master.
func (c *Cluster) MigrateSlot(slot int, to *Server) {
	c.t.Helper()
	from := c.masterOfSlot(slot)
	if from == to {
		return
	}
	sl := strconv.Itoa(slot)
	toID, fromID := c.NodeID(to), c.NodeID(from)
	to.MustDo("CLUSTER", "SETSLOT", sl, "IMPORTING", fromID)
	from.MustDo("CLUSTER", "SETSLOT", sl, "MIGRATING", toID)
	host, port, _ := net.SplitHostPort(to.Addr)
	for {
		r := from.MustDo("CLUSTER", "GETKEYSINSLOT", sl, "100")
		keys := respStrings(r)
		if len(keys) == 0 {
			break
		}
		args := append([]string{"MIGRATE", host, port, "", "0", "5000", "REPLACE", "KEYS"}, keys...)
		from.MustDo(args...)
	}
	// Announce the owner to every master (replicas refuse SETSLOT and learn
	// it from their masters).
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		r, err := s.Do("CLUSTER", "SETSLOT", sl, "NODE", toID)
		if err != nil {
			c.t.Fatalf("CLUSTER SETSLOT on %s: %v", s.Addr, err)
		}
		if strings.HasPrefix(r, "-") && !strings.Contains(r, "only with masters") {
			c.t.Fatalf("CLUSTER SETSLOT on %s: %s", s.Addr, r)
		}
	}
}

// masterOfSlot returns the master serving slot.
func (c *Cluster) masterOfSlot(slot int) *Server {
	c.t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		view, err := c.nodesView(s)
		if err != nil {
			continue
		}
		for _, n := range view {
			if !strings.Contains(n.flags, "master") || strings.Contains(n.flags, "fail") {
				continue
			}
			for _, rg := range n.slots {
				a, b, ok := strings.Cut(rg, "-")
				if !ok {
					b = a
				}
				lo, err1 := strconv.Atoi(a)
				hi, err2 := strconv.Atoi(b)
				if err1 == nil && err2 == nil && slot >= lo && slot <= hi {
					return c.server(n.addr)
				}
			}
		}
	}
	c.t.Fatalf("no master for slot %d", slot)
	return nil
}

// respStrings returns the elements of an array reply as Do renders it
// (one per line).
func respStrings(r string) []string {
	var out []string
	for line := range strings.SplitSeq(r, "\n") {
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

// Pause stops s from answering its clients for d (CLIENT PAUSE ALL), as a
// node does that hangs for a while.
func (s *Server) Pause(d time.Duration) {
	s.t.Helper()
	s.MustDo("CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL")
}

// Sentinels is a master with replicas, watched by Redis Sentinels.
type Sentinels struct {
	t          testing.TB
	MasterName string
	Master     *Server   // the master it started with
	Replicas   []*Server // its replicas
	Sentinels  []*Server
}

// StartSentinels starts a master with replicas replicas and sentinels
// Sentinels watching it under the name "herald", quorum a majority, with a
// 1 s down-after time so failovers are quick. It waits until every replica
// is in sync and every sentinel knows the replicas and the other sentinels.
func StartSentinels(t testing.TB, replicas, sentinels int) *Sentinels {
	t.Helper()
	Require(t, false)
	const name = "herald"
	ss := &Sentinels{t: t, MasterName: name}
	ss.Master = Start(t)
	host, port, _ := net.SplitHostPort(ss.Master.Addr)
	for range replicas {
		ss.Replicas = append(ss.Replicas, Start(t, "--replicaof", host, port))
	}
	quorum := sentinels/2 + 1
	for i := range sentinels {
		var s *Server
		var lastErr error
		for range 5 {
			p := freePort(t, false)
			dir := t.TempDir()
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %s\nlogfile %s\n"+
				"sentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s 1000\n"+
				"sentinel failover-timeout %s 3000\nsentinel parallel-syncs %s 1\n",
				p, dir, filepath.Join(dir, fmt.Sprintf("redis-%d.log", p)), name, host, port, quorum, name, name, name)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			s = &Server{t: t, Port: p, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), dir: dir, args: []string{conf, "--sentinel"}}
			if lastErr = s.start(); lastErr == nil {
				break
			}
			s = nil
		}
		if s == nil {
			t.Fatalf("sentinel %d did not start: %v", i, lastErr)
		}
		t.Cleanup(s.Kill)
		ss.Sentinels = append(ss.Sentinels, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		why := ss.unready(replicas, sentinels)
		if why == "" {
			return ss
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinels not ready: %s", why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (ss *Sentinels) unready(replicas, sentinels int) string {
	for _, r := range ss.Replicas {
		info, err := r.Do("INFO", "replication")
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return r.Addr + ": replica not in sync"
		}
	}
	for _, s := range ss.Sentinels {
		r, err := s.Do("SENTINEL", "MASTER", ss.MasterName)
		if err != nil || strings.HasPrefix(r, "-") {
			return fmt.Sprintf("%s: %v %s", s.Addr, err, r)
		}
		f := respStrings(r)
		field := func(name string) string {
			for i := 0; i+1 < len(f); i += 2 {
				if f[i] == name {
					return f[i+1]
				}
			}
			return ""
		}
		if field("num-slaves") != strconv.Itoa(replicas) || field("num-other-sentinels") != strconv.Itoa(sentinels-1) {
			return fmt.Sprintf("%s: knows %s replicas and %s other sentinels", s.Addr, field("num-slaves"), field("num-other-sentinels"))
		}
	}
	return ""
}

// Addrs returns the sentinels' addresses.
func (ss *Sentinels) Addrs() []string {
	var a []string
	for _, s := range ss.Sentinels {
		a = append(a, s.Addr)
	}
	return a
}

// CurrentMaster returns the server the first answering sentinel names as
// master.
func (ss *Sentinels) CurrentMaster() *Server {
	ss.t.Helper()
	for _, s := range ss.Sentinels {
		if !s.Running() {
			continue
		}
		r, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", ss.MasterName)
		if err != nil {
			continue
		}
		f := respStrings(r)
		if len(f) != 2 {
			continue
		}
		addr := net.JoinHostPort(f[0], f[1])
		for _, srv := range append([]*Server{ss.Master}, ss.Replicas...) {
			if srv.Addr == addr {
				return srv
			}
		}
	}
	ss.t.Fatalf("no sentinel names a known master")
	return nil
}

// WaitPromoted waits until the sentinels name a master other than old and
// that server says it is a master.
func (ss *Sentinels) WaitPromoted(old *Server, within time.Duration) *Server {
	ss.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		m := ss.CurrentMaster()
		if m != old {
			if r, err := m.Do("INFO", "replication"); err == nil && strings.Contains(r, "role:master") {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ss.t.Fatalf("no replica promoted within %v", within)
	return nil
}
