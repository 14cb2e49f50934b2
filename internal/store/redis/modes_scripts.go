package redis

import (
	_ "embed"

	goredis "github.com/redis/go-redis/v9"
)

// The scripts of the backup and nostore modes (lua/*.lua), made as the
// distributed mode's are (scripts.go).
var (
	//go:embed lua/relay.lua
	luaRelay string
	//go:embed lua/relay_fast.lua
	luaRelayFast string
	//go:embed lua/count.lua
	luaCount string
	//go:embed lua/backup_put.lua
	luaBackupPut string
	//go:embed lua/backup_load.lua
	luaBackupLoad string
	//go:embed lua/backup_delete.lua
	luaBackupDelete string

	scriptRelay        = goredis.NewScript(luaRules + luaCommon + luaRelay)
	scriptRelayFast    = goredis.NewScript(luaRelayFast)
	scriptCount        = goredis.NewScript(luaRules + luaCommon + luaCount)
	scriptBackupPut    = goredis.NewScript(luaRules + luaCommon + luaBackupPut)
	scriptBackupLoad   = goredis.NewScript(luaRules + luaCommon + luaBackupLoad)
	scriptBackupDelete = goredis.NewScript(luaBackupDelete)
)
