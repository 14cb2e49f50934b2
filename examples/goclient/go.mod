module example.com/goclient

go 1.26.8

require github.com/heraldpush/herald v0.0.0

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
)

replace github.com/heraldpush/herald => ../..
