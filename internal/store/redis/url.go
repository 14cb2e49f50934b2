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
