package server_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// Real Nchan (nginx with libnginx-mod-nchan, as Debian packages it), for
// tests that check Herald against what Nchan answers.

const (
	nginxBin    = "/usr/sbin/nginx"
	nchanModule = "/usr/lib/nginx/modules/ngx_nchan_module.so"
)

// startNchan runs nginx with Nchan on a free loopback port, in a single
// process, with the given locations (nginx.conf syntax); it is stopped
// when the test ends. It returns the server's base URL.
func startNchan(t *testing.T, locations string) string {
	t.Helper()
	testenv.SkipIfOptedOut(t, "nchan")
	for _, f := range []string{nginxBin, nchanModule} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "nchan", "Nchan is not installed ("+f+": "+err.Error()+"): apt-get install -y nginx libnginx-mod-nchan")
		}
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
worker_processes 1;
error_log %[2]s/error.log warn;
pid %[2]s/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen %[3]s;
%[4]s
  }
}
`, nchanModule, dir, addr, locations)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginxBin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	out, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "out.log"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited (%v): %s %s", err, log, elog)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s", addr)
		}
	}
}

// nchanEventsConf is eventsLocations in nginx.conf.
const nchanEventsConf = `
    location ~ ^/pub/(\w+)$ { nchan_publisher; nchan_channel_id $1; nchan_channel_events_channel_id $1; }
    location ~ ^/sub/(\w+)$ { nchan_subscriber; nchan_channel_id $1; nchan_channel_events_channel_id $1; }
    location ~ ^/lpt/(\w+)$ { nchan_subscriber longpoll; nchan_channel_id $1; nchan_channel_events_channel_id $1; nchan_subscriber_timeout 1s; }
    location ~ ^/raw/(\w+)$ { nchan_subscriber http-raw-stream; nchan_channel_id $1; nchan_channel_events_channel_id $1; }
    location ~ ^/ipoll/(\w+)$ { nchan_subscriber intervalpoll; nchan_channel_id $1; nchan_channel_events_channel_id $1; }
    location ~ ^/multi/(\w+)/(\w+)$ { nchan_subscriber; nchan_channel_id $1 $2; nchan_channel_events_channel_id $1; }
    location ~ ^/pubsub/(\w+)$ { nchan_pubsub; nchan_channel_id $1; nchan_channel_events_channel_id $1; }
    location ~ ^/custom/(\w+)$ {
      nchan_pubsub; nchan_channel_id $1; nchan_channel_events_channel_id "x$1";
      nchan_channel_event_string "ev=$nchan_channel_event id=$nchan_channel_id arg=$arg_a type=$nchan_subscriber_type";
    }
    location ~ ^/meta/(.+)$ { nchan_subscriber; nchan_channel_group meta; nchan_channel_id $1; }
`

// TestChannelEventsNchan runs the channel event scenarios against real
// Nchan: what they expect of Herald is what Nchan sends.
func TestChannelEventsNchan(t *testing.T) {
	base := startNchan(t, nchanEventsConf)
	runEventScenarios(t, evTarget{base: base, meta: base}, eventScenarios())
}
