package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	redisstore "github.com/heraldpush/herald/internal/store/redis"
)

// Env is what an engine's stores are made with.
type Env struct {
	Logger *slog.Logger
	Events *events.Bus
}

// Engine is a kind of store a location can choose with its `store` key.
type Engine struct {
	// Name is what `store:` says to choose it.
	Name string
	// Instance names the store a location needs: locations of one engine
	// with the same instance name share one store. It also checks what the
	// location asks of the engine.
	Instance func(cfg *config.Config, l *config.Location) (string, error)
	// Open makes the store for the locations of one instance (l is the
	// first of them). It must not wait for a backend to be reachable.
	Open func(ctx context.Context, env Env, cfg *config.Config, l *config.Location) (store.Store, error)
}

// Registry holds the engines locations can choose.
type Registry struct {
	engines map[string]Engine
}

// NewRegistry returns a registry of the given engines.
func NewRegistry(engines ...Engine) (*Registry, error) {
	r := &Registry{engines: map[string]Engine{}}
	for _, e := range engines {
		if err := r.Register(e); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// DefaultRegistry returns the engines Herald ships: memory and redis.
func DefaultRegistry() *Registry {
	r, err := NewRegistry(MemoryEngine(), RedisEngine())
	if err != nil {
		panic(err) // the built-in engines have distinct names
	}
	return r
}

// Register adds an engine; its name must be new.
func (r *Registry) Register(e Engine) error {
	if e.Name == "" || e.Instance == nil || e.Open == nil {
		return fmt.Errorf("engine %q: needs a name, Instance and Open", e.Name)
	}
	if _, dup := r.engines[e.Name]; dup {
		return fmt.Errorf("engine %q is already registered", e.Name)
	}
	r.engines[e.Name] = e
	return nil
}

// Names returns the registered engines' names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.engines))
	for n := range r.engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lookup returns the engine a location chose.
func (r *Registry) lookup(l *config.Location) (Engine, error) {
	name := l.StoreName()
	e, ok := r.engines[name]
	if !ok {
		return Engine{}, fmt.Errorf("location %s (line %d): unknown store %q (have: %s)", l.Pattern, l.Line, name, strings.Join(r.Names(), ", "))
	}
	return e, nil
}

// Check validates every location's choice of store against the registry
// without opening anything.
func (r *Registry) Check(cfg *config.Config) error {
	return eachLocation(cfg, func(l *config.Location) error {
		e, err := r.lookup(l)
		if err != nil {
			return err
		}
		if _, err := e.Instance(cfg, l); err != nil {
			return fmt.Errorf("location %s (line %d): %w", l.Pattern, l.Line, err)
		}
		return nil
	})
}

func eachLocation(cfg *config.Config, f func(*config.Location) error) error {
	for i := range cfg.Servers {
		for j := range cfg.Servers[i].Locations {
			l := &cfg.Servers[i].Locations[j]
			if !l.ServesChannels() { // a status, metrics or health page keeps none
				continue
			}
			if err := f(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// stores are the store instances one configuration uses.
type stores struct {
	byKey map[string]store.Store // engine name + instance -> store
	order []store.Store
}

// open opens one store per engine instance the configuration's locations
// use. On failure it closes what it opened.
func (r *Registry) open(ctx context.Context, env Env, cfg *config.Config) (*stores, error) {
	ss := &stores{byKey: map[string]store.Store{}}
	err := eachLocation(cfg, func(l *config.Location) error {
		e, err := r.lookup(l)
		if err != nil {
			return err
		}
		inst, err := e.Instance(cfg, l)
		if err != nil {
			return fmt.Errorf("location %s (line %d): %w", l.Pattern, l.Line, err)
		}
		key := e.Name + " " + inst
		if ss.byKey[key] != nil {
			return nil
		}
		st, err := e.Open(ctx, env, cfg, l)
		if err != nil {
			return fmt.Errorf("open %s store for location %s (line %d): %w", e.Name, l.Pattern, l.Line, err)
		}
		ss.byKey[key] = st
		ss.order = append(ss.order, st)
		return nil
	})
	if err != nil {
		ss.close()
		return nil, err
	}
	return ss, nil
}

// storeFor returns the store a location's instance opened.
func (r *Registry) storeFor(cfg *config.Config, ss *stores) func(*config.Location) (store.Store, error) {
	return func(l *config.Location) (store.Store, error) {
		e, err := r.lookup(l)
		if err != nil {
			return nil, err
		}
		inst, err := e.Instance(cfg, l)
		if err != nil {
			return nil, err
		}
		st := ss.byKey[e.Name+" "+inst]
		if st == nil {
			// Only a reload can ask for a store the start did not open.
			return nil, fmt.Errorf("its %s store's settings are not those the running stores were opened with: %w", e.Name, server.ErrRestartNeeded)
		}
		return st, nil
	}
}

func (ss *stores) close() {
	for _, st := range slices.Backward(ss.order) {
		st.Close()
	}
}

// MemoryEngine keeps channels in this process: one store for every memory
// location, limited by max_reserved_memory.
func MemoryEngine() Engine {
	return Engine{
		Name: "memory",
		// The memory limit is the store's: a reload that changes it needs
		// a new store.
		Instance: func(cfg *config.Config, _ *config.Location) (string, error) {
			return fmt.Sprintf("limit %d", cfg.MaxReservedMemory), nil
		},
		Open: func(_ context.Context, env Env, cfg *config.Config, _ *config.Location) (store.Store, error) {
			return memory.New(memory.Options{MemoryLimit: cfg.MaxReservedMemory, Logger: env.Logger, Events: env.Events}), nil
		},
	}
}

// RedisEngine keeps channels in Redis or a Redis Cluster, or in this node's
// memory with Redis as a backup or a relay (redis_storage_mode): one store
// per distinct Redis target (upstream or URL, key namespace and mode).
func RedisEngine() Engine {
	return Engine{
		Name: "redis",
		Instance: func(cfg *config.Config, l *config.Location) (string, error) {
			t, ok := cfg.Redis(l)
			if !ok {
				return "", fmt.Errorf("no Redis server: set redis_url or redis_pass")
			}
			if err := backupClash(cfg, t); err != nil {
				return "", err
			}
			return redisInstance(cfg, t), nil
		},
		Open: func(_ context.Context, env Env, cfg *config.Config, l *config.Location) (store.Store, error) {
			t, _ := cfg.Redis(l)
			var o redisstore.Options
			var err error
			if len(t.Sentinels) > 0 {
				o, err = redisstore.ParseSentinelURLs(t.Sentinels, t.MasterName)
			} else {
				o, err = redisstore.ParseURLs(t.URLs, t.Cluster)
			}
			if err != nil {
				return nil, err
			}
			if t.Password != "" {
				o.Password = t.Password
			}
			o.Namespace = t.Namespace
			o.DialTimeout, o.PingInterval = t.ConnectTimeout, t.PingInterval
			o.IdleTimeout, o.FollowTimeout = t.IdleTimeout, t.FollowTimeout
			o.WaitForReplica = t.WaitForReplica
			o.Logger = env.Logger
			o.Events = env.Events
			st, node, err := openRedisMode(t, o, memory.Options{MemoryLimit: cfg.MaxReservedMemory, Logger: env.Logger, Events: env.Events})
			if err != nil {
				return nil, err
			}
			env.Logger.Info("redis engine", "servers", o.Addrs, "sentinels", o.Sentinels, "master_name", o.MasterName,
				"cluster", o.Cluster, "namespace", o.Namespace, "mode", t.Mode, "node", node)
			return st, nil
		},
	}
}

// redisInstance names the store of a Redis target: its key (where, key
// namespace, mode and tuning), what the key leaves out when it names an
// upstream (servers, sentinels, password: hashed, so the name shows no
// secret) and, for the modes that keep channels in memory, the memory
// limit. Two targets with one name share a store; a reload that changes any
// of it needs a new store, so a restart.
func redisInstance(cfg *config.Config, t config.RedisTarget) string {
	h := sha256.Sum256([]byte(strings.Join(t.URLs, ",") + "\x00" + strconv.FormatBool(t.Cluster) + "\x00" +
		strings.Join(t.Sentinels, ",") + "\x00" + t.MasterName + "\x00" + t.Password))
	return fmt.Sprintf("%s memory %d servers %x", t.Key(), cfg.MaxReservedMemory, h[:8])
}

// openRedisMode makes the Redis engine of a redis_storage_mode: channels in
// Redis (distributed), in this node's memory with a copy in Redis (backup),
// or in each node's memory with Redis relaying messages (nostore, whose
// memory store mem configures, as backup's). It returns the store and the
// id of this node.
func openRedisMode(t config.RedisTarget, o redisstore.Options, mem memory.Options) (store.Store, string, error) {
	switch t.Mode {
	case config.RedisBackup:
		b, err := redisstore.NewBackup(o, redisstore.ModeOptions{Memory: mem})
		if err != nil {
			return nil, "", err
		}
		return b, b.Transport().NodeID(), nil
	case config.RedisNostore:
		n, err := redisstore.NewNostore(o, redisstore.ModeOptions{Memory: mem, FastPublish: t.FastPublish})
		if err != nil {
			return nil, "", err
		}
		return n, n.NodeID(), nil
	case config.RedisDistributed, "":
		e, err := redisstore.New(o)
		if err != nil {
			return nil, "", err
		}
		return e, e.NodeID(), nil
	}
	return nil, "", fmt.Errorf("redis_storage_mode %q: want distributed, backup or nostore", t.Mode)
}

// backupClash refuses a backup-mode target whose Redis and namespace
// another location uses in another mode (or the other way round): backup
// writes its copies under the distributed mode's keys, so the two would
// take each other's channels for their own. (Nostore's keys are its own.)
func backupClash(cfg *config.Config, t config.RedisTarget) error {
	return eachLocation(cfg, func(l *config.Location) error {
		o, ok := cfg.Redis(l)
		if !ok || o.Mode == t.Mode || (o.Mode != config.RedisBackup && t.Mode != config.RedisBackup) {
			return nil
		}
		if o.Upstream == t.Upstream && slices.Equal(o.URLs, t.URLs) && o.Namespace == t.Namespace {
			return fmt.Errorf("redis_storage_mode %s and %s (location %s, line %d) share one Redis and namespace %q: give the backup locations a redis_namespace of their own",
				t.Mode, o.Mode, l.Pattern, l.Line, t.Namespace)
		}
		return nil
	})
}
