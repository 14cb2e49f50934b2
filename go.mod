module herald

go 1.26.8

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
