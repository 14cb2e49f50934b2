package redis

import (
	_ "embed"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store/buffer"
)

// The engine's Lua scripts (lua/*.lua). Each is the shared buffer rules'
// constants, lua/common.lua and its own body, so it runs alone with EVALSHA
// (EVAL when the server does not have it cached, as after a restart or a
// failover).
var (
	luaRules = fmt.Sprintf("local INFLIGHT_CAP = %d\nlocal INFLIGHT_TTL = %d\n", buffer.InflightCap, buffer.InflightTTL.Milliseconds())

	//go:embed lua/common.lua
	luaCommon string
	//go:embed lua/publish.lua
	luaPublish string
	//go:embed lua/create.lua
	luaCreate string
	//go:embed lua/info.lua
	luaInfo string
	//go:embed lua/delete.lua
	luaDelete string
	//go:embed lua/subscribe.lua
	luaSubscribe string
	//go:embed lua/sync.lua
	luaSync string
	//go:embed lua/refresh.lua
	luaRefresh string
	//go:embed lua/groupstats.lua
	luaGroupStats string

	scriptPublish   = goredis.NewScript(luaRules + luaCommon + luaPublish)
	scriptCreate    = goredis.NewScript(luaRules + luaCommon + luaCreate)
	scriptInfo      = goredis.NewScript(luaRules + luaCommon + luaInfo)
	scriptDelete    = goredis.NewScript(luaRules + luaCommon + luaDelete)
	scriptSubscribe = goredis.NewScript(luaRules + luaCommon + luaSubscribe)
	scriptSync      = goredis.NewScript(luaRules + luaCommon + luaSync)
	scriptRefresh   = goredis.NewScript(luaRules + luaCommon + luaRefresh)

	scriptGroupStats = goredis.NewScript(luaRules + luaCommon + luaGroupStats)
)
