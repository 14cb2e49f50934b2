package redis

import (
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// ParseURLs makes Options from redis:// (or rediss://, TLS) URLs: the
// server, or a cluster's seed nodes. User, password and TLS come from the
// first URL; the database number applies to a single server only.
func ParseURLs(urls []string, cluster bool) (Options, error) {
	var o Options
	if len(urls) == 0 {
		return o, fmt.Errorf("redis: no server URL")
	}
	if !cluster && len(urls) > 1 {
		return o, fmt.Errorf("redis: %d server URLs need cluster mode", len(urls))
	}
	for i, u := range urls {
		po, err := goredis.ParseURL(u)
		if err != nil {
			return o, fmt.Errorf("redis: %q: %w", u, err)
		}
		o.Addrs = append(o.Addrs, po.Addr)
		if i == 0 {
			o.Username, o.Password, o.TLS, o.DB = po.Username, po.Password, po.TLSConfig, po.DB
		}
	}
	o.Cluster = cluster
	if cluster {
		o.DB = 0
	}
	return o, nil
}

// ParseSentinelURLs makes Options for a master watched by Redis Sentinel:
// the sentinels' redis:// URLs (user, password and TLS of the first apply
// to every sentinel) and the master's name. The master's own password, if
// it needs one, goes in Options.Password.
func ParseSentinelURLs(urls []string, master string) (Options, error) {
	var o Options
	if len(urls) == 0 || master == "" {
		return o, fmt.Errorf("redis: Sentinel needs sentinel URLs and the master's name")
	}
	for i, u := range urls {
		po, err := goredis.ParseURL(u)
		if err != nil {
			return o, fmt.Errorf("redis: sentinel %q: %w", u, err)
		}
		o.Sentinels = append(o.Sentinels, po.Addr)
		if i == 0 {
			o.SentinelUsername, o.SentinelPassword, o.TLS = po.Username, po.Password, po.TLSConfig
		}
	}
	o.MasterName = master
	return o, nil
}
