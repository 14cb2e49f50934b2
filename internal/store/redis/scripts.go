package redis

import (
	_ "embed"

	goredis "github.com/redis/go-redis/v9"
)

// The engine's Lua scripts (lua/*.lua). Each is lua/common.lua followed by
// its own body, so it runs alone with EVALSHA (EVAL when the server does not
// have it cached, as after a restart or a failover).
var (
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

	scriptPublish   = goredis.NewScript(luaCommon + luaPublish)
	scriptCreate    = goredis.NewScript(luaCommon + luaCreate)
	scriptInfo      = goredis.NewScript(luaCommon + luaInfo)
	scriptDelete    = goredis.NewScript(luaCommon + luaDelete)
	scriptSubscribe = goredis.NewScript(luaCommon + luaSubscribe)
	scriptSync      = goredis.NewScript(luaCommon + luaSync)
	scriptRefresh   = goredis.NewScript(luaCommon + luaRefresh)
)
