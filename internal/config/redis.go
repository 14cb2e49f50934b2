package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// RedisUpstream is a named Redis deployment (redis_upstreams), used by
// locations with redis_pass: one server, a Redis Cluster (seed nodes), or
// a master that Redis Sentinel watches (the sentinels and the master's
// name).
type RedisUpstream struct {
	Servers    []string // redis:// URLs: the server, or cluster seed nodes
	Cluster    bool
	Sentinels  []string // redis:// URLs of the sentinels
	MasterName string   // the master's name in Sentinel
	Namespace  string
	Password   string
}

// RedisTarget is the Redis a location keeps its channels in, and how the
// location uses it.
type RedisTarget struct {
	Upstream   string   // redis_upstreams name; "" for a redis_url
	URLs       []string // normalized redis:// URLs
	Cluster    bool
	Sentinels  []string // normalized redis:// URLs of sentinels
	MasterName string
	Namespace  string
	Password   string // from the upstream; URLs may carry their own

	Mode           RedisMode
	ConnectTimeout time.Duration
	PingInterval   time.Duration
	IdleTimeout    time.Duration
	FollowTimeout  time.Duration
	WaitForReplica bool
	// FastPublish is redis_nostore_fastpublish (nostore mode only).
	FastPublish bool
}

// RedisMode is redis_storage_mode: what Redis keeps.
type RedisMode string

// The storage modes, as Nchan's.
const (
	// RedisDistributed keeps channels in Redis, shared by every node.
	RedisDistributed RedisMode = "distributed"
	// RedisBackup keeps channels in the node's memory and a copy in Redis,
	// loaded back when the node starts (one node per Redis).
	RedisBackup RedisMode = "backup"
	// RedisNostore keeps channels in each node's memory; Redis only relays
	// messages between nodes.
	RedisNostore RedisMode = "nostore"
)

// Key identifies the engine a target needs: locations with equal keys
// share one.
func (t RedisTarget) Key() string {
	where := "url " + strings.Join(t.URLs, ",")
	if t.Upstream != "" {
		where = "upstream " + t.Upstream
	}
	k := fmt.Sprintf("%s ns %s mode %s connect %v ping %v idle %v follow %v wait %v", where, t.Namespace, t.Mode,
		t.ConnectTimeout, t.PingInterval, t.IdleTimeout, t.FollowTimeout, t.WaitForReplica)
	if t.FastPublish && t.Mode == RedisNostore {
		k += " fastpublish"
	}
	return k
}

// Redis returns where the location keeps its channels, or false for the
// memory store.
func (c *Config) Redis(l *Location) (RedisTarget, bool) {
	if l.RedisPass != "" {
		u, ok := c.RedisUpstreams[l.RedisPass]
		if !ok {
			return RedisTarget{}, false // rejected by validation
		}
		ns := u.Namespace
		if l.RedisNamespace != "" {
			ns = l.RedisNamespace
		}
		t := RedisTarget{Upstream: l.RedisPass, URLs: u.Servers, Cluster: u.Cluster, Sentinels: u.Sentinels,
			MasterName: u.MasterName, Namespace: ns, Password: u.Password}
		return l.redisTuning(t), true
	}
	if l.StoreName() == "redis" {
		return l.redisTuning(RedisTarget{URLs: []string{l.RedisURL}, Namespace: l.RedisNamespace}), true
	}
	return RedisTarget{}, false
}

// redisTuning adds the location's Redis settings to a target.
func (l *Location) redisTuning(t RedisTarget) RedisTarget {
	t.Mode = l.RedisStorageMode
	if t.Mode == "" {
		t.Mode = RedisDistributed
	}
	t.ConnectTimeout, t.PingInterval = l.RedisConnectTimeout, l.RedisPingInterval
	t.IdleTimeout, t.FollowTimeout = l.RedisIdleChannelCacheTimeout, l.RedisFollowTimeout
	t.WaitForReplica = l.RedisWaitForReplica
	t.FastPublish = l.RedisNostoreFastPublish
	return t
}

// NormalizeRedisURL checks a Redis server address and returns it as a URL:
// redis://[user:password@]host:port[/db], rediss:// for TLS; a bare
// host:port or host (Nchan's shorthand) becomes redis://host:port.
func NormalizeRedisURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty Redis URL")
	}
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "6379")
		}
		s = "redis://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("Redis URL %q: %v", s, err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "", fmt.Errorf("Redis URL %q: want redis:// or rediss://", s)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("Redis URL %q has no host", s)
	}
	return s, nil
}

func setRedisURL(l *Location, n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	u, err := NormalizeRedisURL(s)
	if err != nil {
		return nodeErr(n, "%v", err)
	}
	l.RedisURL = u
	return nil
}

func setRedisUpstreams(c *Config, n *yaml.Node) error {
	c.RedisUpstreams = map[string]RedisUpstream{}
	if n.Kind == yaml.ScalarNode && (n.Value == "" || n.Tag == "!!null") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nodeErr(n, "want a mapping of names to {servers, cluster, sentinels, master_name, namespace, password}")
	}
	for i := 0; i < len(n.Content); i += 2 {
		name, v := n.Content[i], n.Content[i+1]
		if name.Value == "" {
			return nodeErr(name, "an upstream needs a name")
		}
		if v.Kind != yaml.MappingNode {
			return nodeErr(v, "upstream %q: want a mapping with servers, cluster, sentinels, master_name, namespace, password", name.Value)
		}
		var u RedisUpstream
		for j := 0; j < len(v.Content); j += 2 {
			k, val := v.Content[j], v.Content[j+1]
			switch strings.ToLower(k.Value) {
			case "servers", "server":
				list, err := scalars(val, true)
				if err != nil {
					return err
				}
				for _, s := range list {
					url, err := NormalizeRedisURL(s)
					if err != nil {
						return nodeErr(val, "upstream %q: %v", name.Value, err)
					}
					u.Servers = append(u.Servers, url)
				}
			case "sentinels", "sentinel":
				list, err := scalars(val, true)
				if err != nil {
					return err
				}
				for _, s := range list {
					url, err := NormalizeRedisURL(s)
					if err != nil {
						return nodeErr(val, "upstream %q: sentinel: %v", name.Value, err)
					}
					u.Sentinels = append(u.Sentinels, url)
				}
			case "master_name", "master":
				s, err := scalar(val)
				if err != nil {
					return err
				}
				u.MasterName = strings.TrimSpace(s)
			case "cluster":
				s, err := scalar(val)
				if err != nil {
					return err
				}
				if u.Cluster, err = ParseBool(s); err != nil {
					return nodeErr(val, "upstream %q: cluster: %v", name.Value, err)
				}
			case "namespace":
				s, err := scalar(val)
				if err != nil {
					return err
				}
				u.Namespace = s
			case "password":
				s, err := scalar(val)
				if err != nil {
					return err
				}
				u.Password = s
			default:
				return nodeErr(k, "upstream %q: unknown key %q (want servers, cluster, sentinels, master_name, namespace, password)", name.Value, k.Value)
			}
		}
		switch {
		case len(u.Sentinels) > 0 && len(u.Servers) > 0:
			return nodeErr(v, "upstream %q has both servers and sentinels: a Sentinel-watched master is found through its sentinels", name.Value)
		case len(u.Sentinels) > 0 && u.MasterName == "":
			return nodeErr(v, "upstream %q: sentinels need master_name, the name Sentinel knows the master by", name.Value)
		case len(u.Sentinels) > 0 && u.Cluster:
			return nodeErr(v, "upstream %q: a Redis Cluster is not watched by Sentinel: use servers with cluster: true", name.Value)
		case u.MasterName != "" && len(u.Sentinels) == 0:
			return nodeErr(v, "upstream %q: master_name goes with sentinels", name.Value)
		case len(u.Sentinels) > 0:
		case len(u.Servers) == 0:
			return nodeErr(v, "upstream %q has no servers", name.Value)
		case !u.Cluster && len(u.Servers) > 1:
			return nodeErr(v, "upstream %q lists %d servers: several servers need cluster: true", name.Value, len(u.Servers))
		}
		c.RedisUpstreams[name.Value] = u
	}
	return nil
}

// checkRedis checks that every redis_pass names an upstream.
func (c *Config) checkRedis() error {
	for _, s := range c.Servers {
		for _, l := range s.Locations {
			if l.RedisPass == "" {
				continue
			}
			if _, ok := c.RedisUpstreams[l.RedisPass]; !ok {
				names := make([]string, 0, len(c.RedisUpstreams))
				for n := range c.RedisUpstreams {
					names = append(names, n)
				}
				sort.Strings(names)
				msg := fmt.Sprintf("location %q: redis_pass %q names no redis_upstreams entry", l.Pattern, l.RedisPass)
				if len(names) > 0 {
					msg += " (have: " + strings.Join(names, ", ") + ")"
				}
				return &Error{Line: l.Line, Column: 1, Msg: msg}
			}
		}
	}
	return nil
}
